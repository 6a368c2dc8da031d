"""The floor of the product's fixed shape: a Flask app on the gateway's own gunicorn set-up
(configs/gunicorn.conf.py, its gevent worker) that passes the bench's Chat request to the fake upstream
over a pooled urllib3 connection and streams each upstream chunk back as it arrives.

Nothing of the gateway is in it: no credential, no format to parse or render, no store, no log line, no
metrics. What it costs per request and per frame is what Flask, gunicorn's gevent worker and urllib3
cost together on this machine; the gateway cannot cost less while it keeps that shape. Reached at the
direct Chat path, as the relay is; the fake's URL comes from KIMI_BASE_URL (over TLS it trusts
REQUESTS_CA_BUNDLE, through one context, as the gateway does).
"""
import os

import urllib3
from flask import Flask, Response, request
from urllib3.util.ssl_ import create_urllib3_context

CHAT_PATH = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat"


def _upstream_pool() -> urllib3.HTTPConnectionPool:
    url = os.environ["KIMI_BASE_URL"]
    if not url.startswith("https://"):
        return urllib3.connection_from_url(url, maxsize=10_000)
    context = create_urllib3_context()
    context.load_verify_locations(cafile=os.environ["REQUESTS_CA_BUNDLE"])
    return urllib3.connection_from_url(url, maxsize=10_000, ssl_context=context)


app = Flask(__name__)
upstream = _upstream_pool()


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.post(CHAT_PATH)
def chat() -> Response:
    answer = upstream.urlopen("POST", CHAT_PATH, body=request.get_data(), retries=False, redirect=False,
                              headers={"Content-Type": request.content_type or "application/connect+json"},
                              preload_content=False)

    def chunks():
        try:
            yield from answer.read_chunked()  # an upstream chunk as it arrives, its framing removed
        finally:
            answer.release_conn()  # back to the pool (urllib3 closed it first if the read was cut short)

    return Response(chunks(), status=answer.status, content_type=answer.headers.get("Content-Type"))
