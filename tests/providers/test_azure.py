"""The ``azure`` provider against the fake in Azure mode (spec §9, providers.md §4.2):
``/openai/v1/videos``, the ``api-key`` header, and the deployment name as ``model``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import vidgate
from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate import AsyncVideoClient, BadRequestError, NotFoundError


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[FakeOpenAIState, str]]:
    state = FakeOpenAIState(azure=True, azure_deployments=("my-sora", "sora-2-pro-east"))
    with run_fake_openai(state) as base_url:
        yield state, base_url.removesuffix("/openai/v1")


@pytest.fixture
def state(_server: tuple[FakeOpenAIState, str]) -> FakeOpenAIState:
    _server[0].reset()
    return _server[0]


@pytest.fixture
def client(_server: tuple[FakeOpenAIState, str], state: FakeOpenAIState) -> AsyncVideoClient:
    # The resource endpoint as the Azure portal shows it; the provider adds /openai/v1.
    return AsyncVideoClient(api_key="sk-test", api_base=_server[1])


async def test_full_cycle_with_api_key_header(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    video = await client.create_and_poll(
        "A cat", model="azure/my-sora", seconds="8", poll_interval=0
    )
    [sent] = state.requests_for("POST", "/openai/v1/videos")
    assert sent.headers["api-key"] == "sk-test" and "authorization" not in sent.headers
    assert sent.json["model"] == "my-sora"
    assert video.model == "azure/my-sora" and video.status == "completed"
    assert video.id.startswith("video_azure.")
    content = await client.download_content(video.id)
    [upstream_id] = state.jobs
    assert content.content == state.expected_content(upstream_id)
    page = await client.list(provider="azure")
    assert [v.id for v in page.data] == [video.id]
    assert (await client.delete(video.id)).deleted
    with pytest.raises(NotFoundError):
        await client.retrieve(video.id)


async def test_azure_limits_are_checked_before_sending(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.create("x", model="azure/my-sora", seconds="16")
    assert info.value.param == "seconds"
    with pytest.raises(BadRequestError) as info:
        await client.create("x", model="azure/my-sora", size="1792x1024")
    assert info.value.param == "size"
    assert state.requests == []
    # A deployment named as Sora 2 Pro takes the pro sizes.
    state.allowed_sizes = ("720x1280", "1280x720", "1024x1792", "1792x1024")
    await client.create("x", model="azure/sora-2-pro-east", size="1792x1024")


async def test_unknown_deployment_is_the_servers_404(
    client: AsyncVideoClient, state: FakeOpenAIState
) -> None:
    with pytest.raises(NotFoundError):
        await client.create("x", model="azure/nope")


async def test_endpoint_from_environment(
    _server: tuple[FakeOpenAIState, str],
    state: FakeOpenAIState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", _server[1] + "/openai/v1")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-test")
    video = await vidgate.acreate_video("x", model="azure/my-sora")
    assert video.status == "queued"


async def test_missing_endpoint_is_a_clear_error(state: FakeOpenAIState) -> None:
    with pytest.raises(BadRequestError) as info:
        await vidgate.acreate_video("x", model="azure/my-sora", api_key="k")
    assert info.value.param == "api_base" and "AZURE_OPENAI_ENDPOINT" in info.value.message
