"""The providers the tap knows, in the order their streams are synced."""

from __future__ import annotations

from typing import Any

from tap_exports.providers.base import Provider
from tap_exports.providers.batch import BATCH
from tap_exports.providers.connect import CONNECT
from tap_exports.providers.emarsys import EMARSYS
from tap_exports.providers.mailgun import MAILGUN
from tap_exports.providers.packagex import PACKAGEX

PROVIDERS: tuple[Provider[Any], ...] = (MAILGUN, PACKAGEX, CONNECT, BATCH, EMARSYS)
