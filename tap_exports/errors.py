"""Errors users see: each names the provider, the export and what to do next.

Messages never include credentials; :func:`redact` is applied to anything that
echoes a request or a URL back to the user.
"""

from __future__ import annotations

import re

_SIGNED_QUERY = re.compile(
    r"(?i)((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|Credential|AWSAccessKeyId|token|key|"
    r"api_key|apikey|sig)=)[^&\s\"']+"
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove signed-URL query values and known secret values from ``text``."""
    text = _SIGNED_QUERY.sub(r"\1<redacted>", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text


class TapExportsError(Exception):
    """Base class of every error the tap raises on purpose."""


class ConfigError(TapExportsError):
    """A setting is missing or invalid; raised before any request is made."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"Invalid setting '{setting}': {problem}")


class ProviderError(TapExportsError):
    """The provider answered with an error the tap cannot recover from."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        export_id: str | None = None,
        stream: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.provider = provider
        self.export_id = export_id
        self.stream = stream
        parts = [provider]
        if stream:
            parts.append(f"stream {stream}")
        if export_id:
            parts.append(f"export {export_id}")
        text = f"{': '.join([', '.join(parts), message])}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ExportFailedError(ProviderError):
    """The provider reports that it could not prepare the export."""


class ExportTimeoutError(ProviderError):
    """The export did not finish within ``export_timeout_seconds``."""


class ExportGoneError(ProviderError):
    """The export (or its file) no longer exists at the provider; it can be re-created."""


class LayoutError(ProviderError):
    """A file is not laid out as the tap expects (columns, field names): a provider changed it."""


class UnknownStatusError(ProviderError):
    """The provider reported a status word the tap does not know."""


class DataError(TapExportsError):
    """A row in an export file could not be read.

    Carries the file and line so users can find it; raised unless the user asked to
    skip bad rows.
    """

    def __init__(
        self, source: str, line: int, problem: str, *, hint: str | None = None, unit: str = "line"
    ) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        super().__init__(f"{source}, {unit} {line}: {problem}" + (f" ({hint})" if hint else ""))


class RunInterruptedError(SystemExit):
    """The run was stopped by a signal; exits with ``128 + signal`` once state is written.

    A ``SystemExit`` so that no ``except Exception`` on the way (retry loops) can
    swallow it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(128 + signum)


class DownloadError(TapExportsError):
    """A download could not be completed even after retries and fresh links."""


class StateError(TapExportsError):
    """The input STATE cannot be used as it is; the message names the key and the fix."""
