"""Waiting on a condition instead of sleeping a fixed time."""
import time


def wait_until(condition, timeout: float = 10.0, interval: float = 0.02):
    """The first truthy value of condition() within timeout, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None
