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
# nginx refuses oversized requests with an enveloped answer (nginx.conf:
# large_client_header_buffers 4 8k). Whatever it forwards must pass here, or
# gunicorn would answer with its own HTML page: a request line at gunicorn's
# maximum, header lines twice nginx's (nginx appends to X-Forwarded-For), and
# as many header lines as nginx's 32 KB of buffers could hold.
limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 32768
accesslog = None  # the request-log middleware writes one line per request
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
