"""`make bench` still runs end to end: its smoke plan sends every part to every target and writes the
table and the JSON it promises. Behaviour only: no figure is asserted (benchmarks are not tests)."""
import json
import subprocess
import sys

from bench.run import PLANS
from tests.support import ROOT

SMOKE = PLANS["smoke"]


def test_the_smoke_plan_relays_every_frame_of_every_part(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--output", str(output)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(output.read_text())
    summary = results["summary"]
    assert results["plan"] == "smoke"

    [streams] = SMOKE["levels"]
    [level] = summary["levels"]
    assert level["streams"] == streams
    for target in ("direct", "relay", "gateway"):
        measured = level[target]
        assert (measured["held"], measured["errors"], measured["chunks"]) == (
            streams, 0, streams * SMOKE["frames"]), target
    # The figures the issue asks for are all there (CPU time comes in 10 ms ticks: a smoke run may read 0).
    assert {"ttfb_p50_ms", "ttfb_p99_ms", "total_p50_s", "held", "errors", "worker_cpu_pct", "rss_peak_mb",
            "rss_per_stream_kb"} <= level["gateway"].keys()
    assert isinstance(level["added_ttfb_p50_ms"], float) and level["gateway"]["rss_peak_mb"] > 0

    def errors_and_chunks(pair: dict, targets=("direct", "gateway")) -> list[tuple[int, int]]:
        return [(pair[target]["errors"], pair[target]["chunks"]) for target in targets]

    burst, setup, throughput, paced = SMOKE["burst"], SMOKE["setup"], SMOKE["throughput"], SMOKE["paced"]
    with_relay = ("direct", "gateway", "relay", "minimal")  # the floors beside the gateway
    [burst_streams] = burst["streams"]
    [burst_level] = summary["burst"]
    assert burst_level["streams"] == burst_streams
    assert errors_and_chunks(burst_level, with_relay) == [(0, burst_streams * burst["frames"])] * 4
    assert errors_and_chunks(summary["setup"], with_relay) == [(0, setup["streams"])] * 4  # one frame per answer
    for floor in ("relay", "minimal"):
        assert "worker_cpu_ms_per_stream" in summary["setup"][floor]  # may read 0: 10 ms ticks
    # The minimal app keeps its upstream connections, as the gateway does; the relay opens one per request.
    assert summary["setup"]["minimal"]["upstream_connections_per_100"] == 0
    assert errors_and_chunks(summary["throughput"]) == [(0, throughput["streams"] * throughput["frames"])] * 2
    assert errors_and_chunks(summary["paced"], with_relay) == [(0, paced["streams"] * paced["frames"])] * 4
    for part in ("throughput", "paced"):
        assert {"chunks_per_s", "worker_cpu_us_per_chunk"} <= summary[part]["gateway"].keys()
    assert summary["gateway_log_problems"] == 0

    for heading in ("TTFB p50", "added", f"Burst: {burst_streams} streams", "the bare relay adds", "the minimal app adds",
                    "Per-request cost", "Paced relay", "CPU per chunk", "worker peak RSS (VmHWM)",
                    f"raw results in {output}"):
        assert heading in done.stdout, heading


def test_the_pooled_smoke_plan_serves_every_stream_through_a_proxy_key_and_the_saved_account(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--pooled", "--parts", "setup,burst",
                           "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(output.read_text())
    assert results["pooled"] is True
    summary = results["summary"]
    setup, [burst_streams] = SMOKE["setup"], SMOKE["burst"]["streams"]
    assert (summary["setup"]["gateway"]["errors"], summary["setup"]["gateway"]["chunks"]) == (0, setup["streams"])
    assert summary["burst"][0]["gateway"]["errors"] == 0 and summary["gateway_log_problems"] == 0
    assert f"Burst: {burst_streams} streams" in done.stdout
    assert "callers sending a proxy key, served by the gateway's saved account" in done.stdout
