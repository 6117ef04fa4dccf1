"""JSON-lines logging with a per-call request id.

Every process logs one JSON object per line on stderr, so a log shipper needs no parser
configuration. Each line carries the request id of the gRPC call it belongs to: the
`RequestIdInterceptor` (interceptors.py) sets the `request_id` context variable from the
caller's `x-request-id` metadata, or generates one, for the duration of the call.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import re
import sys
import traceback
import uuid
from typing import Any, Final

# The id of the gRPC call being handled; None outside a call.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REQUEST_ID_METADATA_KEY: Final = "x-request-id"

# Ids taken from callers end up in logs and in other services' metadata: accept only short,
# plain tokens so a caller cannot forge log lines or send huge headers.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex characters (uuid4)."""
    return uuid.uuid4().hex


def accept_request_id(candidate: str | None) -> str:
    """The caller's request id if it is a plain token of at most 128 characters, else a new one."""
    if candidate is not None and _VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, service, logger, message, request_id,
    then any `extra=` fields, then the traceback (if any) under `exc_info`."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        # default=str: extra fields may hold paths, enums and the like.
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str) -> None:
    """Send every log record of this process to stderr as JSON lines tagged with `service`.

    Replaces the root logger's handlers, so calling it twice does not duplicate lines.
    `level` is a logging level name such as "INFO" or "DEBUG".
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(
            f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
