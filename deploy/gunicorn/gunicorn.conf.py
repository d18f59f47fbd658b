"""gunicorn settings for the app servers behind nginx.

Read by `gunicorn -c deploy/gunicorn/gunicorn.conf.py`; each value can be
overridden from the environment so production hosts size their own pools.
SIGHUP reloads workers gracefully (what `fab deploy` sends).
"""

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from typing import Any

worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 75  # longer than nginx's upstream keepalive, so nginx closes first
max_requests = 10000
max_requests_jitter = 1000
# The load balancers' addresses (fab setup writes them from the inventory's lb hosts).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
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


class JsonLineFormatter(logging.Formatter):
    """gunicorn's own lines in the shape of the app's JSON lines (instagram/logformat.py).

    Defined here, not imported: the master must import nothing of the
    project, or every worker a HUP forks after a deploy would run the old
    release's modules from the master's sys.modules.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": "-",
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# The local stacks and docker-compose set LOG_FORMAT=text; production's
# default is json, as in instagram/settings.py.
if os.environ.get("LOG_FORMAT", "json") == "json":
    # gunicorn's own lines (booting, worker timeouts) in JSON too, so every
    # line of an app server's log parses. Its access log stays off, as in
    # text (the request-log middleware is the access log): gunicorn's
    # carries the query string, tokens included.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLineFormatter}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
    }


def on_starting(server: Any) -> None:
    """Give the workers an empty directory for prometheus_client's multiprocess mode.

    Each worker process writes its request histograms to files there and
    /metrics reads them all (monitoring/views.py). Emptied at each start (not
    on a HUP reload), so counters restart from zero with the server, as
    Prometheus expects of a restarted target.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = server.prometheus_tempdir = tempfile.mkdtemp(
            prefix="instagram-metrics-"
        )


def on_exit(server: Any) -> None:
    """Remove the metrics directory on_starting made up (one named in the environment stays)."""
    made = getattr(server, "prometheus_tempdir", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
