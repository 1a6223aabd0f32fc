"""The lists a Mailgun account can export, as sandbox datasets (providers.md §1.6).

Every value is a string, exactly as it appears in the export CSV, so the rows of a
dataset are the ground truth a CSV reader must reproduce.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tap_exports_sandbox.data import Dataset, DatasetRegistry, Draws, Row, awkward_text

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
_MAIL_HOSTS = ("example.com", "example.net", "mail.example.org", "exämple.de")
_BOUNCE_CODES = ("550", "551", "552", "553", "554", "421", "450", "605")
_BOUNCE_ERRORS = (
    "5.1.1 The email account that you tried to reach does not exist.",
    "550 5.7.1 Message rejected, spam detected",
    "552 Mailbox full",
    "Not delivering to previously bounced address",
)
_TAGS = ("*", "newsletter", "promotions", "weekly-digest")


def rfc2822(moment: dt.datetime) -> str:
    """Mailgun's date format, ``Fri, 21 Oct 2011 11:02:55 UTC`` (locale-independent)."""
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M:%S} UTC"
    )


def _address(index: int, draws: Draws) -> str:
    return f"{draws.pick(_NAMES)}.{index}@{draws.pick(_MAIL_HOSTS)}"


def _domain_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    name = f"{draws.pick(_NAMES)}{index}.example.com"
    return (
        name,
        draws.pick(("active", "unverified", "disabled")),
        rfc2822(moment),
        f"postmaster@{name}",
        draws.pick(("disabled", "tag", "block")),
        draws.pick(("true", "false")),
        draws.pick(("custom", "sandbox")),
    )


def _bounce_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    error = awkward_text(index)
    return (
        _address(index, draws),
        draws.pick(_BOUNCE_CODES),
        draws.pick(_BOUNCE_ERRORS) if error is None else error,
        rfc2822(moment),
    )


def _unsubscribe_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    tag = awkward_text(index)
    return (_address(index, draws), draws.pick(_TAGS) if tag is None else tag, rfc2822(moment))


def _complaint_row(index: int, draws: Draws, moment: dt.datetime) -> Row:
    return (_address(index, draws), rfc2822(moment))


@dataclass(frozen=True)
class MailgunList:
    """An exportable list: its export key (the normalized ``url``), stream and data."""

    url: str
    stream: str
    dataset: Dataset


def define_lists(datasets: DatasetRegistry, domains: tuple[str, ...]) -> dict[str, MailgunList]:
    """Create the account's lists, keyed by normalized url (``domains``, ``<domain>/bounces``)."""
    kinds = {
        "bounces": (("address", "code", "error", "created_at"), _bounce_row),
        "unsubscribes": (("address", "tag", "created_at"), _unsubscribe_row),
        "complaints": (("address", "created_at"), _complaint_row),
    }
    columns = ("name", "state", "created_at", "smtp_login", "spam_action", "wildcard", "type")
    lists = [
        MailgunList(
            "domains", "mailgun_domains", datasets.define("mailgun/domains", columns, _domain_row)
        )
    ]
    for domain in domains:
        for kind, (kind_columns, make_row) in kinds.items():
            url = f"{domain}/{kind}"
            dataset = datasets.define(f"mailgun/{url}", kind_columns, make_row)
            lists.append(MailgunList(url, f"mailgun_{kind}", dataset))
    return {item.url: item for item in lists}
