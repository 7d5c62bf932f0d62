"""The ``vertex`` provider (providers.md §3) through the SDK against the fake Vertex upstream
on loopback: service-account tokens minted by a fake token endpoint that checks the JWT's
signature, LRO create/poll, inline and GCS output, errors and prices."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

import vidgate
from tests.fakes.clock import Sleeps
from tests.fakes.loopback import serve_on_loopback
from tests.fakes.vertex_upstream import RAI_REASON, FakeVertexState, create_app
from vidgate import (
    AsyncVideoClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    VideoGenerationFailed,
)
from vidgate._engine import Engine
from vidgate.local.render import render
from vidgate.providers import _google_auth

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64
EMAIL = "veo@test-project.iam.gserviceaccount.com"
_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "VERTEXAI_CREDENTIALS",
    "VERTEXAI_API_BASE",
    "VERTEXAI_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "VERTEXAI_LOCATION",
    "GOOGLE_CLOUD_LOCATION",
    "STORAGE_EMULATOR_HOST",
)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def _keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The service account's throwaway key, and a stranger's key the fake does not know."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture(scope="module")
def _server(
    tmp_path_factory: pytest.TempPathFactory, _keys: tuple[rsa.RSAPrivateKey, Any]
) -> Iterator[tuple[FakeVertexState, str]]:
    video = render(
        "veo fake", out_dir=tmp_path_factory.mktemp("mp4"), width=320, height=180, seconds=1
    )
    public = (
        _keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    state = FakeVertexState(
        video=video.video.read_bytes(), client_email=EMAIL, public_key_pem=public
    )
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url


@pytest.fixture
def state(_server: tuple[FakeVertexState, str], monkeypatch: pytest.MonkeyPatch) -> FakeVertexState:
    _server[0].reset()
    _google_auth.TOKEN_CACHE.clear()
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _server[1])
    return _server[0]


@pytest.fixture
def base(_server: tuple[FakeVertexState, str]) -> str:
    return _server[1]


def _key_info(base: str, key: rsa.RSAPrivateKey) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": "kid-1",
        "private_key": _pem(key),
        "client_email": EMAIL,
        "token_uri": f"{base}/token",
    }


@pytest.fixture
def key_file(tmp_path: Path, base: str, _keys: tuple[rsa.RSAPrivateKey, Any]) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(_key_info(base, _keys[0])))
    return path


@pytest.fixture
def client(state: FakeVertexState, base: str, key_file: Path, sleeps: Sleeps) -> AsyncVideoClient:
    return AsyncVideoClient(
        api_key=str(key_file), api_base=base, engine=Engine(sleep=sleeps, rand=lambda: 0.0)
    )


def _decodes(data: bytes) -> bool:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).width > 0


async def test_create_maps_the_request_and_mints_a_token(
    client: AsyncVideoClient, state: FakeVertexState, base: str
) -> None:
    video = await client.create(
        "A fox in snow",
        model="vertex/veo-3.1-generate-001",
        seconds="6",
        size="720x1280",
        input_reference=("first.png", PNG, "image/png"),
        extra_body={
            "negative_prompt": "blur",
            "seed": 42,
            "vertex_project": "proj-x",
            "vertex_location": "europe-west4",
            "last_frame": "gs://frames/last.png",
            "enhancePrompt": False,
        },
    )
    [token_req] = state.requests_to("/token")
    assert token_req.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(token_req.form["assertion"], verify=False)
    assert claims["iss"] == EMAIL and claims["aud"] == f"{base}/token"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] - claims["iat"] == 3600
    [sent] = state.requests_to(":predictLongRunning")
    assert sent.path == (
        "/v1/projects/proj-x/locations/europe-west4/publishers/google/models/"
        "veo-3.1-generate-001:predictLongRunning"
    )
    assert sent.headers["authorization"] == f"Bearer {state.minted[0]}"
    assert sent.json == {
        "instances": [
            {
                "prompt": "A fox in snow",
                "image": {
                    "bytesBase64Encoded": base64.b64encode(PNG).decode(),
                    "mimeType": "image/png",
                },
                "lastFrame": {"gcsUri": "gs://frames/last.png", "mimeType": "image/png"},
            }
        ],
        "parameters": {
            "sampleCount": 1,
            "durationSeconds": 6,
            "aspectRatio": "9:16",
            "resolution": "720p",
            "generateAudio": True,
            "negativePrompt": "blur",
            "seed": 42,
            "enhancePrompt": False,
        },
    }
    assert video.status == "in_progress" and video.progress == 0
    assert (video.model, video.size, video.seconds) == (
        "vertex/veo-3.1-generate-001",
        "720x1280",
        "6",
    )
    assert video.id.startswith("video_vertex.")


async def test_veo2_and_4k_mapping(client: AsyncVideoClient, state: FakeVertexState) -> None:
    await client.create(
        "x",
        model="vertex/veo-2.0-generate-001",
        seconds="5",
        size="1280x720",
        extra_body={"generate_audio": False},
    )
    await client.create(
        "x",
        model="vertex/veo-3.1-fast-generate-001",
        size="2160x3840",
        extra_body={"generateAudio": False},
    )
    veo2, fast = (r.json["parameters"] for r in state.requests_to(":predictLongRunning"))
    assert veo2 == {"sampleCount": 1, "durationSeconds": 5, "aspectRatio": "16:9"}
    assert fast == {
        "sampleCount": 1,
        "durationSeconds": 8,
        "aspectRatio": "9:16",
        "resolution": "4k",
        "generateAudio": False,
    }
    # Project from the key file, region defaulted (§3).
    assert "/projects/key-project/locations/us-central1/" in state.requests_to(":predict")[0].path


async def test_poll_to_completion_and_inline_content(
    client: AsyncVideoClient, state: FakeVertexState
) -> None:
    state.polls_to_complete = 3
    seen: list[tuple[str, int]] = []
    video = await client.create_and_poll(
        "A cat",
        model="vertex/veo-3.1-generate-001",
        poll_interval=0,
        on_progress=lambda v: seen.append((v.status, v.progress)),
    )
    assert seen == [
        ("in_progress", 0),
        ("in_progress", 50),
        ("in_progress", 50),
        ("completed", 100),
    ]
    assert video.status == "completed" and video.error is None
    fetches = state.requests_to(":fetchPredictOperation")
    [op_name] = state.operations
    assert fetches[0].json == {"operationName": op_name}
    assert fetches[0].path.endswith("/models/veo-3.1-generate-001:fetchPredictOperation")
    assert len(state.requests_to("/token")) == 1  # cached for every later call
    content = await client.download_content(video.id)
    assert content.content == state.video and content.content_type == "video/mp4"
    thumb = await client.download_content(video.id, variant="thumbnail")
    sheet = await client.download_content(video.id, variant="spritesheet")
    assert thumb.content_type == "image/webp" and thumb.content[8:12] == b"WEBP"
    assert sheet.content_type == "image/jpeg" and sheet.content[:3] == b"\xff\xd8\xff"
    assert _decodes(thumb.content) and _decodes(sheet.content)
    assert state.requests_to("/storage/") == []  # inline: nothing else was downloaded


async def test_gcs_output_is_read_with_the_token_and_expiry_is_clear(
    client: AsyncVideoClient, state: FakeVertexState
) -> None:
    video = await client.create_and_poll(
        "A cat",
        model="vertex/veo-3.1-lite-generate-001",
        size="1920x1080",
        poll_interval=0,
        extra_body={"storage_uri": "gs://my-bucket/out/"},
    )
    assert (
        state.requests_to(":predict")[0].json["parameters"]["storageUri"] == "gs://my-bucket/out/"
    )
    content = await client.download_content(video.id)
    assert content.content == state.video
    [get] = state.requests_to("/storage/v1/b/my-bucket/o/")
    assert get.query == {"alt": "media"}
    assert get.headers["authorization"] == f"Bearer {state.minted[0]}"
    thumb = await client.download_content(video.id, variant="thumbnail")
    assert _decodes(thumb.content)
    state.objects.clear()  # a bucket lifecycle rule removed it
    with pytest.raises(NotFoundError) as info:
        await client.download_content(video.id)
    assert (
        info.value.code == "download_link_expired"
        and "no longer in Cloud Storage" in info.value.message
    )


async def test_failure_and_moderation_carry_the_providers_reason(
    client: AsyncVideoClient, state: FakeVertexState
) -> None:
    with pytest.raises(VideoGenerationFailed) as failed:
        await client.create_and_poll("FAIL", model="vertex/veo-3.1-generate-001", poll_interval=0)
    assert failed.value.code == "internal" and "internal error" in failed.value.message
    with pytest.raises(VideoGenerationFailed) as blocked:
        await client.create_and_poll("BLOCK", model="vertex/veo-3.1-generate-001", poll_interval=0)
    assert blocked.value.code == "moderation_blocked"
    assert blocked.value.video.error is not None and blocked.value.video.error.message == RAI_REASON
    with pytest.raises(BadRequestError) as not_ready:
        await client.download_content(blocked.value.video.id)
    assert not_ready.value.code == "video_not_ready"


async def test_429_is_retried_after_the_servers_delay(
    client: AsyncVideoClient, state: FakeVertexState, sleeps: Sleeps
) -> None:
    fault = state.inject(
        method="POST", path_part=":predictLongRunning", status=429, headers={"Retry-After": "7"}
    )
    video = await client.create("A cat", model="vertex/veo-3.1-generate-001")
    assert fault.served == 1 and len(state.operations) == 1 and video.status == "in_progress"
    assert sleeps.calls == [7.0]


async def test_token_is_refreshed_shortly_before_expiry(
    client: AsyncVideoClient, state: FakeVertexState, base: str
) -> None:
    video = await client.create("A cat", model="vertex/veo-3.1-generate-001")
    await client.retrieve(video.id)
    assert len(state.minted) == 1
    key = (EMAIL, _google_auth.CLOUD_PLATFORM_SCOPE, f"{base}/token")
    # The cached token now expires in 200 s, inside the refresh margin: the next call renews.
    _google_auth.TOKEN_CACHE.put(key, state.minted[0], time.time() + 200)
    await client.retrieve(video.id)
    assert len(state.minted) == 2
    fetches = state.requests_to(":fetchPredictOperation")
    assert fetches[-1].headers["authorization"] == f"Bearer {state.minted[1]}"


def test_token_cache_expiry_rule() -> None:
    cache = _google_auth.TokenCache()
    cache.put(("a", "s"), "t", expires_at=1000.0)
    assert cache.get(("a", "s"), now=699.0) == "t"
    assert cache.get(("a", "s"), now=700.0) is None  # REFRESH_MARGIN = 300 s
    assert cache.get(("b", "s"), now=0.0) is None


async def test_auth_failures(
    state: FakeVertexState, base: str, tmp_path: Path, _keys: tuple[Any, rsa.RSAPrivateKey]
) -> None:
    stranger = json.dumps(_key_info(base, _keys[1]))  # JSON text in api_key works too
    client = AsyncVideoClient(api_key=stranger, api_base=base)
    with pytest.raises(AuthenticationError) as bad_key:
        await client.create("x", model="vertex/veo-3.1-generate-001")
    assert (
        bad_key.value.code == "invalid_grant" and "Invalid JWT Signature" in bad_key.value.message
    )
    assert state.requests_to(":predict") == []
    token_client = AsyncVideoClient(api_key="ya29.revoked", api_base=base)
    with pytest.raises(AuthenticationError) as bad_token:
        await token_client.create(
            "x", model="vertex/veo-3.1-generate-001", extra_body={"vertex_project": "p"}
        )
    assert bad_token.value.code == "UNAUTHENTICATED"
    state.requests.clear()
    for api_key in (None, str(tmp_path / "missing.json")):
        with pytest.raises(AuthenticationError):
            await AsyncVideoClient(api_key=api_key, api_base=base).create(
                "x", model="vertex/veo-3.1-generate-001"
            )
    assert state.requests == []


async def test_credentials_project_and_region_from_the_environment(
    state: FakeVertexState, base: str, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("VERTEXAI_API_BASE", base)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "asia-northeast1")
    video = await AsyncVideoClient().create("x", model="vertex/veo-3.0-generate-001")
    [sent] = state.requests_to(":predict")
    assert sent.path.startswith("/v1/projects/env-project/locations/asia-northeast1/")
    # api_base may carry the version, project and region (v1beta1, as google-genai 3.6.1).
    client = AsyncVideoClient(
        api_key="ya29.static", api_base=f"{base}/v1beta1/projects/base-proj/locations/us-east5"
    )
    await client.create("x", model="vertex/veo-3.0-generate-001")
    assert state.requests_to(":predict")[-1].path.startswith(
        "/v1beta1/projects/base-proj/locations/us-east5/publishers/google/models/"
    )
    assert (await AsyncVideoClient().retrieve(video.id)).status == "in_progress"


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("veo-3.1-generate-001", {"seconds": "5"}, "seconds"),
        ("veo-2.0-generate-001", {"seconds": "4"}, "seconds"),
        ("veo-3.1-lite-generate-001", {"size": "3840x2160"}, "size"),
        ("veo-2.0-generate-001", {"size": "1920x1080"}, "size"),
        ("veo-3.1-generate-001", {"size": "960x960"}, "size"),
        ("veo-2.0-generate-001", {"extra_body": {"generate_audio": True}}, "generate_audio"),
        ("veo-3.1-generate-001", {"extra_body": {"seed": -1}}, "seed"),
        ("veo-3.1-generate-001", {"extra_body": {"seed": 2**32}}, "seed"),
        ("veo-3.1-generate-001", {"extra_body": {"sample_count": 2}}, "sample_count"),
        ("veo-3.1-generate-001", {"extra_body": {"last_frame": 7}}, "last_frame"),
        (
            "veo-3.1-generate-001",
            {"input_reference": "https://example.com/a.png"},
            "input_reference",
        ),
        ("veo-9", {}, "model"),
    ],
)
async def test_unsupported_values_are_refused_before_any_request(
    client: AsyncVideoClient, state: FakeVertexState, model: str, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.create("A cat", model=f"vertex/{model}", **kwargs)
    assert info.value.param == param and info.value.status_code == 400
    assert state.requests == []


async def test_missing_project_is_refused_before_any_request(
    state: FakeVertexState, base: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        await AsyncVideoClient(api_key="ya29.static", api_base=base).create(
            "x", model="vertex/veo-3.1-generate-001"
        )
    assert info.value.param == "vertex_project" and state.requests == []


@pytest.mark.parametrize(
    ("model", "size", "seconds", "cost"),
    [
        ("veo-3.1-generate-001", "1280x720", "8", 3.20),
        ("veo-3.1-generate-001", "3840x2160", "8", 4.80),
        ("veo-3.1-fast-generate-001", "1080x1920", "6", 0.72),
        ("veo-3.1-fast-generate-001", "2160x3840", "4", 1.20),
        ("veo-3.1-lite-generate-001", "1280x720", "4", 0.20),
        ("veo-3.1-lite-generate-001", "1920x1080", "8", 0.64),
        ("veo-3.0-generate-001", "1920x1080", "8", 3.20),
        ("veo-2.0-generate-001", "720x1280", "5", 2.50),
    ],
)
async def test_cost_in_usage(
    client: AsyncVideoClient,
    state: FakeVertexState,
    model: str,
    size: str,
    seconds: str,
    cost: float,
) -> None:
    video = await client.create("A cat", model=f"vertex/{model}", size=size, seconds=seconds)
    assert video.usage is not None and video.usage.cost_usd == pytest.approx(cost)
    polled = await client.retrieve(video.id)  # size and seconds ride in the id
    assert polled.usage is not None and polled.usage.cost_usd == pytest.approx(cost)


async def test_delete_sends_nothing_and_expired_operations_are_not_found(
    client: AsyncVideoClient, state: FakeVertexState
) -> None:
    video = await client.create("A cat", model="vertex/veo-3.1-generate-001")
    state.requests.clear()
    deleted = await client.delete(video.id)
    assert (deleted.id, deleted.deleted) == (video.id, True) and state.requests == []
    state.operations.clear()  # Vertex forgot the operation
    with pytest.raises(NotFoundError) as info:
        await client.retrieve(video.id)
    assert info.value.code == "NOT_FOUND"


async def test_seed_api_functions(state: FakeVertexState, base: str, key_file: Path) -> None:
    creds = {"api_key": str(key_file), "api_base": base}
    video = await vidgate.acreate_video("A cat", model="vertex/veo-3.1-generate-001", **creds)
    # Left out, seconds and size are the model's defaults, as in the client and the gateway.
    assert (video.seconds, video.size) == ("8", "1280x720")
    state.polls_to_complete = 1
    assert (await vidgate.avideo_retrieve(video.id, **creds)).status == "completed"
    content = await vidgate.avideo_content(video.id, stream=True, **creds)
    assert await content.aread() == state.video
    assert (await vidgate.avideo_delete(video.id, **creds)).deleted
