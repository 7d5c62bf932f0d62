"""Outbound URL checks: links from upstream responses cannot reach the machine's own network."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import serve_on_loopback
from vidgate import AsyncVideoClient, PermissionDeniedError
from vidgate._urlguard import check_url, refusal


@pytest.mark.parametrize(
    ("ip", "trusted", "refused"),
    [
        ("169.254.169.254", True, True),  # cloud metadata: never, even if configured
        ("fe80::1", True, True),
        ("0.0.0.0", True, True),
        ("224.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("192.168.0.7", False, True),
        ("127.0.0.1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("127.0.0.1", True, False),
        ("10.1.2.3", True, False),
        ("8.8.8.8", False, False),
        ("2606:4700::1111", False, False),
    ],
)
def test_refusal_by_address(ip: str, trusted: bool, refused: bool) -> None:
    assert (refusal(ipaddress.ip_address(ip), trusted=trusted) is not None) is refused


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example/video.mp4",
        "file:///etc/passwd",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/video.mp4",
        "http://localhost:9/video.mp4",
        "http://[::1]:9/video.mp4",
    ],
)
async def test_untrusted_links_are_refused(url: str) -> None:
    with pytest.raises(PermissionDeniedError) as info:
        await check_url(url, trusted_host="api.provider.example")
    assert info.value.code == "outbound_url_refused"


async def test_the_configured_host_is_trusted() -> None:
    await check_url("http://127.0.0.1:9/v1/videos/x/content", trusted_host="127.0.0.1")
    await check_url("http://localhost:9/cdn/x.mp4", trusted_host="localhost")


async def test_a_redirect_into_the_metadata_service_is_not_followed() -> None:
    hits: list[str] = []

    async def content(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("http://169.254.169.254/latest/meta-data/iam", status_code=302)

    app = Starlette(routes=[Route("/v1/videos/{vid}/content", content)])
    with serve_on_loopback(app) as (base, _server):
        client = AsyncVideoClient(api_key="k", api_base=f"{base}/v1", max_retries=0)
        with pytest.raises(PermissionDeniedError) as info:
            await client.download_content("video_abc")
    assert hits == ["/v1/videos/video_abc/content"]
    assert "169.254.169.254" in info.value.message
