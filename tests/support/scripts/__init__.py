"""Scripts a test runs in a process of its own (`python -m tests.support.scripts.<name>`, from the
repository root), where forking or gevent's monkey-patching cannot disturb pytest's process."""
