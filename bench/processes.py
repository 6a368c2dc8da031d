"""The processes a bench run starts and watches: the lean fake upstream, the gateway under gunicorn, the
load generator; and what /proc tells about the gateway's worker (RSS, CPU ticks)."""
from __future__ import annotations

import collections
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class _Helper:
    """A bench module in a process of its own that prints "READY <url or port>" once it listens."""

    def __init__(self, module: str, *args: str):
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().split()
        if line[:1] != ["READY"]:
            self.stop()
            raise RuntimeError(f"{module} did not start")
        self.port = int(line[1].rsplit(":", 1)[-1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.urls = line[1:]  # the plain one first, then any other (bench/upstream.py's TLS port)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        _stop(self.process)


class Upstream(_Helper):
    """bench/upstream.py: the fake Kimi; with `tls_dir`, also over TLS with a throwaway certificate whose
    authority is written to `ca_file` there (for the gateway's REQUESTS_CA_BUNDLE only), after certifi's
    authorities: the bundle is as large as the one the gateway trusts against www.kimi.com, so loading it
    costs what it costs there."""

    def __init__(self, tls_dir: Optional[Path] = None):
        self.ca_file: Optional[Path] = None
        args: list[str] = []
        if tls_dir is not None:
            import trustme  # a dev dependency, needed only for this option
            authority = trustme.CA()
            cert, key, self.ca_file = tls_dir / "upstream.pem", tls_dir / "upstream.key", tls_dir / "ca.pem"
            issued = authority.issue_cert("127.0.0.1")
            cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
            issued.private_key_pem.write_to_path(str(key))
            import certifi  # requests' own dependency: the bundle it verifies www.kimi.com with
            self.ca_file.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + authority.cert_pem.bytes())
            args = ["--tls-cert", str(cert), "--tls-key", str(key)]
        super().__init__("bench.upstream", *args)
        self.gateway_url = self.urls[-1]  # over TLS when there is a TLS port

    def stats(self) -> dict[str, int]:
        """Connections that carried a Chat request, and Chat requests, since the upstream started."""
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as response:
            return json.loads(response.read())


class Relay(_Helper):
    """bench/relay.py: the bare gevent pass-through to the upstream, the floor of a gevent relay."""

    def __init__(self, upstream_port: int):
        super().__init__("bench.relay", str(upstream_port))


class Gateway:
    """gunicorn -c configs/gunicorn.conf.py with `workers` gevent workers (one unless asked) on an ephemeral
    loopback port; `ca_file` is the authority it trusts for Kimi (the bench's TLS upstream)."""

    def __init__(self, upstream_url: str, workdir: Path, workers: int = 1, ca_file: Optional[Path] = None,
                 lent: Optional[tuple[str, str]] = None, app: str = "app:app"):
        """`lent`: (a Kimi token the gateway keeps as its account, a proxy key that borrows it); without
        it, callers bring their own Kimi tokens. `app`: another WSGI app on the same set-up
        (bench/minimal_app.py)."""
        self.log_path = workdir / f"{app.split(':')[0].replace('.', '_')}.log"
        self.workers = workers
        # A throwaway admin password, so the gateway does not generate one and write it to its log.
        env = {**os.environ, "KIMI_BASE_URL": upstream_url, "WEB_CONCURRENCY": str(workers),
               "DATA_DIR": str(workdir / "data"), "KIMI_TOKEN": "", "API_KEYS": "",
               "LEND_WITHOUT_KEY": "false",  # nothing is lent key-less
               "ADMIN_PASSWORD": secrets.token_urlsafe(24)}
        if lent is not None:
            # One saved account serves every stream: no per-account or per-key cap or rate may refuse one.
            env.update(KIMI_TOKEN=lent[0], API_KEYS=lent[1], ACCOUNT_MAX_STREAMS="0", KEY_MAX_STREAMS="0",
                       KEY_RATE_LIMIT_PER_MINUTE="0")
        if ca_file is not None:
            env["REQUESTS_CA_BUNDLE"] = str(ca_file)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "configs/gunicorn.conf.py",
                 "-b", "127.0.0.1:0", app],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        self.worker_pids = self._find_workers()
        self.worker_pid = self.worker_pids[0]

    def _wait_ready(self, timeout: float = 30) -> None:
        """Wait for the port gunicorn picked (it logs it) and for /ping to answer there."""
        deadline = time.monotonic() + timeout
        self.port = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log_path.read_text(errors="replace"))
            if not self.port:
                listening = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", self.log_path.read_text())
                self.port = int(listening[1]) if listening else 0
                self.url = f"http://127.0.0.1:{self.port}"
                time.sleep(0.05)
                continue
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as response:
                    if response.read() == b"pong":
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready")

    def _find_workers(self, timeout: float = 30) -> list[int]:
        """The workers are the master's children (the second may still be starting when /ping answers)."""
        pid = self.process.pid
        deadline = time.monotonic() + timeout
        while True:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if len(children) == self.workers:
                return [int(child) for child in children]
            if time.monotonic() > deadline:
                raise RuntimeError(f"expected {self.workers} gunicorn workers, found {children}")
            time.sleep(0.05)

    def log_problems(self) -> dict[str, int]:
        """Log lines at WARNING or worse (the access log is INFO), counted by level, logger and message."""
        problems: collections.Counter = collections.Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if any(level in line for level in ("WARNING", "ERROR", "CRITICAL")):
                problems[_log_key(line)] += 1
        return dict(problems)

    def stop(self) -> None:
        _stop(self.process)


def _log_key(line: str) -> str:
    """A log line without its timestamp: the app logs JSON objects, gunicorn `[time] [pid] [LEVEL] text`."""
    try:
        record = json.loads(line)
        return f"{record['level']} {record['logger']}: {record['message'][:120]}"
    except (ValueError, TypeError, KeyError):
        return re.sub(r"^(\[[^]]*\] )+", "", line)[:160]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def cpu_seconds(pids: int | list[int]) -> float:
    """utime + stime of a process (or the sum over several), from /proc/<pid>/stat (fields 14 and 15)."""
    total = 0
    for pid in [pids] if isinstance(pids, int) else pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


class RssSampler:
    """Polls the VmRSS of processes (summed) in a thread while a scenario runs; keeps the highest value seen."""

    def __init__(self, pids: list[int], interval: float = 0.02):
        self.pids, self.interval = pids, interval
        self.before = self._rss()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def _rss(self) -> int:
        return sum(memory_kb(pid)["VmRSS"] for pid in self.pids)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {"rss_before_kb": self.before, "rss_peak_kb": self.peak}


def run_loadgen(scenario: dict) -> dict:
    """One scenario in a fresh load-generator process; its JSON answer."""
    timeout = scenario["ramp"] + scenario["timeout"] + 30
    done = subprocess.run([sys.executable, "-m", "bench.loadgen"], cwd=ROOT, input=json.dumps(scenario),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError("the load generator failed:\n" + done.stderr)
    return json.loads(done.stdout)
