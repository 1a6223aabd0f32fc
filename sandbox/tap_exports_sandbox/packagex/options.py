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

#: The resources the List exports document names for its ``resource`` filter.
LISTING_FILTERS: tuple[str, ...] = (
    "contact",
    "group",
    "location",
    "shipment",
    "tracker",
    "shipping_label_inference",
)


@dataclass(frozen=True)
class PackageXOptions:
    """How the emulated PackageX organization behaves.

    ``error_every``: every n-th row of a resource cannot be exported and is listed in
    the export's error file instead (0: none). ``json_files=False`` gives exports a CSV
    file only, ``bare_create_response=True`` answers ``POST /v1/exports`` with the bare
    export object as the docs' quick-start reads it, instead of the envelope.
    ``resources`` are the ones :meth:`tap_settings` configures; all are served.

    Where the documents are silent: ``list_filters_every_resource=True`` accepts every
    resource as the list's ``resource`` filter (by default only the documented six,
    400 for the others, as a strict API would); ``max_page_size`` caps the list's
    ``limit`` (None: no cap, none is documented), refusing a larger one with 400 unless
    ``clamp_page_size`` serves that many instead; ``sanitize_mark`` is what the
    sanitized file puts before a cell that reads as a formula. ``keep_expired=True``
    keeps an export past its 24 hours, files gone, with the status ``expired`` that the
    sibling batch model has, instead of deleting it as the documents say.
    """

    api_key: str = "px_sandbox_7Hq2mXc9RkLw4TzYb8Nd"
    resources: tuple[str, ...] = PACKAGEX_RESOURCES
    error_every: int = 97
    json_files: bool = True
    bare_create_response: bool = False
    link_ttl_seconds: int = 3600
    list_filters_every_resource: bool = False
    max_page_size: int | None = None
    clamp_page_size: bool = False
    sanitize_mark: str = "'"
    keep_expired: bool = False
