"""A throwaway redis-server on a free loopback port, which a test may stop and start again on the same
port and files (`make test` installs the binary, Debian package redis-server)."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

import redis

from tests.support.gateways import free_port


class RedisServer:
    def __init__(self, directory: Path, appendonly: bool = False):
        self.binary = shutil.which("redis-server")
        assert self.binary, "redis-server is missing: run `make test`, which installs it (Debian package redis-server)"
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        # appendonly with fsync on every write: a write Redis acknowledged survives a restart.
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if appendonly else ["--appendonly", "no"]
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.directory),
             *self.persistence], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def _wait_ready(self, timeout: float = 10) -> None:
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                    assert self.process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)
        finally:
            client.close()
