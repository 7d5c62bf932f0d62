"""One auth hook (issue 9): ``Provider.headers`` builds every adapter's API headers the same
way, and ``auth_headers`` is the one thing an adapter says about its credentials. The wire
headers here are the ones each provider's spec and fake expect."""

from __future__ import annotations

from typing import Any

import pytest

import vidgate.providers as registry
from vidgate import AuthenticationError
from vidgate._constants import USER_AGENT
from vidgate._models import Credentials
from vidgate.providers import Provider, _google_auth
from vidgate.providers.vertex import VertexProvider

COMMON = {"User-Agent": USER_AGENT, "Accept": "application/json"}
CREDS = Credentials(
    api_key="K", api_base="https://up.example/v1", organization="org-1", extra_headers={"X-E": "1"}
)
# provider -> its auth headers for api_key "K" and organization "org-1".
AUTH: dict[str, dict[str, str]] = {
    "openai": {"Authorization": "Bearer K", "OpenAI-Organization": "org-1"},
    "local": {"Authorization": "Bearer K", "OpenAI-Organization": "org-1"},
    "azure": {"api-key": "K"},
    "fal": {"Authorization": "Key K"},
    "replicate": {"Authorization": "Bearer K"},
    "runway": {"Authorization": "Bearer K", "X-Runway-Version": "2024-11-06"},
    "xai": {"Authorization": "Bearer K"},
    "gemini": {"x-goog-api-key": "K"},
}
KEYLESS_OK = {"openai", "local", "azure", "fal", "replicate"}


def _adapter(name: str, creds: Credentials = CREDS) -> Provider:
    cls = registry.get(name)
    assert cls is not None
    return cls(creds)


def test_every_provider_is_pinned() -> None:
    assert {*AUTH, "vertex"} == set(registry.names())


@pytest.mark.parametrize("name", sorted(AUTH))
def test_headers_are_common_then_auth_then_extra(name: str) -> None:
    headers = _adapter(name).headers()
    assert headers == {**COMMON, **AUTH[name], "X-E": "1"}
    assert list(headers)[:2] == ["User-Agent", "Accept"] and list(headers)[-1] == "X-E"


@pytest.mark.parametrize("name", sorted(AUTH))
def test_callers_extra_headers_win(name: str) -> None:
    creds = Credentials(api_key="K", extra_headers={"Accept": "video/mp4", "X-E": "2"})
    headers = _adapter(name, creds).headers()
    assert headers["Accept"] == "video/mp4" and headers["X-E"] == "2"


@pytest.mark.parametrize("name", sorted(AUTH))
def test_without_a_key(name: str) -> None:
    adapter = _adapter(name, Credentials())
    if name in KEYLESS_OK:
        # An OpenAI-compatible server may need no key; fal and Replicate answer 401 themselves.
        assert not {"Authorization", "api-key"} & set(adapter.headers())
        return
    with pytest.raises(AuthenticationError) as info:
        adapter.headers()
    assert info.value.code == "missing_api_key" and info.value.status_code == 401
    assert adapter.env_api_key[0] in info.value.message


def test_downloads_from_other_hosts_carry_no_credentials() -> None:
    for name in registry.names():
        assert _adapter(name).public_headers() == {"User-Agent": USER_AGENT}, name


def _finish(flow: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        next(flow)
    return stop.value.value


def test_vertex_auth_is_a_flow_around_the_same_common_headers() -> None:
    vertex = VertexProvider(CREDS)
    creds = _google_auth.load_credentials("ya29.token")
    assert _finish(vertex._headers(creds)) == {
        **COMMON,
        "Authorization": "Bearer ya29.token",
        "X-E": "1",
    }
    # api_key may hold a service-account key: it never becomes a header by itself.
    with pytest.raises(NotImplementedError):
        vertex.headers()
