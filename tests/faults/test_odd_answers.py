"""A status answer that is HTTP 200 but not the JSON object the provider documents.

A proxy's HTML page, an empty body or a JSON list must end the run with a message that
names the provider, the call and the export (which stays in state), not a raw
``JSONDecodeError``, ``KeyError`` or ``AttributeError``.
"""

from __future__ import annotations

import re

import pytest

from tap_exports.errors import ProviderError
from tap_exports_sandbox import Fault
from tap_exports_sandbox.faults import JsonBody
from tests.faults.conftest import ScenarioFactory
from tests.faults.harness import PROFILES, exports_of

ODD: dict[str, JsonBody] = {
    "an HTML page": "<!doctype html><html><body>Gateway login</body></html>",
    "an empty body": "",
    "a JSON list": ["complete"],
}


@pytest.mark.parametrize("answer", list(ODD))
@pytest.mark.parametrize("provider", ["mailgun", "packagex", "batch"])
def test_an_odd_status_answer_names_the_call_and_the_export(
    scenario: ScenarioFactory, provider: str, answer: str
):
    profile = PROFILES[provider]
    run = scenario(profile)
    run.sandbox.faults.add(provider, profile.poll, Fault.status(200, ODD[answer]), times=None)
    failed = run.run()
    assert isinstance(failed.error, ProviderError), repr(failed.error)
    message = str(failed.error)
    assert f"answered HTTP 200 with {answer} where a JSON object was expected" in message
    in_flight = exports_of(run.state or {}, run.stream)
    assert any(f"export {export['id']}" in message for export in in_flight), message


@pytest.mark.parametrize("file_format", ["csv", "json"])
def test_a_file_cut_at_a_line_end_without_a_length_is_caught_by_the_providers_count(
    scenario: ScenarioFactory, file_format: str
):
    profile = PROFILES["packagex"]
    run = scenario(profile)
    settings = {**run.config["packagex"], "file_format": file_format}
    # Every download of the file ends early: the first and each resume.
    run.sandbox.faults.add("packagex", "storage_get", Fault.truncate(4000), times=None)
    failed = run.run(packagex=settings)
    assert failed.exit_code == 1
    message = str(failed.error)
    assert re.search("the download was cut short|file ends", message), message
    assert failed.records(run.stream) == [] or len(failed.records(run.stream)) < 150
    assert exports_of(run.state or {}, run.stream)


def test_an_emarsys_page_cut_at_a_line_end_is_caught_by_the_next_page(scenario: ScenarioFactory):
    profile = PROFILES["emarsys"]
    run = scenario(profile)
    settings = {**run.config["emarsys"], "page_size": 50}
    run.sandbox.faults.add("emarsys", "data", Fault.truncate(600), times=None)
    failed = run.run(emarsys=settings)
    assert failed.exit_code == 1
    message = str(failed.error)
    assert "rows of 50, yet more pages follow: it was cut short" in message
    assert exports_of(run.state or {}, run.stream)
