"""Credentials never cross the network unencrypted unless the user says so.

A plain ``http://`` provider URL is accepted for this machine (the sandbox, a local
proxy); to any other host it is refused before the first request, unless
``allow_plain_http`` is set.
"""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.tap import TapExports

KEY = "key-0123456789abcdef0123456789abcdef"


def _config(base_url: str, **common: object) -> dict[str, object]:
    return {"mailgun": {"api_key": KEY, "base_url": base_url}, **common}


@pytest.mark.parametrize("host", ["api.mailgun.example", "10.1.2.3", "[2001:db8::1]"])
def test_plain_http_to_another_machine_is_refused(host: str):
    with pytest.raises(ConfigValidationError) as refused:
        TapExports(config=_config(f"http://{host}"))
    (error,) = [e for e in refused.value.errors if e.startswith("mailgun.base_url")]
    assert "would send the credentials unencrypted to another machine" in error
    assert "allow_plain_http" in error
    assert KEY not in str(refused.value.errors)


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
def test_plain_http_to_this_machine_is_accepted(host: str):
    TapExports(config=_config(f"http://{host}"))


def test_plain_http_to_another_machine_is_accepted_when_the_user_opts_in():
    TapExports(config=_config("http://api.mailgun.example", allow_plain_http=True))
