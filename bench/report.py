"""Turns raw bench results into the summary kept in results.json and the table printed at the end."""
from __future__ import annotations

from typing import Optional


def percentile(values: list[float], fraction: float) -> Optional[float]:
    """Nearest-rank percentile of sorted values (None when there are none)."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(fraction * len(values) + 0.5) - 1))]


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value * 1000, 2)


def _target(result: dict) -> dict:
    wall = result["wall"] or 1e-9
    summary = {
        "ttfb_p50_ms": _ms(percentile(result["ttfb"], 0.5)),
        "ttfb_p99_ms": _ms(percentile(result["ttfb"], 0.99)),
        # Only the streams that began while at least 90 % of the level was open (bench/loadgen.py).
        "ttfb_full_p50_ms": _ms(percentile(result.get("ttfb_full", []), 0.5)),
        "ttfb_full_p99_ms": _ms(percentile(result.get("ttfb_full", []), 0.99)),
        "full_streams": len(result.get("ttfb_full", [])),
        "total_p50_s": round(percentile(result["total"], 0.5) or 0, 3),
        "total_p99_s": round(percentile(result["total"], 0.99) or 0, 3),
        "held": result["max_open"],
        "errors": sum(result["errors"].values()),
        "error_kinds": result["errors"],
        "chunks": result["chunks"],
        "chunks_per_s": round(result["chunks"] / wall),
        "chunks_per_read": round(result["chunks"] / max(1, result["reads"]), 2),
        "loadgen_cpu_pct": round(100 * result["cpu"] / wall, 1),
        "upstream_cpu_pct": round(100 * result["upstream_cpu"] / wall, 1),
    }
    if result["target"] != "direct":  # the gateway's worker, or the relay's process
        summary.update(
            worker_cpu_pct=round(100 * result["worker_cpu"] / wall, 1),
            worker_cpu_us_per_chunk=round(1e6 * result["worker_cpu"] / max(1, result["chunks"]), 2),
            rss_peak_mb=round(result["rss_peak_kb"] / 1024, 1),
            rss_per_stream_kb=round((result["rss_peak_kb"] - result["rss_before_kb"])
                                    / max(1, result["max_open"]), 1),
            upstream_connections_per_100=round(100 * result["upstream_connections"]
                                               / max(1, result["upstream_requests"]), 1),
            # Of the new upstream connections, those whose TLS handshake resumed an earlier session.
            upstream_resumed_pct=round(100 * result["upstream_resumed"] / result["upstream_connections"])
            if result.get("upstream_resumed") is not None and result["upstream_connections"] else None)
    return summary


def _added(direct: dict, gateway: dict, key: str) -> Optional[float]:
    if direct[key] is None or gateway[key] is None:
        return None
    return round(gateway[key] - direct[key], 2)


def _pair(direct: dict, gateway: dict, relay: Optional[dict] = None, minimal: Optional[dict] = None) -> dict:
    d, g = _target(direct), _target(gateway)
    g["worker_cpu_ms_per_stream"] = _cpu_ms_per_stream(gateway)
    pair = {"streams": direct.get("level", direct["streams"]), "direct": d, "gateway": g,
            **{"added_" + key: _added(d, g, key)
               for key in ("ttfb_p50_ms", "ttfb_p99_ms", "ttfb_full_p50_ms", "ttfb_full_p99_ms")}}
    for name, floor in (("relay", relay), ("minimal", minimal)):
        if floor:
            pair[name] = {**_target(floor), "worker_cpu_ms_per_stream": _cpu_ms_per_stream(floor)}
    return pair


def _cpu_ms_per_stream(result: dict) -> float:
    return round(1000 * result["worker_cpu"] / result["streams"], 3)


def summarize(results: dict, worker_memory: dict, problems: dict[str, int], load_average: list) -> dict:
    return {"levels": [_pair(*pair) for pair in results.get("levels", [])],
            "burst": [_pair(*pair) for pair in results.get("burst", [])],
            **{part: _pair(*results[part]) for part in ("setup", "throughput", "paced") if part in results},
            "worker_vm_hwm_mb": round(worker_memory["VmHWM"] / 1024, 1),
            "gateway_log_problems": sum(problems.values()), "load_average": load_average}


def _cell(value, unit: str = "", sign: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:+d}{unit}" if sign else f"{value}{unit}"
    return (f"{value:+g}" if sign else f"{value:g}") + unit


def _levels(plan: dict, summary: dict) -> list[str]:
    single = (f" (level 1: ten streams of {plan['frames'] // 10} frames, one at a time)"
              if 1 in plan["levels"] else "")
    rows = [f"Streams held: {plan['frames']} frames per stream, {plan['delay_ms']} ms apart, "
            f"{plan['rate']} new streams/s{single}", ""]
    line = "{:>7}  {:<8}{:>5}{:>7}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>7}{:>10}{:>11}{:>9}"
    rows.append(line.format("streams", "target", "held", "errors", "TTFB p50", "TTFB p99", "full p50",
                            "full p99", "stream p50", "stream p99", "CPU", "RSS peak", "RSS/stream", "loadgen"))
    for level in summary["levels"]:
        for name in ("direct", "relay", "gateway"):
            if name not in level:
                continue
            t = level[name]
            rows.append(line.format(
                level["streams"] if name == "direct" else "", name, t["held"], t["errors"],
                _cell(t["ttfb_p50_ms"], " ms"), _cell(t["ttfb_p99_ms"], " ms"),
                _cell(t["ttfb_full_p50_ms"], " ms"), _cell(t["ttfb_full_p99_ms"], " ms"),
                _cell(t["total_p50_s"], " s"), _cell(t["total_p99_s"], " s"),
                _cell(t.get("worker_cpu_pct"), "%"), _cell(t.get("rss_peak_mb"), " MB"),
                _cell(t.get("rss_per_stream_kb"), " kB"), _cell(t["loadgen_cpu_pct"], "%")))
        rows.append(line.format("", "added", "", "", *(_cell(level["added_" + key], " ms", True) for key in (
            "ttfb_p50_ms", "ttfb_p99_ms", "ttfb_full_p50_ms", "ttfb_full_p99_ms")), "", "", "", "", "", ""))
    rows += ["", "TTFB: over all streams of the level; full: over those that began while 90 % or more of the "
                 "level was open.", "relay: a bare gevent pass-through (bench/relay.py), the floor of one "
                 "gevent process; CPU: the gateway's worker or the relay. added: gateway minus direct."]
    return rows


def _part(title: str, pair: dict, columns: list[tuple[str, str, str]]) -> list[str]:
    """A small table of one direct/gateway pair; columns are (heading, summary key, unit)."""
    line = "{:<8}" + "{:>16}" * len(columns)
    rows = ["", title, "", line.format("target", *(heading for heading, _, _ in columns))]
    for name in ("direct", "relay", "minimal", "gateway"):
        if name in pair:
            rows.append(line.format(name, *(_cell(pair[name].get(key), unit) for _, key, unit in columns)))
    if any(key == "ttfb_p50_ms" for _, key, _ in columns):
        rows.append(f"gateway adds {_cell(pair['added_ttfb_p50_ms'], ' ms', True)} (p50) and "
                    f"{_cell(pair['added_ttfb_p99_ms'], ' ms', True)} (p99) to the time to first content"
                    + _relay_adds(pair))
    return rows


def _relay_adds(pair: dict) -> str:
    floors = [f"the {title} adds {_cell(_added(pair['direct'], pair[name], 'ttfb_p50_ms'), ' ms', True)} (p50)"
              for name, title in (("relay", "bare relay"), ("minimal", "minimal app")) if name in pair]
    return "".join("; " + floor for floor in floors)


def table(plan: dict, summary: dict) -> str:
    burst, setup, load, paced = plan["burst"], plan["setup"], plan["throughput"], plan["paced"]
    latency = [("errors", "errors", ""), ("TTFB p50", "ttfb_p50_ms", " ms"), ("TTFB p99", "ttfb_p99_ms", " ms"),
               ("stream p50", "total_p50_s", " s"), ("stream p99", "total_p99_s", " s")]
    rows = _levels(plan, summary) if summary["levels"] else []
    for level in summary.get("burst", []):
        rows += _part(f"Burst: {level['streams']} streams opened at once, {burst['frames']} frames "
                      f"{plan['delay_ms']} ms apart", level, latency + [("CPU", "worker_cpu_pct", "%"),
                                                                       ("TLS resumed", "upstream_resumed_pct", "%")])
    if "setup" in summary:
        rows += _part(f"Per-request cost: {setup['streams']} one-frame answers, {setup['rate']} new streams/s",
                      summary["setup"], latency[:3] + [("CPU per request", "worker_cpu_ms_per_stream", " ms"),
                                                       ("conns/100 req", "upstream_connections_per_100", ""),
                                                       ("TLS resumed", "upstream_resumed_pct", "%")])
    if "throughput" in summary:
        rows += _part(f"CPU-bound relay: {load['streams']} streams x {load['frames']} frames, no delay",
                      summary["throughput"],
                      [("errors", "errors", ""), ("chunks/s", "chunks_per_s", ""),
                       ("stream p50", "total_p50_s", " s"), ("chunks per read", "chunks_per_read", ""),
                       ("CPU per chunk", "worker_cpu_us_per_chunk", " us"), ("worker CPU", "worker_cpu_pct", "%"),
                       ("loadgen CPU", "loadgen_cpu_pct", "%")])
    if "paced" in summary:
        rows += _part(f"Paced relay: {paced['streams']} streams x {paced['frames']} frames, each frame its own "
                      f"upstream write, {paced['delay_ms']} ms apart", summary["paced"],
                      [("errors", "errors", ""), ("chunks/s", "chunks_per_s", ""),
                       ("chunks per read", "chunks_per_read", ""), ("CPU per chunk", "worker_cpu_us_per_chunk", " us"),
                       ("worker CPU", "worker_cpu_pct", "%")])
    caller = "a proxy key, served by the gateway's saved account" if plan.get("pooled") else "their own Kimi token"
    rows += ["", f"gateway: {plan['workers']} worker(s), reaching the fake upstream over "
                 f"{'TLS' if plan['tls'] else 'plain HTTP'}, callers sending {caller}; conns/100 req: new upstream connections per 100 "
                 "requests (the load generator's own opens one per stream); TLS resumed: the share of the new upstream "
                 "connections whose TLS handshake resumed an earlier session (--tls)",
             "relay: a bare gevent pass-through (bench/relay.py); minimal: a Flask app on the gateway's gunicorn "
                 "set-up passing each upstream chunk through a pooled urllib3 call (bench/minimal_app.py), the "
                 "product's fixed shape with nothing of the gateway in it; CPU: that process's or worker's",
             f"worker peak RSS (VmHWM): {summary['worker_vm_hwm_mb']} MB; "
                 f"gateway log lines at WARNING or worse: {summary['gateway_log_problems']}; "
                 "1-minute load average at start and end: {} and {} (other processes share the CPUs)".format(
                     *summary["load_average"])]
    return "\n".join(rows)
