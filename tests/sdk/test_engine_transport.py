"""The engine takes a transport (issue 9): ``Engine(transport=MockTransport(handler))`` runs
any provider's flows with no network, and the built-in engine is a transport mounted from
settings, so two of them in one process keep apart whatever ``VIDGATE_HOME`` says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidgate import AsyncVideoClient, NotFoundError
from vidgate._engine import Engine
from vidgate._models import Request, Response
from vidgate._transport import MockTransport
from vidgate.local import LOCAL_BASE, LocalSettings, transport

VIDEO = {
    "id": "video_abc",
    "object": "video",
    "model": "sora-2",
    "status": "queued",
    "progress": 0,
    "created_at": 1,
    "size": "720x1280",
    "seconds": "4",
}


async def test_a_mock_transport_answers_every_request() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        if request.method == "GET" and request.url.endswith("/videos/video_gone"):
            body = {"error": {"message": "gone", "type": "invalid_request_error"}}
            return Response(404, {"content-type": "application/json"}, json.dumps(body).encode())
        return Response(200, {"content-type": "application/json"}, json.dumps(VIDEO).encode())

    client = AsyncVideoClient(
        api_key="k",
        api_base="https://api.example/v1",
        engine=Engine(transport=MockTransport(handler)),
    )
    video = await client.create("A fox", model="sora-2")
    assert video.status == "queued" and seen[0].url == "https://api.example/v1/videos"
    assert seen[0].json["prompt"] == "A fox"
    with pytest.raises(NotFoundError):
        await client.retrieve("video_gone")


async def test_local_engines_are_built_from_their_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDGATE_HOME", str(tmp_path / "ignored"))
    roots = [tmp_path / "a", tmp_path / "b"]
    clients = [
        AsyncVideoClient(
            engine=Engine(
                mounts={LOCAL_BASE: lambda root=root: transport(LocalSettings(root, workers=1))}
            )
        )
        for root in roots
    ]
    made = [
        await c.create(f"Fox {i}", model="local/preview", seconds="1")
        for i, c in enumerate(clients)
    ]
    for root, video in zip(roots, made, strict=True):
        jobs = list((root / "videos").iterdir())
        assert len(jobs) == 1 and json.loads((jobs[0] / "job.json").read_text())["prompt"] == (
            video.prompt
        )
    assert not (tmp_path / "ignored").exists()
    # Each engine sees only its own jobs.
    with pytest.raises(NotFoundError):
        await clients[0].retrieve(made[1].id)
    for client in clients:
        await client.wait((await client.list(provider="local")).data[0].id)
