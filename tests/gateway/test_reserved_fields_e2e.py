"""Through a real gateway, ``POST /v1/videos`` cannot set what is made or billed under a
provider's own field name (issue 8): an unknown field of the create becomes ``extra_body``, and a
reserved one is a 400 in OpenAI's error envelope naming it, with no create upstream, no job and
no spend. The same request without that field goes through, which shows the checks can see a
create when there is one.

One gateway serves the module, in front of every registered provider: the six fakes of
``_providers.py``, the OpenAI fake in OpenAI and in Azure mode, and the built-in ``local`` engine.
Every deployment is priced at ``PRICE`` per second so spend moves for any accepted job.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate import providers

from ._providers import POLL_INTERVAL, Upstream, run_upstreams, token
from .conftest import Gateway, standard_config

PRICE = 0.10
# Per provider: a field of its own that decides what is made or billed, and a value for it.
FIELDS: dict[str, tuple[str, Any]] = {
    "azure": ("n_variants", 2),
    "fal": ("duration", "10"),
    "gemini": ("response_format", {"duration": "15"}),
    "local": ("duration", 20),
    "openai": ("quality", "high"),
    "replicate": ("resolution", "1080p"),
    "runway": ("ratio", "1584:672"),
    "vertex": ("durationSeconds", 8),
    "xai": ("resolution", "1080p"),
}


@dataclass
class Target:
    """One provider behind the gateway: its public model, a valid shape, and how many creates
    whose prompt carries a marker its upstream received (``None``: in process, no upstream)."""

    public: str
    seconds: str
    size: str
    creates: Callable[[str], int] | None


def _fake_creates(up: Upstream) -> Callable[[str], int]:
    def creates(marker: str) -> int:
        return len(up.sent_creates(marker))

    return creates


def _openai_creates(state: FakeOpenAIState) -> Callable[[str], int]:
    def creates(marker: str) -> int:
        with state.lock:
            found = [
                r
                for r in state.requests
                if r.method == "POST"
                and r.path.endswith("/videos")
                and marker in (json.dumps(r.json) + json.dumps(r.form))
            ]
        return len(found)

    return creates


@pytest.fixture(scope="module")
def gateway_and_targets(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gateway, dict[str, Target]]]:
    with contextlib.ExitStack() as stack:
        ups = stack.enter_context(run_upstreams(tmp_path_factory.mktemp("upstreams")))
        openai_state = FakeOpenAIState(polls_to_complete=2, poll_after_ms=10)
        openai_base = stack.enter_context(run_fake_openai(openai_state))
        azure_state = FakeOpenAIState(azure=True, polls_to_complete=2, poll_after_ms=10)
        azure_base = stack.enter_context(run_fake_openai(azure_state))

        deployments: dict[str, dict[str, Any]] = {
            name: {"model": up.model, **up.credentials()} for name, up in ups.items()
        }
        deployments["openai"] = {"model": "openai/sora-2", "api_key": "sk-test",
                                 "api_base": openai_base}  # fmt: skip
        deployments["azure"] = {"model": "azure/sora-2", "api_key": "sk-test",
                                "api_base": azure_base}  # fmt: skip
        deployments["local"] = {"model": "local/preview"}
        targets = {
            name: Target(f"my-{name}", up.seconds, up.size, _fake_creates(up))
            for name, up in ups.items()
        }
        targets["openai"] = Target("my-openai", "4", "720x1280", _openai_creates(openai_state))
        targets["azure"] = Target("my-azure", "4", "720x1280", _openai_creates(azure_state))
        targets["local"] = Target("my-local", "1", "720x1280", None)

        home = tmp_path_factory.mktemp("gw-reserved")
        config = standard_config(home)
        config["model_list"] = [
            {
                "model_name": f"my-{name}",
                "params": {"poll_interval": POLL_INTERVAL, "price_per_second": PRICE, **params},
            }
            for name, params in deployments.items()
        ]
        # The gateway runs in this process: the variable is set here for the module's life.
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("STORAGE_EMULATOR_HOST", ups["vertex"].base_url)
        gw = Gateway(home, config).start()
        stack.callback(gw.stop)
        yield gw, targets


def _spend(gw: Gateway, key: str) -> float:
    with gw.http(key) as http:
        spend: float = http.get("/key/info").json()["info"]["spend"]
    return spend


def _jobs(gw: Gateway, key: str, marker: str) -> list[dict[str, Any]]:
    with gw.http(key) as http:
        reply = http.get("/v1/videos", params={"limit": 100})
    assert reply.status_code == 200, reply.text
    return [v for v in reply.json()["data"] if marker in str(v.get("prompt"))]


def _upstream_creates(target: Target, marker: str) -> int | None:
    return None if target.creates is None else target.creates(marker)


def test_every_registered_provider_has_a_case() -> None:
    assert set(FIELDS) == set(providers.REGISTRY)
    for name, (field, _) in FIELDS.items():
        cls = providers.get(name)
        assert cls is not None and field in cls.reserved_fields, (name, field)


@pytest.mark.parametrize("provider", sorted(FIELDS))
def test_a_reserved_provider_field_is_refused_before_anything_is_made(
    gateway_and_targets: tuple[Gateway, dict[str, Target]], provider: str
) -> None:
    gw, targets = gateway_and_targets
    target = targets[provider]
    field, value = FIELDS[provider]
    key = gw.new_key()
    marker = token()
    body = {
        "model": target.public,
        "prompt": f"A lighthouse at dusk {marker}",
        "seconds": target.seconds,
        "size": target.size,
    }

    with gw.http(key) as http:
        refused = http.post("/v1/videos", json={**body, field: value})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == field and error["code"] == "reserved_parameter"
    assert error["type"] == "invalid_request_error" and field in error["message"]
    assert _upstream_creates(target, marker) in (0, None)
    assert _jobs(gw, key, marker) == []
    assert _spend(gw, key) == 0.0

    # The control: without the field the same create is accepted, sent and charged.
    with gw.http(key) as http:
        accepted = http.post("/v1/videos", json=body)
    assert accepted.status_code == 200, accepted.text
    assert _upstream_creates(target, marker) in (1, None)
    assert len(_jobs(gw, key, marker)) == 1
    assert _spend(gw, key) == pytest.approx(PRICE * float(target.seconds))


def test_a_reserved_field_is_refused_in_a_multipart_create_too(
    gateway_and_targets: tuple[Gateway, dict[str, Target]],
) -> None:
    gw, targets = gateway_and_targets
    target = targets["xai"]
    key = gw.new_key()
    marker = token()
    form = {
        "model": target.public,
        "prompt": f"A lighthouse at dawn {marker}",
        "seconds": target.seconds,
        "size": target.size,
        "duration": "15",
    }
    with gw.http(key) as http:
        # Text parts only, multipart/form-data as the openai SDK sends a create.
        parts = {name: (None, value) for name, value in form.items()}
        refused = http.post("/v1/videos", files=parts)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "duration"
    assert refused.json()["error"]["code"] == "reserved_parameter"
    assert _upstream_creates(target, marker) == 0
    assert _spend(gw, key) == 0.0


# A tenant may not pick whose project or bucket a job uses, nor reach a reserved field inside
# an object the adapter merges into its own.
REFUSED_FIELDS = [
    ("vertex", "vertex_project", "someone-elses-project", "vertex_project", "operator_parameter"),
    ("vertex", "storage_uri", "gs://attacker/out/", "storage_uri", "operator_parameter"),
    (
        "gemini",
        "webhook_config",
        {"uris": ["https://x.test"]},
        "webhook_config",
        "operator_parameter",
    ),
    (
        "gemini",
        "generation_config",
        {"video_config": {"task": "upscale"}},
        "generation_config.video_config",
        "reserved_parameter",
    ),
]


@pytest.mark.parametrize(("provider", "field", "value", "param", "code"), REFUSED_FIELDS)
def test_tenant_cannot_choose_the_account_or_reach_inside_merged_objects(
    gateway_and_targets: tuple[Gateway, dict[str, Target]],
    provider: str,
    field: str,
    value: Any,
    param: str,
    code: str,
) -> None:
    gw, targets = gateway_and_targets
    target = targets[provider]
    key = gw.new_key()
    marker = token()
    with gw.http(key) as http:
        refused = http.post(
            "/v1/videos",
            json={
                "model": target.public,
                "prompt": f"A harbour {marker}",
                "seconds": target.seconds,
                "size": target.size,
                field: value,
            },
        )
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert _upstream_creates(target, marker) == 0
    assert _jobs(gw, key, marker) == [] and _spend(gw, key) == 0.0
