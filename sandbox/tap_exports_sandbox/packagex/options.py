"""PackageX organization switches the sandbox can emulate (providers.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

#: Every resource the Exports API documents, in its overview's order.
PACKAGEX_RESOURCES: tuple[str, ...] = (
    "contact",
    "group",
    "fulfillment",
    "item",
    "location",
    "manifest",
    "shipment",
    "tracker",
    "shipping_label_inference",
    "asset",
)


@dataclass(frozen=True)
class PackageXOptions:
    """How the emulated PackageX organization behaves.

    ``error_every``: every n-th row of a resource cannot be exported and is listed in
    the export's error file instead (0: none). ``json_files=False`` gives exports a CSV
    file only, ``bare_create_response=True`` answers ``POST /v1/exports`` with the bare
    export object as the docs' quick-start reads it, instead of the envelope.
    ``resources`` are the ones :meth:`tap_settings` configures; all are served.
    """

    api_key: str = "px_sandbox_7Hq2mXc9RkLw4TzYb8Nd"
    resources: tuple[str, ...] = PACKAGEX_RESOURCES
    error_every: int = 97
    json_files: bool = True
    bare_create_response: bool = False
    link_ttl_seconds: int = 3600
