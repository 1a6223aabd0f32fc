"""The providers the tap knows, in the order their streams are synced."""

from __future__ import annotations

from tap_exports.providers.base import Provider
from tap_exports.providers.batch import BATCH
from tap_exports.providers.mailgun import MAILGUN

PROVIDERS: tuple[Provider, ...] = (MAILGUN, BATCH)
