"""The three Emarsys exports the tap reads, and the time windows they are asked for.

Emarsys does not document the timezone of ``time_range``; its servers and the
``created`` field of an export run on Vienna time, and accounts have their own zone.
The tap therefore renders every window in ``emarsys.timezone`` and reads the
timestamps in the files in that same zone, so consecutive windows always chain
without a gap whatever Emarsys really assumes. Because a wrong zone (or a change of
the setting) and late-arriving responses could still leave rows just before a
bookmark unread, every run starts ``emarsys.overlap_hours`` before its bookmark; the
rows read twice carry the same primary key, so targets keep one of each.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from tap_exports.engine.job import Window

#: How far back the first run reaches when no ``start_date`` is set.
FIRST_RUN_HISTORY = dt.timedelta(days=30)

#: Sources of a response; ``getresponses`` wants them listed.
RESPONSE_SOURCES = (
    "trackable_links",
    "registration_forms",
    "tell_a_friend",
    "contact_us",
    "change_profile",
    "unsubscribe",
    "mail_open",
    "complaint",
)
#: Analysis fields of a response: campaign id, campaign title, link title, URL, time.
RESPONSE_ANALYSIS_FIELDS = (12, 1, 4, 5, 8)


@dataclass(frozen=True)
class ExportKind:
    """One kind of export: its stream, endpoint, request options and own columns.

    A file holds ``user_id``, the requested contact fields and the kind's own
    ``columns``; ``headers`` are the English header names the documents give for
    those columns (a column they do not name is absent).
    """

    setting: str
    stream: str
    path: str
    columns: tuple[str, ...]
    headers: Mapping[str, str]
    replication_key: str
    primary_keys: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    integers: frozenset[str] = frozenset()
    timestamps: frozenset[str] = frozenset()
    #: ``getchanges`` accepts whole days only (``YYYY-MM-DD``, start before end).
    whole_days: bool = False

    def time_range(self, window: Window, zone: ZoneInfo) -> list[str]:
        """``window`` as Emarsys' ``time_range``, in the account's local time."""
        if window.start is None or window.end is None:
            msg = "Emarsys exports need a bounded window"
            raise ValueError(msg)
        form = "%Y-%m-%d" if self.whole_days else "%Y-%m-%d %H:%M:%S"
        return [moment.astimezone(zone).strftime(form) for moment in (window.start, window.end)]

    def windows(
        self, start: dt.datetime, now: dt.datetime, zone: ZoneInfo, days: int
    ) -> list[Window]:
        """Consecutive windows of at most ``days`` from ``start`` up to ``now``.

        Minute-aligned up to the current minute, or for whole-day exports, local
        midnights up to today's (today is exported once it is over).
        """
        if self.whole_days:
            first, last = start.astimezone(zone).date(), now.astimezone(zone).date()
            starts = range(0, (last - first).days, days)
            edges = [_midnight(first + dt.timedelta(days=n), zone) for n in starts]
            edges.append(_midnight(last, zone))
        else:
            first_minute = start.astimezone(dt.UTC).replace(second=0, microsecond=0)
            end = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
            step = dt.timedelta(days=days)
            edges = [
                first_minute + n * step for n in range(max(0, -(-(end - first_minute) // step)))
            ]
            edges.append(end)
        return [Window(lower, upper) for lower, upper in itertools.pairwise(edges) if lower < upper]


def _midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def parse_local_time(value: str, zone: ZoneInfo) -> str:
    """An Emarsys timestamp (``2015-04-20 10:22:13``, local time) as RFC 3339 UTC."""
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


RESPONSES = ExportKind(
    setting="responses",
    stream="emarsys_responses",
    path="/email/getresponses",
    columns=("campaign_id", "campaign_title", "link_title", "url", "time", "source"),
    headers={
        "campaign_id": "Campaign ID",
        "campaign_title": "Campaign title",
        "link_title": "Link title",
        "url": "URL",
        "time": "Time",
        "source": "source",
    },
    replication_key="time",
    primary_keys=("user_id", "campaign_id", "source", "time", "url"),
    options={
        "analysis_fields": list(RESPONSE_ANALYSIS_FIELDS),
        "sources": list(RESPONSE_SOURCES),
    },
    integers=frozenset({"campaign_id"}),
    timestamps=frozenset({"time"}),
)
REGISTRATIONS = ExportKind(
    setting="registrations",
    stream="emarsys_registrations",
    path="/contact/getregistrations",
    columns=("registered_at",),
    # No document names the registration time's column: it is the one column left over.
    headers={},
    replication_key="registered_at",
    primary_keys=("user_id", "registered_at"),
    options={"with_timestamp": 1},
    timestamps=frozenset({"registered_at"}),
)
CONTACT_CHANGES = ExportKind(
    setting="contact_changes",
    stream="emarsys_contact_changes",
    path="/contact/getchanges",
    columns=("last_update",),
    headers={"last_update": "last update"},
    replication_key="last_update",
    primary_keys=("user_id",),
    options={"origin": "all", "origin_id": 0},
    timestamps=frozenset({"last_update"}),
    whole_days=True,
)

KINDS: dict[str, ExportKind] = {
    kind.setting: kind for kind in (RESPONSES, REGISTRATIONS, CONTACT_CHANGES)
}
