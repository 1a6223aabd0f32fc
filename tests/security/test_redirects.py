"""A download link, or any hop it redirects to, leads to an http(s) URL or to a clear error.

A storage host that redirects to ``file://`` or ``ftp://`` must get neither a local file
read nor a raw ``InvalidSchema`` traceback.
"""

from __future__ import annotations

import pytest

from tap_exports.errors import DownloadError
from tap_exports.io.http import HttpSource


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/export.csv"])
def test_a_redirect_to_another_scheme_is_a_clear_error(httpserver, target: str):
    httpserver.expect_request("/export").respond_with_data(
        "", status=302, headers={"Location": target}
    )
    source = HttpSource(lambda: httpserver.url_for("/export"), name="export 42 (bounces.csv)")
    scheme = target.partition(":")[0]
    with pytest.raises(DownloadError, match=f"refusing the link to a {scheme}: URL"):
        source.open().read()


def test_a_link_to_another_scheme_is_refused_before_any_request():
    source = HttpSource(lambda: "file:///etc/passwd", name="export 42 (bounces.csv)")
    with pytest.raises(DownloadError, match="refusing the link to a file: URL"):
        source.open().read()
