"""gunicorn settings: one gevent worker holds many slow streams; PORT comes from the host."""
import gc
import os
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "configs.gunicorn_worker.GatewayWorker"
# One worker per core: a gevent worker is one process on one core. Hosts that size the dyno set
# WEB_CONCURRENCY themselves (Heroku does), and their value wins.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "2000"))
# gevent workers heartbeat from their own greenlet, so long streams do not trip this timeout.
timeout = 60
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# gunicorn's runtime control socket is not used, and several instances on one host would share its path.
control_socket_disable = True
# The app writes its own JSON access line per request (with request id, no query string:
# Gemini clients may put their key in ?key=), so gunicorn's access log stays off.
accesslog = None

# gevent resolves host names in a thread pool by default: every new connection to Kimi then waits for
# that thread to get the GIL from the busy event loop and for the loop to notice its answer (in bench/,
# about half of the time to first token added at 1000 streams). c-ares, built into gevent's wheels,
# resolves inside the event loop. An operator's own GEVENT_RESOLVER wins.
os.environ.setdefault("GEVENT_RESOLVER", "ares")

# prometheus-client multi-process mode: every worker writes its metrics under this folder and
# /metrics adds them up. It must be set before the app (and prometheus_client) is imported.
_OWN_METRICS_DIR = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kimi-gateway-metrics-")


# Python's cyclic garbage collector stops the whole worker while it runs. With its defaults (a young
# collection every 700 new objects) a worker holding 1000 streams spent ~12 % of its CPU in it, and each
# full collection, which walks every object of every open stream, stood the event loop still for
# 100-180 ms (bench/). Young collections every 50 000 objects still reclaim reference cycles within a
# second at that load, and full ones become rare. GC_THRESHOLDS ("gen0,gen1,gen2") overrides.
GC_THRESHOLDS = tuple(int(n) for n in os.environ.get("GC_THRESHOLDS", "50000,20,100").split(","))


def post_worker_init(worker):
    # The app is loaded by now: what it built at start lives as long as the worker, so freeze it out of
    # every later collection's walk.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def worker_exit(server, worker):
    # Runs in the worker as it ends: the usage counts and request-log rows of its last second reach the store.
    from gateway.usage_book import flush_all
    flush_all()


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        import shutil
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
