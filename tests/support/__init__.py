"""What the tests stand on, and no tests: the fake upstreams, the pytest fixture plugins, the gateway and
app starters, and the scripts some tests run in a process of their own."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository, where gunicorn and the scripts run
KIMI_FIXTURES = ROOT / "tests" / "fixtures" / "kimi"  # recorded Kimi streams (format: README.md there)
