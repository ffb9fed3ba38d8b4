"""Logging for the server: human text, or one JSON object per line (``--log-format json``)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from shipyard.core.errors import InvalidArgument


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def check_logging(log_format: str, level: str) -> None:
    """Refuse an unknown log format or level before anything starts."""
    if log_format not in LOG_FORMATS:
        raise InvalidArgument(
            f"--log-format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
        )
    if level.lower() not in LOG_LEVELS:
        raise InvalidArgument(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")


def configure_logging(log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and shipyard loggers."""
    check_logging(log_format, level)
    formatter = (
        {"()": "shipyard.interfaces.http.logs.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "shipyard": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
