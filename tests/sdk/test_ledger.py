"""``list`` through the SDK for a provider with no list endpoint (Runway, providers.md §5):
the SDK notes what it made under ``VIDGATE_HOME`` and retrieves each from the provider."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.fakes.loopback import serve_on_loopback
from tests.fakes.runway_upstream import FakeRunwayState, create_app
from vidgate import AsyncVideoClient, BadRequestError
from vidgate._ids import decode_video_id

MODEL = "runway/gen4.5"


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[FakeRunwayState, str]]:
    state = FakeRunwayState(video_bytes=b"\x00\x00\x00\x18ftypmp42")
    with serve_on_loopback(create_app(state)) as (base_url, _):
        yield state, base_url


@pytest.fixture
def client(_server: tuple[FakeRunwayState, str]) -> AsyncVideoClient:
    _server[0].reset()
    return AsyncVideoClient(api_key="key_test", api_base=_server[1])


async def test_list_pages_through_what_this_sdk_made(
    client: AsyncVideoClient, _server: tuple[FakeRunwayState, str]
) -> None:
    ids = [
        (await client.create(f"clip {i}", model=MODEL, seconds="5", size="1280x720")).id
        for i in range(3)
    ]
    page = await client.list(provider="runway")
    assert [v.id for v in page.data] == ids[::-1] and not page.has_more
    assert all(v.model == MODEL and v.size == "1280x720" for v in page.data)
    first = await client.list(provider="runway", limit=2, order="asc")
    assert [v.id for v in first.data] == ids[:2] and first.has_more
    second = await client.list(provider="runway", limit=2, order="asc", after=first.last_id)
    assert [v.id for v in second.data] == ids[2:] and not second.has_more
    # Each listed video was fetched from the provider (its status is current).
    assert len(_server[0].requests_for("GET", "/v1/tasks/{id}")) >= 3

    await client.delete(ids[0])
    assert [v.id for v in (await client.list(provider="runway")).data] == ids[:0:-1]
    # A video the provider no longer knows drops out of the list.
    with _server[0].lock:
        del _server[0].tasks[decode_video_id(ids[1]).upstream_id]
    assert [v.id for v in (await client.list(provider="runway")).data] == [ids[2]]
    with pytest.raises(BadRequestError) as info:
        await client.list(provider="runway", after="video_local.bm9wZQB4")
    assert info.value.param == "after"


def test_another_process_sees_the_same_list(
    client: AsyncVideoClient, _server: tuple[FakeRunwayState, str]
) -> None:
    code = (
        "import vidgate; "
        f"v = vidgate.create_video('elsewhere', model='{MODEL}', seconds='5', "
        f"size='1280x720', api_key='key_test', api_base='{_server[1]}'); print(v.id)"
    )
    made = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    import vidgate

    page = vidgate.video_list(provider="runway", api_key="key_test", api_base=_server[1])
    assert made in [v.id for v in page.data]
