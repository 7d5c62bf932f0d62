"""A gateway whose deployment is another vidgate gateway (``openai`` provider → second
``vidgate serve``) works end to end, and the seed's curl examples run against a gateway."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import MASTER_KEY, Gateway, is_mp4, png_bytes, standard_config, wait_done


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway]]:
    inner_home = tmp_path_factory.mktemp("inner")
    inner = Gateway(inner_home, standard_config(inner_home)).start()
    outer_home = tmp_path_factory.mktemp("outer")
    config = standard_config(outer_home)
    config["model_list"] = [
        {
            "model_name": "relay",
            "params": {
                "model": "openai/local/preview",
                "api_base": f"{inner.url}/v1",
                "api_key": MASTER_KEY,
            },
        }
    ]
    try:
        outer = Gateway(outer_home, config).start()
    except Exception:
        inner.stop()
        raise
    try:
        yield outer, inner
    finally:
        outer.stop()
        inner.stop()


def test_gateway_in_front_of_a_gateway(chain: tuple[Gateway, Gateway]) -> None:
    outer, inner = chain
    client = outer.openai(outer.new_key())
    video = client.videos.create_and_poll(
        prompt="Relayed", model="relay", seconds="1", size="720x1280"
    )
    assert video.status == "completed", video.error
    assert video.model == "relay"
    data = client.videos.download_content(video.id).content
    assert is_mp4(data)
    thumb = client.videos.download_content(video.id, variant="thumbnail").content
    assert thumb[8:12] == b"WEBP"
    # The inner gateway holds the job under the outer gateway's key, with its own id.
    inner_ids = [v.id for v in inner.openai().videos.list()]
    assert len(inner_ids) == 1 and inner_ids[0] != video.id
    remix = client.videos.remix(video.id, prompt="again, in red")
    assert wait_done(client, remix.id).status == "completed"
    client.videos.delete(video.id)
    assert len(list(inner.openai().videos.list())) == 1  # deleted upstream too


def test_reference_image_through_the_chain(chain: tuple[Gateway, Gateway]) -> None:
    outer, _ = chain
    client = outer.openai(outer.new_key())
    video = client.videos.create(
        prompt="with a first frame",
        model="relay",
        seconds="1",
        input_reference=("f.png", png_bytes(), "image/png"),
    )
    assert wait_done(client, video.id).status == "completed"


# -- the seed's curl examples (seed/video-generation.md, "Example cURL Requests") ------------


@pytest.fixture(scope="module")
def seed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("seed")
    # The seed's examples use master key sk-1234 and model sora-2: allowed on loopback.
    config = standard_config(home, master_key="sk-1234")
    gateway = Gateway(home, config).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _curl(*args: str) -> tuple[int, bytes]:
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, check=True, timeout=60
    ).stdout
    body, _, status = out.rpartition(b"\n")
    return int(status), body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_examples(seed_gateway: Gateway, tmp_path: Path) -> None:
    base = f"{seed_gateway.url}/v1"
    auth = ["-H", "Authorization: Bearer sk-1234"]
    status, body = _curl(
        "-X", "POST", f"{base}/videos", *auth, "-H", "Content-Type: application/json",
        "-d", json.dumps(
            {"prompt": "A cat playing with yarn", "model": "sora-2", "seconds": "4",
             "size": "720x1280"}
        ),
    )  # fmt: skip
    assert status == 200, body
    first = json.loads(body)
    frame = tmp_path / "start_frame.jpg"
    frame.write_bytes(png_bytes(720, 1280))  # named .jpg as in the seed; the type is sniffed
    status, body = _curl(
        "-X", "POST", f"{base}/videos", *auth,
        "-F", "prompt=A cat playing with yarn", "-F", "model=sora-2", "-F", "seconds=4",
        "-F", "size=720x1280", "-F", f"input_reference=@{frame};type=image/jpeg",
    )  # fmt: skip
    assert status == 200, body
    second = json.loads(body)
    status, body = _curl("-X", "GET", f"{base}/videos/{first['id']}", *auth)
    assert status == 200 and json.loads(body)["id"] == first["id"]
    client = seed_gateway.openai("sk-1234")
    wait_done(client, first["id"])
    out = tmp_path / "video.mp4"
    status, _ = _curl(
        "-X", "GET", f"{base}/videos/{first['id']}/content", *auth, "--output", str(out)
    )
    assert status == 200 and is_mp4(out.read_bytes())
    status, body = _curl("-X", "GET", f"{base}/videos", *auth)
    assert status == 200
    assert [v["id"] for v in json.loads(body)["data"]] == [second["id"], first["id"]]
    status, body = _curl("-X", "DELETE", f"{base}/videos/{second['id']}", *auth)
    assert status == 200 and json.loads(body)["deleted"] is True
    status, body = _curl("-X", "GET", f"{base}/videos/video_123", *auth)
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
