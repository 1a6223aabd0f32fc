"""The sandbox's FTP server delivers files to a real FTP client."""

from __future__ import annotations

import ftplib
import io

import pytest

from tap_exports_sandbox import Sandbox


def connect(sandbox: Sandbox, password: str | None = None) -> ftplib.FTP:
    client = ftplib.FTP()
    client.connect(sandbox.ftp.host, sandbox.ftp.port, timeout=10)
    client.login(sandbox.ftp.user, password or sandbox.ftp.password)
    return client


def test_uploaded_file_downloads_byte_for_byte(sandbox):
    content = "user_id;E-Mail\r\n1;naïve@example.com\r\n".encode() * 20_000
    sandbox.ftp.upload(
        "exports/changes.csv", (content[i : i + 65536] for i in range(0, len(content), 65536))
    )
    client = connect(sandbox)
    try:
        assert client.nlst("/exports") == ["changes.csv"]
        received = io.BytesIO()
        client.retrbinary("RETR /exports/changes.csv", received.write)
    finally:
        client.quit()
    assert received.getvalue() == content


def test_settings_describe_the_server(sandbox):
    settings = sandbox.ftp.settings("/exports")
    assert settings["host"] == "127.0.0.1"
    assert settings["port"] == sandbox.ftp.port
    assert settings["directory"] == "/exports"
    assert settings["tls"] is False


def test_wrong_password_is_refused(sandbox):
    with pytest.raises(ftplib.error_perm):
        connect(sandbox, password="wrong")


def test_files_stay_inside_the_home_directory(sandbox):
    with pytest.raises(ValueError, match="outside"):
        sandbox.ftp.upload("../escape.csv", [b"x"])


def test_reset_deletes_delivered_files(sandbox):
    sandbox.ftp.upload("a/b.csv", [b"x"])
    sandbox.reset()
    assert list(sandbox.ftp.root.iterdir()) == []
