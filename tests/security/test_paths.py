"""Ids an API handed out (or a state holds) stay one path segment of that API.

A state names a Mailgun export whose id climbs out of ``/v3/exports/`` or adds a
query; the tap must ask only for ``/v3/exports/<that id, quoted>`` (what the server then
answers, "gone" or an error, is its own business).
"""

from __future__ import annotations

import contextlib
import copy

import pytest

from tap_exports.errors import ProviderError
from tap_exports_sandbox import Sandbox
from tests.support import sync

HOSTILE_IDS = ["../../admin", "abc?inject=1", "../domains#x"]


@pytest.mark.parametrize("export_id", HOSTILE_IDS)
def test_an_export_id_never_leaves_its_path_segment(sandbox: Sandbox, export_id: str):
    config = {"mailgun": {**sandbox.tap_config()["mailgun"], "lists": ["/v3/domains"]}}
    state = sync(config).states[-1]
    hostile = copy.deepcopy(state)
    bookmark = hostile["bookmarks"]["mailgun_domains"]["partitions"][0]
    bookmark["export"] = {"id": export_id, "window": {}, "status": "RUNNING"}
    sandbox.stats.reset()
    with contextlib.suppress(ProviderError):
        sync(config, hostile)
    asked = [route for route in sandbox.stats.snapshot()["requests"] if "/mailgun/" in route]
    assert asked
    assert all("/mailgun/v3/exports" in route for route in asked), asked
