"""Schema-driven fuzzing of the gateway (issue 8): schemathesis against the gateway's own
``/openapi.json``, in process, with the lifespan (database, poller, engine) running.

Every operation gets a bounded, reproducible number of cases (fixed seed, derandomized). A
case fails on any 5xx, any status, content type, header or body the document does not
describe, and on a hang (no answer within :data:`CALL_TIMEOUT`). Creates go to the fake
OpenAI upstream on loopback, so they are cheap; nothing renders and nothing leaves loopback.

Video ids in paths are fuzzed, or (chosen from the generated id) replaced by real ones: a completed
video, a queued one and another key's video, so the fuzzer reaches content, Range and remix.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai
from vidgate.gateway.app import create_app
from vidgate.gateway.openapi import OPENAPI_PATH, install

from ._fuzz_gateway import MASTER_KEY, WholeVideos, build_gateway, gateway_settings

SEED = 20260924
MAX_EXAMPLES = 40  # per operation, fuzzing phase
CALL_TIMEOUT = 10.0  # seconds: a request without an answer by then is a hang
CASE_DEADLINE = timedelta(seconds=8)
TARGETS = ("fuzzed", "completed", "queued", "other")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Values that broke gateways before (ours included): digits that are not ASCII, numbers past
# a float or a 64-bit integer, host paths and private URLs where a URL belongs, malformed byte
# ranges, ids longer than any we make. Mixed into generated values of their type.
NASTY_STRINGS = [
    "²",
    "٣",
    "0x10",
    " 4 ",
    "/etc/hostname",
    "../../../../etc/hostname",
    "file:///etc/hostname",
    "http://127.0.0.1:1/x.png",
    "data:image/png;base64,iVBORw0KGgo=",
    "data:,x",
    "bytes=0-0",
    "bytes=-1",
    "bytes=5-1",
    "bytes=0-1,2-3",
    "bytes=99999999999999999999-",
    "bytes=abc",
    "items=0-1",
    "1e400",
    "NaN",
    "9" * 40,
    "video_" + "0" * 48,
    "a" * 5000,
    "%00",
    "\\",
]
# Lone surrogates ("\\ud800") are not here: schemathesis cannot generate them (its values
# must encode as UTF-8), so the gateway's own tests cover them.
NASTY_NUMBERS = [1e308, -1e308, 1.7976931348623157e308, 5e-324, -0.0, 2**63, -(2**63) - 1, 2**64]
NASTY_INTEGERS = [2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, 0, -1]
# Field by field: mostly valid values (so a create gets past the model check to the next
# one) mixed with the ones that broke parsers.
FIELD_VALUES: dict[str, list[Any]] = {
    "models": ["sora-2", "sora-2", "sora-2", "sora-2-pro", "openai/sora-2", "²"],
    "seconds": ["4", "8", " 4 ", "04", 4, 8, "²", "٣", "0", "-4", "4.0", "1e1", "9" * 40],
    "sizes": ["720x1280", "1280x720", "720x1280 ", "0x0", "99999x99999", "７20x1280"],
    "urls": [
        "/etc/hostname",
        "../../../../etc/hostname",
        "file:///etc/hostname",
        "http://127.0.0.1:1/x.png",
        "https://127.0.0.1:1/x.png",
        "https://[::1]:1/x.png",
        "https://localhost/x.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:,x",
        "data:image/png;base64,!!",
        "%2Fetc%2Fhostname",
        "\\\\host\\share\\x.png",
    ],
}
_BODY_FIELDS = {
    "body.model": ("models", 0.7),
    "body.seconds": ("seconds", 0.5),
    "body.size": ("sizes", 0.4),
    "body.input_reference.image_url": ("urls", 0.6),
    "body.prompt": ("nasty-strings", 0.1),
    "body.key_alias": ("nasty-strings", 0.2),
    "body.duration": ("nasty-strings", 0.3),
    "body.key": ("nasty-strings", 0.2),
    "body.key_id": ("nasty-strings", 0.2),
    "body.max_budget": ("nasty-numbers", 0.3),
    "body.rpm_limit": ("nasty-integers", 0.3),
    "body.expires_at": ("nasty-integers", 0.3),
}

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "dictionaries": {
            "nasty-strings": {"values": NASTY_STRINGS},
            "nasty-numbers": {"values": NASTY_NUMBERS},
            "nasty-integers": {"values": NASTY_INTEGERS},
            **{name: {"values": values} for name, values in FIELD_VALUES.items()},
        },
        "parameters": {
            name: {"dictionary": dictionary, "probability": probability}
            for name, (dictionary, probability) in _BODY_FIELDS.items()
        },
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "dictionaries": {
                "string": {"dictionary": "nasty-strings", "probability": 0.2},
                "integer": {"dictionary": "nasty-integers", "probability": 0.2},
                "number": {"dictionary": "nasty-numbers", "probability": 0.2},
            },
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": False},
            "stateful": {"enabled": False},
            # Responses carry ids that are random per run: learning from them (reused values,
            # 4xx feedback) would make the generated cases differ between runs.
            "fuzzing": {
                "extra-data-sources": {"responses": False},
                "error-feedback": {"enabled": False},
            },
        },
    }
)


@dataclass
class Fixtures:
    """A running gateway and what it holds for the fuzzer to aim at."""

    app: FastAPI
    user_key: str
    other_key: str
    completed_id: str
    queued_id: str
    other_id: str

    def auth(self, path: str) -> dict[str, str]:
        """The master key manages keys; a virtual key owns videos."""
        key = MASTER_KEY if path.startswith("/key/") else self.user_key
        return {"Authorization": f"Bearer {key}"}


def _document() -> dict[str, Any]:
    """The document of a gateway like the fuzzed one (same routes), built in process at
    import so pytest can make one test per operation; never started. A test checks that
    the running gateway serves this very document."""
    app = create_app(gateway_settings("http://127.0.0.1:9/v1", "sqlite:///:memory:", "unused"))
    install(app)
    return app.openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def _ok(reply: Any) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def _wait_completed(client: asgi.ASGIClient, key: str, video_id: str) -> None:
    deadline = time.monotonic() + 30
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < deadline:
        status = _ok(client.get(f"/v1/videos/{video_id}", headers=headers))["status"]
        if status == "completed":
            return
        assert status in ("queued", "in_progress"), status
        time.sleep(0.02)
    raise TimeoutError(f"{video_id} did not complete")


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOpenAIState, str]]:
    state = WholeVideos(
        polls_to_complete=1,
        poll_after_ms=10,
        video_bytes=4096,
        thumbnail_bytes=512,
        spritesheet_bytes=1024,
        chunk_bytes=1024,
    )
    with run_fake_openai(state) as base_url:
        yield state, base_url


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[FakeOpenAIState, str]
) -> Iterator[Fixtures]:
    """The gateway with its lifespan running on schemathesis' event-loop thread (where its
    ASGI transport sends every request), stopped when the module is done."""
    fake, base_url = upstream
    app = build_gateway(tmp_path_factory.mktemp("fuzz"), base_url)
    master = {"Authorization": f"Bearer {MASTER_KEY}"}
    try:
        with asgi.get_client(app) as client:
            user_key = _ok(client.post("/key/generate", json={}, headers=master))["key"]
            other_key = _ok(client.post("/key/generate", json={}, headers=master))["key"]
            ids = []
            for key in (user_key, user_key, other_key):
                made = client.post(
                    "/v1/videos",
                    json={"prompt": "a fuzzed cat", "seconds": "4"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                ids.append(_ok(made)["id"])
            _wait_completed(client, user_key, ids[0])
            # Keep one job unfinished: the fake finishes a job on its first poll.
            with fake.lock:
                fake.polls_to_complete = 10**9
            queued = client.post(
                "/v1/videos",
                json={"prompt": "still going"},
                headers={"Authorization": f"Bearer {user_key}"},
            )
            ids[1] = _ok(queued)["id"]
            with fake.lock:
                fake.polls_to_complete = 1
        yield Fixtures(
            app=app,
            user_key=user_key,
            other_key=other_key,
            completed_id=ids[0],
            queued_id=ids[1],
            other_id=ids[2],
        )
    finally:
        asgi.shutdown_lifespans()


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=CASE_DEADLINE,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
@schema.parametrize()
def test_gateway_survives_fuzzing(case: Any, gateway: Fixtures) -> None:
    path = case.operation.path.removeprefix("/v1")
    video_id = (case.path_parameters or {}).get("video_id")
    # The generated id picks the target, so the choice is as reproducible as the case.
    target = TARGETS[zlib.crc32(repr(video_id).encode()) % len(TARGETS)]
    if video_id is not None and target != "fuzzed":
        # DELETE gets only the queued video, so the completed one stays for the others.
        if case.method.upper() == "DELETE" and target == "completed":
            target = "queued"
        case.path_parameters["video_id"] = getattr(gateway, f"{target}_id")
    headers = dict(case.headers or {})
    headers.pop("api-key", None)
    headers.update(gateway.auth(path))
    case.headers = headers
    case.call_and_validate(app=gateway.app, checks=CHECKS, timeout=CALL_TIMEOUT)


# -- the document itself ------------------------------------------------------------------------


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, read from its routers, not from the document."""
    found: set[tuple[str, str]] = set()
    for route in fastapi_routing.iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method.lower(), route.path))
    return found


@pytest.fixture(scope="module")
def document(gateway: Fixtures) -> dict[str, Any]:
    with asgi.get_client(gateway.app) as client:
        reply = client.get(OPENAPI_PATH)  # no key needed
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = reply.json()
    return doc


def _schemas_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON Schema in the document (components, parameters, bodies, responses)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                yield value
            elif key == "schemas" and isinstance(value, dict):
                yield from value.values()
            else:
                yield from _schemas_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas_in(item)


def test_openapi_json_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document == DOCUMENT  # what the fuzzer read is what the gateway serves
    assert document["openapi"].startswith("3.1.")
    OPENAPI_31_VALIDATOR.validate(document)
    schemas = list(_schemas_in(document))
    assert len(schemas) > 50
    for item in schemas:
        jsonschema_rs.meta.validate(item)  # each is valid JSON Schema 2020-12
    # Every $ref resolves.
    components = document["components"]["schemas"]
    text = str(document)
    for name in {p.split("'")[0] for p in text.split("#/components/schemas/")[1:]}:
        assert name in components, name


def test_every_route_is_in_the_document(gateway: Fixtures, document: dict[str, Any]) -> None:
    documented = {(m, p) for p, item in document["paths"].items() for m in item}
    routes = _routes(gateway.app)
    assert ("get", OPENAPI_PATH) in routes
    assert ("post", "/v1/videos") in routes and ("post", "/key/generate") in routes
    missing = routes - documented
    assert not missing, f"routes with no entry in /openapi.json: {sorted(missing)}"


def test_every_operation_is_described(document: dict[str, Any]) -> None:
    """FastAPI alone gives a route an empty 200 schema and a 422 that is never sent: an
    operation that still has either was not described in ``vidgate.gateway.openapi``."""
    for path, item in document["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            responses = op["responses"]
            assert "422" not in responses or "Error" in str(responses["422"]), where
            assert "500" in responses, where
            ok = responses["200"]["content"]
            assert all(media["schema"] for media in ok.values()), f"{where}: empty 200 schema"
            for status, response in responses.items():
                if int(status) >= 400 and status != "503":
                    schema_ref = response["content"]["application/json"]["schema"]
                    assert schema_ref == {"$ref": "#/components/schemas/Error"}, where
            public = path.startswith(("/health/", "/metrics", OPENAPI_PATH))
            assert op["security"] == ([] if public else op["security"]) and (
                public or {"bearerAuth": []} in op["security"]
            ), where
            if method == "post":
                assert op["requestBody"]["content"], where


def test_create_and_remix_bodies(document: dict[str, Any]) -> None:
    create = document["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert set(create) == {"application/json", "multipart/form-data"}
    components = document["components"]["schemas"]
    multipart = components["CreateVideoMultipart"]["properties"]
    assert multipart["input_reference"] == {"type": "string", "format": "binary"}
    json_ref = components["CreateVideoJson"]["properties"]["input_reference"]
    assert components[json_ref["$ref"].rsplit("/", 1)[1]]["properties"]["image_url"]
    video = components["Video"]
    spec_keys = {
        "id",
        "object",
        "model",
        "status",
        "progress",
        "created_at",
        "completed_at",
        "expires_at",
        "prompt",
        "size",
        "seconds",
        "remixed_from_video_id",
        "error",
    }
    assert spec_keys | {"usage"} == set(video["required"])
    content = document["paths"]["/v1/videos/{video_id}/content"]["get"]["responses"]
    assert {"200", "206", "416"} <= set(content)
    assert "video/mp4" in content["200"]["content"]
    remix = document["paths"]["/videos/{video_id}/remix"]["post"]["requestBody"]["content"]
    assert remix["application/json"]["schema"] == {"$ref": "#/components/schemas/RemixVideo"}


def test_real_responses_match_the_document(gateway: Fixtures, document: dict[str, Any]) -> None:
    """The fixtures' own replies (a completed video, its list, a key's info) validate."""
    registry = jsonschema_rs.Registry([("urn:gateway", document)])

    def validator(name: str) -> Any:
        return jsonschema_rs.validator_for(
            {"$ref": f"urn:gateway#/components/schemas/{name}"}, registry=registry
        )

    user = {"Authorization": f"Bearer {gateway.user_key}"}
    with asgi.get_client(gateway.app) as client:
        video = _ok(client.get(f"/videos/{gateway.completed_id}", headers=user))
        listing = _ok(client.get("/v1/videos?limit=2", headers=user))
        info = _ok(client.get("/key/info", headers=user))
        missing = client.get("/v1/videos/video_nope", headers=user)
    assert video["status"] == "completed" and video["usage"]["seconds"] == 4.0
    validator("Video").validate(video)
    validator("VideoList").validate(listing)
    validator("KeyInfoResponse").validate(info)
    assert missing.status_code == 404
    validator("Error").validate(missing.json())
    with pytest.raises(jsonschema_rs.ValidationError):
        validator("Video").validate({**video, "status": "cancelled"})
