"""Google credentials for the adapters (issue 9, "adapters read no files"): the key's JSON text
in ``api_key`` works without any file, ``is_key_file_path`` tells a path from a key without
touching the disk, and the credential resolver (``vidgate._prepare``) is what reads key files;
an adapter handed a path refuses it rather than read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidgate import AuthenticationError
from vidgate._prepare import read_key_file, resolve_credentials
from vidgate.providers import _google_auth
from vidgate.providers.vertex import VertexProvider

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
    def no_files(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"opened {args}")

    monkeypatch.setattr("builtins.open", no_files)
    creds = _google_auth.load_credentials(json.dumps(KEY_INFO))
    account = creds.service_account
    assert account is not None and creds.access_token is None
    assert (account.email, account.project_id, account.token_uri) == (
        "sa@p1.iam.gserviceaccount.com",
        "p1",
        "https://token.example/token",
    )
    assert _google_auth.load_credentials("ya29.tok").access_token == "ya29.tok"


def test_the_resolver_reads_the_key_file_and_the_adapter_never_does(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(KEY_INFO), encoding="utf-8")
    assert json.loads(read_key_file(str(path))) == KEY_INFO
    creds = resolve_credentials(VertexProvider, api_key=str(path))
    assert creds.api_key is not None and json.loads(creds.api_key) == KEY_INFO
    with pytest.raises(AuthenticationError) as info:
        _google_auth.load_credentials(str(path))
    assert "not read" in info.value.message


def test_unreadable_key_file_is_an_authentication_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(AuthenticationError) as info:
        resolve_credentials(VertexProvider, api_key=str(missing))
    assert info.value.status_code == 401 and str(missing) in info.value.message
