"""gunicorn settings: one gevent worker holds many slow streams; PORT comes from the host."""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "2000"))
# gevent workers heartbeat from their own greenlet, so long streams do not trip this timeout.
timeout = 60
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = "-"
# %(U)s is the path without the query string: Gemini clients may put their key in ?key=.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
