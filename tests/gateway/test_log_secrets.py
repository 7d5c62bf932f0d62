"""No secret reaches a log line: a full run of a gateway at debug level, then every key and
secret the run used is searched for in everything the process wrote.

The run covers what handles secrets: the master key, virtual keys (created, used, looked up,
sent in a query by mistake, revoked), a wrong key, the upstream provider's key (creates, polls
and downloads through the fake upstream), and a webhook's signing secret.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.loopback import serve_on_loopback
from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai

from .conftest import Gateway, standard_config, wait_done

UPSTREAM_KEY = "sk-upstream-3b9e1f0c7a5d2e4f6a8b"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"log-test-secret-0123456789abcdef").decode()
WRONG_KEY = "sk-vg-not-a-real-key-5c7e9a1b3d"


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[list[bytes], str]]:
    received: list[bytes] = []
    lock = threading.Lock()

    async def hook(request: Request) -> Response:
        body = await request.body()
        with lock:
            received.append(body)
        return Response(status_code=204)

    with serve_on_loopback(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as (
        url,
        _server,
    ):
        yield received, f"{url}/hook"


def test_a_debug_run_logs_no_secret(
    tmp_path_factory: pytest.TempPathFactory, hooks: tuple[list[bytes], str]
) -> None:
    received, hook_url = hooks
    state = FakeOpenAIState(polls_to_complete=2, poll_after_ms=10, api_key=UPSTREAM_KEY)
    with run_fake_openai(state) as upstream:
        home = tmp_path_factory.mktemp("gw-log")
        config: dict[str, Any] = standard_config(
            home, webhooks=[{"url": hook_url, "secret": WEBHOOK_SECRET}]
        )
        config["model_list"].append(
            {
                "model_name": "remote",
                "params": {"model": "openai/sora-2", "api_base": upstream, "api_key": UPSTREAM_KEY},
            }
        )
        gateway = Gateway(home, config)
        gateway.start(extra_args=("--log-level", "debug"))
        try:
            secrets = _exercise(gateway)
        finally:
            gateway.stop()
    log = gateway.log.read_text(errors="replace")
    # The run happened, at debug level, and reached every part that handles a secret.
    assert "GET /v1/videos/" in log  # uvicorn's access log
    assert "/key/info?key=" in log  # the refused query, logged with its value redacted
    assert "[REDACTED]" in log
    assert any(b"video.completed" in body for body in received)
    assert [r for r in state.requests if r.method == "POST"]
    leaked = [name for name, secret in secrets.items() if secret in log]
    assert leaked == [], f"secrets in the log: {leaked}"


def _exercise(gateway: Gateway) -> dict[str, str]:
    assert gateway.master_key is not None
    secrets = {
        "master key": gateway.master_key,
        "upstream key": UPSTREAM_KEY,
        "webhook secret": WEBHOOK_SECRET,
        "webhook secret bytes": WEBHOOK_SECRET.removeprefix("whsec_"),
        "wrong key": WRONG_KEY,
    }
    key = gateway.new_key(key_alias="logged")
    revoked = gateway.new_key()
    secrets["virtual key"] = key
    secrets["revoked key"] = revoked
    client = gateway.openai(key)
    for model in ("local/preview", "remote"):
        video = client.videos.create(model=model, prompt="log test", seconds="4")
        assert wait_done(client, video.id).status == "completed"
        assert client.videos.download_content(video.id).read()
    client.videos.list()
    with gateway.http(key) as http:
        assert http.get("/key/info", params={"key": key}).status_code == 400
        # Not read as a key (no key is ever taken from a URL); the access log redacts it.
        assert http.get("/key/info", params={"api_key": key, "key_id": "x"}).status_code == 404
        assert http.post("/key/info", json={"key": key}).status_code == 200
        assert http.get("/key/info", headers={"x-vidgate-key": key}).status_code == 200
    with gateway.http(WRONG_KEY) as http:
        assert http.get("/v1/videos").status_code == 401
    with gateway.admin() as admin:
        assert admin.post("/key/delete", json={"keys": [revoked]}).status_code == 200
        assert admin.get("/key/list").status_code == 200
    with gateway.http(revoked) as http:
        assert http.get("/v1/videos").status_code == 401
    return secrets
