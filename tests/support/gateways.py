"""Gateway starters: gunicorn serving app:app as production does (gevent worker, configs/gunicorn.conf.py)
on a free loopback port, its output in a log file that the session-end log hygiene check reads."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support import ROOT


def free_port() -> int:
    """A loopback port nobody listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    """A gunicorn process serving app:app, and where its log goes."""

    # Every log a gateway of this test run wrote, for the log hygiene check (tests/support/log_hygiene.py).
    log_paths: list[Path] = []

    def __init__(self, env: dict, tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "gateway.log"
        self._log = open(self.log_path, "wb")
        Gateway.log_paths.append(self.log_path)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "configs/gunicorn.conf.py",
             "-b", f"127.0.0.1:{self.port}", "app:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # no gunicorn left running, no log file left open
            raise

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/ping", timeout=1).text == "pong":
                    return
            except (requests.ConnectionError, requests.Timeout):  # a worker still booting under load
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()


class PatientGateway(Gateway):
    """A Gateway waiting out a /ping that times out while two workers are still loading."""

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return super()._wait_ready(timeout=max(1.0, deadline - time.monotonic()))
            except requests.Timeout:
                if time.monotonic() <= deadline:
                    continue
                self.stop()  # leave no process or open log behind
                raise
            except RuntimeError:
                self.stop()
                raise
