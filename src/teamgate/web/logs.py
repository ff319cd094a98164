"""The server's logging: `--log-level` and `--log-format text|json`, on stderr.

Text lines read `INFO Listening on localhost:8080`, as in the Torc tutorial. JSON is one
object per line with time, level, logger and message (plus pid, and for access lines method,
path, status, duration_ms, user and client). Both the server and each worker process
configure logging through `configure_logging`, so all of them write the same format.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from teamgate.storage.db.util import utc_text

TEXT_FORMAT = "%(levelname)s %(message)s"
_LEVEL_NAMES = {"warn": "WARNING", "trace": "DEBUG"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra={"fields": {...}}` adds keys to it."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_text(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def level_name(level: str) -> str:
    """`--log-level` value → logging level name (`warn` → WARNING, `trace` → DEBUG)."""
    return _LEVEL_NAMES.get(level.lower(), level.upper())


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary for `--log-level` and `--log-format`."""
    name = level_name(level)
    debug = name == "DEBUG"
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
            }
        },
        "root": {"level": name, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own startup chatter would repeat the lines the server logs itself
            "uvicorn.error": {"level": "DEBUG" if debug else "WARNING"},
            # one line per request only when asked for (as uvicorn's access log was)
            "teamgate.access": {"level": "DEBUG" if debug else "WARNING"},
            # the identity provider's discovery and keys are fetched in the background: the
            # server logs what it learns (teamgate.auth), not each request httpx makes
            "httpx": {"level": "DEBUG" if debug else "WARNING"},
        },
    }


def configure_logging(level: str, log_format: str) -> None:
    logging.config.dictConfig(logging_config(level, log_format))
