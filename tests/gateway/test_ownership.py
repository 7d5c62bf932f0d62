"""Every video belongs to the key that made it: key B gets 404 on every route for key A's
video and never sees it in a list; a forged id is a 404 too."""

from __future__ import annotations

import secrets

import pytest

from .conftest import Gateway, wait_done

ROUTES = [
    ("GET", "/v1/videos/{id}", None),
    ("GET", "/videos/{id}", None),
    ("GET", "/v1/videos/{id}/content", None),
    ("GET", "/v1/videos/{id}/content?variant=thumbnail", None),
    ("POST", "/v1/videos/{id}/remix", {"prompt": "steal it"}),
    ("DELETE", "/v1/videos/{id}", None),
]


@pytest.fixture(scope="module")
def owned(gateway: Gateway) -> tuple[str, str, str]:
    """Key A, key B, and a completed video of key A's."""
    key_a, key_b = gateway.new_key(key_alias="A"), gateway.new_key(key_alias="B")
    client = gateway.openai(key_a)
    video = client.videos.create(prompt="A's video", model="local/preview", seconds="1")
    assert wait_done(client, video.id).status == "completed"
    return key_a, key_b, video.id


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_other_key_gets_404_everywhere(
    gateway: Gateway, owned: tuple[str, str, str], method: str, path: str, body: object
) -> None:
    key_a, key_b, video_id = owned
    with gateway.http(key_b) as http:
        reply = http.request(method, path.format(id=video_id), json=body)
    assert reply.status_code == 404, reply.text
    assert reply.json()["error"]["code"] == "not_found"
    # ... and the owner's video is untouched by it.
    with gateway.http(key_a) as http:
        assert http.get(f"/v1/videos/{video_id}").json()["status"] == "completed"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_forged_id_is_404(
    gateway: Gateway, owned: tuple[str, str, str], method: str, path: str, body: object
) -> None:
    key_a, _, _ = owned
    forged = "video_" + secrets.token_hex(24)
    with gateway.http(key_a) as http:
        reply = http.request(method, path.format(id=forged), json=body)
    assert reply.status_code == 404


def test_list_shows_only_own_videos(gateway: Gateway, owned: tuple[str, str, str]) -> None:
    key_a, key_b, video_id = owned
    assert video_id in [v.id for v in gateway.openai(key_a).videos.list()]
    b_video = gateway.openai(key_b).videos.create(prompt="B's", model="local/preview", seconds="1")
    listed_b = [v.id for v in gateway.openai(key_b).videos.list()]
    assert listed_b == [b_video.id]
    with gateway.http(key_b) as http:  # A's id is no cursor for B either
        assert http.get("/v1/videos", params={"after": video_id}).status_code == 404


def test_owner_can_use_every_route(gateway: Gateway, owned: tuple[str, str, str]) -> None:
    key_a, _, video_id = owned
    with gateway.http(key_a) as http:
        for method, path, body in ROUTES[:-1]:
            reply = http.request(method, path.format(id=video_id), json=body)
            assert reply.status_code == 200, (path, reply.text)
