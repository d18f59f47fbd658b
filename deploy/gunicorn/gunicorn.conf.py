"""gunicorn settings for the app servers behind nginx.

Read by `gunicorn -c deploy/gunicorn/gunicorn.conf.py`; each value can be
overridden from the environment so production hosts size their own pools.
SIGHUP reloads workers gracefully (what `fab deploy` sends).
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 75  # longer than nginx's upstream keepalive, so nginx closes first
max_requests = 10000
max_requests_jitter = 1000
forwarded_allow_ips = "127.0.0.1"
accesslog = None  # the request-log middleware writes one line per request
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
