"""The SDK's standard tap tests, run against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from singer_sdk.testing import get_tap_test_class

from tap_exports.sandbox import Sandbox, SandboxConfig
from tap_exports.tap import TapExports
from tests.conftest import FAST_DELAYS

# The SDK builds its test class from a static config, so the sandbox has to be
# listening when this module is collected; the fixture below stops it.
SANDBOX = Sandbox(SandboxConfig(delays=FAST_DELAYS, default_rows=200)).start()


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox() -> Iterator[None]:
    yield
    SANDBOX.stop()


TestTapExports = get_tap_test_class(TapExports, config=SANDBOX.tap_config())
