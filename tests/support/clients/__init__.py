"""Scripts that drive third-party API clients against the gateway, one process per run (tests/test_clients_*.py)."""
