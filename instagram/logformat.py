"""The JSON log format: one object per line, for log shippers (LOG_FORMAT=json).

A small formatter on the standard library rather than a dependency: the
fields are named here, one by one, so nothing a caller passes in `extra`
(a request, a token) reaches the log unless it is listed below.
"""

import json
import logging
from datetime import UTC, datetime

from instagram.requestid import request_id_var

# Attributes the request-log middleware sets through `extra` (middleware.py).
REQUEST_FIELDS = ("route", "method", "status", "duration_ms", "user_id")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, request id, request fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # gunicorn's own records pass no Django filter: read the id where it lives.
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "process": record.process,
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)
