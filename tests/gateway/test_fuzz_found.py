"""What the schema fuzzer (test_fuzz_schema.py) found beyond the issue-8 list, one minimal
reproducer each, kept as regression tests now that each is fixed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fakes.openai_upstream import run_fake_openai

from ._fuzz_gateway import MASTER_KEY, WholeVideos, build_gateway


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[WholeVideos, str]]:
    state = WholeVideos(polls_to_complete=1, poll_after_ms=10)
    with run_fake_openai(state) as base_url:
        yield state, base_url


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[WholeVideos, str]
) -> Iterator[TestClient]:
    home: Path = tmp_path_factory.mktemp("found")
    app = build_gateway(home, upstream[1])
    # A 500 comes back as a response (not a raised exception), as a real client sees it.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _virtual_key(client: TestClient) -> str:
    reply = client.post("/key/generate", json={}, headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert reply.status_code == 200, reply.text
    key: str = reply.json()["key"]
    return key


def _assert_envelope(reply: object, status: int) -> None:
    assert getattr(reply, "status_code", None) == status, getattr(reply, "text", reply)
    error = reply.json()["error"]  # type: ignore[attr-defined]
    assert set(error) == {"message", "type", "param", "code"}


def test_key_info_header_longer_than_400_is_a_400(client: TestClient) -> None:
    reply = client.get(
        "/key/info",
        headers={"Authorization": f"Bearer {MASTER_KEY}", "x-vidgate-key": "0" * 401},
    )
    _assert_envelope(reply, 400)
    assert reply.json()["error"]["param"] in ("key", "x-vidgate-key")


def test_key_info_header_of_unknown_key_is_a_404(client: TestClient) -> None:
    """The control for the test above: a short unknown key is an ordinary 404."""
    reply = client.get(
        "/key/info", headers={"Authorization": f"Bearer {MASTER_KEY}", "x-vidgate-key": "0" * 400}
    )
    _assert_envelope(reply, 404)


# A 1x1 PNG (the reference image: only a create with a file goes upstream as multipart).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c63600000000200014faea4710000000049454e44ae426082"
)


def test_non_ascii_extra_field_name_in_multipart_create_is_not_a_5xx(client: TestClient) -> None:
    reply = client.post(
        "/v1/videos",
        data={"prompt": "a cat", "é": "1"},
        files={"input_reference": ("ref.png", PNG, "image/png")},
        headers={"Authorization": f"Bearer {_virtual_key(client)}"},
    )
    _assert_envelope(reply, 400)
    assert reply.json()["error"]["code"] == "unknown_parameter"


def test_ascii_extra_field_name_in_multipart_create_is_forwarded(client: TestClient) -> None:
    """The control: the same request with an ASCII name creates the video."""
    reply = client.post(
        "/v1/videos",
        data={"prompt": "a cat", "e": "1"},
        files={"input_reference": ("ref.png", PNG, "image/png")},
        headers={"Authorization": f"Bearer {_virtual_key(client)}"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] in ("queued", "in_progress")
