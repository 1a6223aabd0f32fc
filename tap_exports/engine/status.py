"""The common export status and the per-provider mapping onto it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from tap_exports.errors import UnknownStatusError


class ExportStatus(StrEnum):
    """Where an export stands, whatever the provider calls it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    EMPTY = "EMPTY"

    @property
    def terminal(self) -> bool:
        """Polling stops at a terminal status."""
        return self not in {ExportStatus.PENDING, ExportStatus.RUNNING}


class StatusMap:
    """Maps a provider's status words onto :class:`ExportStatus`.

    An unknown word is an error rather than a guess: silently treating it as
    "still running" would poll until the timeout and hide the real cause.
    """

    def __init__(
        self, provider: str, words: Mapping[str, ExportStatus], *, case_sensitive: bool = False
    ) -> None:
        self.provider = provider
        self.case_sensitive = case_sensitive
        self._words = {self._key(word): status for word, status in words.items()}

    def _key(self, word: str) -> str:
        return word if self.case_sensitive else word.strip().lower()

    def __call__(self, word: object, *, export_id: str | None = None) -> ExportStatus:
        """Return the common status for ``word`` or raise :class:`UnknownStatusError`."""
        status = self._words.get(self._key(str(word))) if isinstance(word, str) else None
        if status is None:
            raise UnknownStatusError(
                self.provider,
                f"unknown export status {word!r}",
                export_id=export_id,
                hint=f"known statuses: {', '.join(sorted(self._words))}; "
                "the provider may have changed its API, please report this",
            )
        return status
