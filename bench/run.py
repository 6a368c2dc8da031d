"""`make bench`: the same streaming workloads sent straight to a fake Kimi and through the gateway
(gunicorn, one gevent worker), then a table and a JSON file. Loopback only; every run ends by itself.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Optional

from bench import processes, report
from tests.support.fake_kimi import encode_envelope
from tests.support.jwts import make_jwt

CHAT_PATH = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat"
# Full and --quick plans (bench/README.md explains each part). In `levels`, streams arrive at `rate`
# per second and each lasts frames x delay, longer than the ramp of the largest level, so all streams
# of a level are open at once before the first of them ends.
PLANS = {
    "full": {"levels": [1, 100, 1000], "frames": 600, "delay_ms": 20, "rate": 100,
             "burst": {"streams": [100, 200, 1000], "frames": 50}, "setup": {"streams": 200, "rate": 100},
             "throughput": {"streams": 20, "frames": 5000}, "paced": {"streams": 50, "frames": 1000, "delay_ms": 2}},
    "quick": {"levels": [1, 100, 1000], "frames": 250, "delay_ms": 20, "rate": 250,
              "burst": {"streams": [100, 200], "frames": 25}, "setup": {"streams": 100, "rate": 100},
              "throughput": {"streams": 20, "frames": 1000}, "paced": {"streams": 50, "frames": 300, "delay_ms": 2}},
    # A few streams of every part, in seconds: proves the bench still runs end to end (tests/test_bench.py).
    "smoke": {"levels": [5], "frames": 40, "delay_ms": 10, "rate": 100,
              "burst": {"streams": [5], "frames": 5}, "setup": {"streams": 5, "rate": 50},
              "throughput": {"streams": 2, "frames": 200}, "paced": {"streams": 2, "frames": 20, "delay_ms": 2}},
}


def _prompt(frames: int, delay_ms: int) -> str:
    return f"bench frames={frames} delay_ms={delay_ms}"  # read back by bench/upstream.py


def _request(target: str, port: int, token: str, frames: int, delay_ms: int) -> str:
    """The raw HTTP request a load-generator stream sends (latin-1 text, so the envelope survives)."""
    prompt = _prompt(frames, delay_ms)
    if target != "gateway":  # the relay passes the direct request through as it is
        body = encode_envelope(0, {"scenario": "SCENARIO_K2D5", "options": {"thinking": False},
                                   "message": {"role": "user", "scenario": "SCENARIO_K2D5",
                                               "blocks": [{"message_id": "", "text": {"content": prompt}}]}})
        path, content_type = CHAT_PATH, "application/connect+json"
    else:
        body = json.dumps({"model": "kimi-k2.5-instant", "stream": True,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        path, content_type = "/v1/chat/completions", "application/json"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head + body.decode("latin-1")


class Bench:
    def __init__(self, upstream: processes.Upstream, gateway: processes.Gateway, relay: processes.Relay,
                 minimal: processes.Gateway, token: str, gateway_credential: Optional[str] = None):
        self.upstream, self.gateway, self.relay, self.token = upstream, gateway, relay, token
        self.minimal = minimal  # bench/minimal_app.py on the gateway's gunicorn set-up
        # What the load generator presents to the gateway: the Kimi token itself, or a proxy key (--pooled).
        self.gateway_credential = gateway_credential or token

    def run(self, target: str, streams: int, frames: int, delay_ms: int, ramp: float) -> dict:
        """One scenario against one target; for the gateway, the relay and the minimal app also their CPU
        and RSS (`worker_cpu`: the gunicorn worker(s), or the relay process)."""
        servers = {"gateway": self.gateway, "minimal": self.minimal}
        port = self.upstream.port if target == "direct" else self.relay.port if target == "relay" \
            else servers[target].port
        scenario = {"target": target, "host": "127.0.0.1", "port": port, "streams": streams,
                    "frames": frames, "ramp": ramp, "timeout": frames * delay_ms / 1000 * 3 + 30,
                    "request": _request(target, port, self.gateway_credential if target == "gateway" else self.token,
                                        frames, delay_ms)}
        workers = [self.relay.pid] if target == "relay" else servers.get(target, self.gateway).worker_pids
        sampler = processes.RssSampler(workers) if target != "direct" else None
        cpu_worker, cpu_upstream = processes.cpu_seconds(workers), self.upstream.cpu_seconds()
        upstream_before = self.upstream.stats()
        result = processes.run_loadgen(scenario)
        result["worker_cpu"] = processes.cpu_seconds(workers) - cpu_worker
        result["upstream_cpu"] = self.upstream.cpu_seconds() - cpu_upstream
        upstream_after = self.upstream.stats()
        # New connections the upstream saw per Chat request: 1 when each request opens its own.
        result["upstream_connections"] = upstream_after["connections"] - upstream_before["connections"]
        result["upstream_requests"] = upstream_after["requests"] - upstream_before["requests"]
        # Only the gunicorn apps reach the fake over TLS (--tls): of their new connections, the resumed handshakes.
        result["upstream_resumed"] = (upstream_after["resumed"] - upstream_before["resumed"]
                                      if target in servers and self.upstream.ca_file is not None else None)
        if sampler:
            result.update(sampler.stop())
        result.update(target=target, streams=streams, frames=frames, delay_ms=delay_ms, ramp=ramp)
        return result


PARTS = ("levels", "burst", "setup", "throughput", "paced")


def run_plan(plan: dict, bench: Bench, parts: tuple[str, ...] = PARTS) -> dict:
    """The chosen parts of the plan, each sent direct and then through the gateway (and, where the
    gateway's cost is compared with the floors, the bare relay and the minimal app)."""
    bench.run("gateway", 20, 20, 0, 0.0)  # warm-up: imports, first connections, allocator arenas
    bench.run("minimal", 20, 20, 0, 0.0)

    def pair(streams: int, frames: int, delay_ms: int, ramp: float,
             targets: tuple[str, ...] = ("direct", "gateway")) -> list[dict]:
        return [bench.run(target, streams, frames, delay_ms, ramp) for target in targets]

    def level(n: int) -> list[dict]:
        # The held levels also run the bare relay: the floor any one gevent process sits on.
        targets = ("direct", "gateway", "relay")
        if n > 1:
            results = pair(n, plan["frames"], plan["delay_ms"], (n - 1) / plan["rate"], targets)
        else:  # one stream at a time: ten shorter ones in a row, so the percentiles rest on ten samples
            frames = plan["frames"] // 10
            results = pair(10, frames, plan["delay_ms"], 9 * (frames * plan["delay_ms"] / 1000 + 0.5), targets)
        return [{**result, "level": n} for result in results]

    burst, setup, load, paced = plan["burst"], plan["setup"], plan["throughput"], plan["paced"]
    # The two floors: the bare relay (one gevent process, sockets only) and the minimal app (Flask on the
    # same gunicorn worker, a pooled urllib3 call: the product's fixed shape with nothing of the gateway).
    with_floors = ("direct", "gateway", "relay", "minimal")
    runs = {
        "levels": lambda: [level(n) for n in plan["levels"]],
        # Every stream of a burst opened at the same instant: new requests queue behind each one's setup.
        "burst": lambda: [[{**result, "level": n} for result in
                           pair(n, burst["frames"], plan["delay_ms"], 0.0, with_floors)] for n in burst["streams"]],
        # With the floors: the relay's CPU per request is that of one gevent process (it reads a request,
        # opens an upstream connection, copies the answer back), the minimal app's that of the shape.
        "setup": lambda: pair(setup["streams"], 1, 0, (setup["streams"] - 1) / setup["rate"], with_floors),
        "throughput": lambda: pair(load["streams"], load["frames"], 0, 0.0),
        # Each frame in its own upstream write, as Kimi paces them: the CPU per relayed frame users meet.
        "paced": lambda: pair(paced["streams"], paced["frames"], paced["delay_ms"], 0.0, with_floors),
    }
    return {part: runs[part]() for part in parts}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    plan_size = parser.add_mutually_exclusive_group()
    plan_size.add_argument("--quick", action="store_true", help="shorter streams and ramps (about a minute and a half; the full plan takes about three)")
    plan_size.add_argument("--smoke", action="store_true", help="a few streams of every part: checks that the bench runs, measures nothing")
    parser.add_argument("--rate", type=int, help="new streams per second in the held levels")
    parser.add_argument("--parts", default=",".join(PARTS), help="a comma-separated subset of " + ",".join(PARTS))
    parser.add_argument("--output", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers of the gateway (default 1)")
    parser.add_argument("--tls", action="store_true",
                        help="the gateway reaches the fake over TLS (a throwaway certificate it alone trusts)")
    parser.add_argument("--pooled", action="store_true",
                        help="callers send a proxy key and the gateway lends its saved account (the path of a shared "
                             "deployment) instead of each caller sending its own Kimi token")
    args = parser.parse_args(argv)
    parts = tuple(part for part in PARTS if part in args.parts.split(","))
    name = "quick" if args.quick else "smoke" if args.smoke else "full"
    plan = {**PLANS[name], **({"rate": args.rate} if args.rate else {})}
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kimi-bench-") as workdir:
        upstream = processes.Upstream(Path(workdir) if args.tls else None)
        try:
            relay = processes.Relay(upstream.port)
            token = make_jwt(sub="benchuser00000000001")
            proxy_key = "sk-bench-" + secrets.token_urlsafe(24) if args.pooled else None
            gateway = processes.Gateway(upstream.gateway_url, Path(workdir), args.workers, upstream.ca_file,
                                        lent=(token, proxy_key) if proxy_key else None)
            minimal = None
            try:
                minimal = processes.Gateway(upstream.gateway_url, Path(workdir), args.workers, upstream.ca_file,
                                            app="bench.minimal_app:app")
                bench = Bench(upstream, gateway, relay, minimal, token, proxy_key)
                results = run_plan(plan, bench, parts)
                worker_memory = processes.memory_kb(gateway.worker_pid)
            finally:
                gateway.stop()
                if minimal is not None:
                    minimal.stop()
                relay.stop()
            problems = gateway.log_problems()
        finally:
            upstream.stop()
    load_average = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    summary = report.summarize(results, worker_memory, problems, load_average)
    output = {"plan": name, **plan, "workers": args.workers, "tls": args.tls, "pooled": args.pooled, "cpus": os.cpu_count(), "seconds": round(time.monotonic() - started, 1),
              "summary": summary, "results": results, "gateway_log_problems": problems}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n")
    print(report.table({**plan, "workers": args.workers, "tls": args.tls, "pooled": args.pooled}, summary))
    print(f"\n{name} run in {output['seconds']} s; raw results in {args.output}")


if __name__ == "__main__":
    main()
