"""Google credentials for the adapters (issue 9, "adapters read no files"): the key's JSON text
in ``api_key`` works without any file, ``is_key_file_path`` tells a path from a key without
touching the disk, and ``read_key_file`` is the one file read, for the credential resolver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidgate import AuthenticationError
from vidgate.providers import _google_auth

KEY_INFO = {
    "type": "service_account",
    "client_email": "sa@p1.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\nnot checked until signing\n",
    "private_key_id": "k1",
    "project_id": "p1",
    "token_uri": "https://token.example/token",
}


@pytest.mark.parametrize(
    ("value", "is_path"),
    [
        ("/etc/vidgate/google-sa.json", True),
        ("keys/sa.json", True),
        ("sa.json", True),
        ("  /srv/key  ", True),
        (json.dumps(KEY_INFO), False),
        ("  " + json.dumps(KEY_INFO, indent=2), False),
        ("ya29.a0AfH6SMBx-token", False),
        ("", False),
        ("   ", False),
    ],
)
def test_is_key_file_path(value: str, is_path: bool) -> None:
    assert _google_auth.is_key_file_path(value) is is_path


def test_key_json_in_api_key_reads_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_files(path: str) -> str:
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(_google_auth, "read_key_file", no_files)
    creds = _google_auth.load_credentials(json.dumps(KEY_INFO))
    account = creds.service_account
    assert account is not None and creds.access_token is None
    assert (account.email, account.project_id, account.token_uri) == (
        "sa@p1.iam.gserviceaccount.com",
        "p1",
        "https://token.example/token",
    )
    assert _google_auth.load_credentials("ya29.tok").access_token == "ya29.tok"


def test_read_key_file_returns_the_text(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(KEY_INFO), encoding="utf-8")
    text = _google_auth.read_key_file(str(path))
    assert json.loads(text) == KEY_INFO
    # A path in api_key still works until the resolver reads it first.
    from_path = _google_auth.load_credentials(str(path)).service_account
    assert from_path is not None and from_path.email == KEY_INFO["client_email"]


def test_unreadable_key_file_is_an_authentication_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(AuthenticationError) as info:
        _google_auth.read_key_file(str(missing))
    assert info.value.status_code == 401 and str(missing) in info.value.message
