"""Every log line and traceback of the process goes out without credentials.

Libraries log at DEBUG what they send: urllib3 the whole pre-signed URL (its signed
query is a bearer credential until it expires), botocore the ``Authorization``
header, the SigV4 signature and the access key id. Rather than silence each logger,
every record is redacted when it is made, whatever logger or handler, and so is an
uncaught exception's traceback.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from tap_exports.errors import redact

_HEADER = re.compile(
    r"(?i)((?:authorization|proxy-authorization|cookie|x-amz-security-token|x-api-key|"
    r"px-api-key|x-wsse|x-batch-project)['\"]?\s*[:=]\s*b?['\"]?)[^'\"\n]+"
)
"""A credential header as a log shows it: ``'Authorization': b'AWS4-HMAC-SHA256 ...'``."""
_SIGNATURE = re.compile(r"(?i)(signature:?\s*)[0-9a-f]{16,}")
"""botocore logs a computed SigV4 signature on its own line, after ``Signature:``."""

_secrets: set[str] = set()
_previous_factory: list[Any] = []


def clean(text: str) -> str:
    """``text`` without signed queries, credential headers, signatures or known secrets."""
    text = _SIGNATURE.sub(r"\1<redacted>", _HEADER.sub(r"\1<redacted>", text))
    return redact(text, tuple(_secrets))


def credential_values(schema: Mapping[str, Any], config: Mapping[str, Any]) -> set[str]:
    """Values of settings that are secret, or that name an access key id."""
    found: set[str] = set()
    for name, spec in schema.get("properties", {}).items():
        value = config.get(name)
        if isinstance(value, str) and (spec.get("secret") or name.endswith("access_key_id")):
            found.add(value)
        elif isinstance(value, Mapping):
            found |= credential_values(spec, value)
    return found


def install(secrets: Iterable[str]) -> None:
    """Redact every log record made from now on, and uncaught tracebacks, in this process."""
    _secrets.update(secret for secret in secrets if secret)
    if _previous_factory:
        return
    _previous_factory.append(logging.getLogRecordFactory())
    logging.setLogRecordFactory(_redacted_record)
    sys.excepthook = _redacted_excepthook


def _redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _previous_factory[0](*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return record
    cleaned = clean(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = clean("".join(traceback.format_exception(*record.exc_info)).rstrip())
    return record


def _redacted_excepthook(
    kind: type[BaseException], value: BaseException, trace: TracebackType | None
) -> None:
    sys.stderr.write(clean("".join(traceback.format_exception(kind, value, trace))))
