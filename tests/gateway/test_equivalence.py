"""The same create, from the seed functions, the client and the gateway, sends the same request
to every registered provider (issue 9: one preparation path).

An engine that records what it is asked to send stands in for the network: it answers the
requests that come before a create (Vertex's token exchange) with a canned token, and stops at
the create itself, which is what is compared. The gateway adds its own ``Idempotency-Key`` (the
job id) where a provider takes one; that key is the one difference allowed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

import vidgate
import vidgate._api
from vidgate import APIConnectionError, AsyncVideoClient, providers
from vidgate._engine import Engine
from vidgate._models import Request, Response
from vidgate.gateway import Settings, create_app
from vidgate.providers import Provider

from .conftest import png_bytes

PNG = png_bytes(64, 64)
_JOB_ID = re.compile(r"video_[0-9a-f]{48}")


class Stop(APIConnectionError):
    """Raised in place of sending a create: the test has what it wanted."""


class RecordingEngine(Engine):
    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.creates: list[Request] = []

    async def send(
        self,
        provider: Provider,
        request: Request,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Response:
        if request.creates_job:
            self.creates.append(request)
            raise Stop("recorded, not sent")
        # Anything before the create (an OAuth token exchange) gets a usable answer.
        token = {"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"}
        return Response(200, {"content-type": "application/json"}, json.dumps(token).encode())


def _model(name: str, *, image: bool = False) -> str:
    """The provider's first model (that takes an image, with ``image``)."""
    cls = providers.get(name)
    assert cls is not None
    models = [m for m, caps in cls.models.items() if caps.image_input or not image]
    return f"{name}/{models[0]}"


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path_factory.mktemp("sa") / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "svc@p.iam.gserviceaccount.com",
                "private_key": pem,
                "private_key_id": "k1",
                "token_uri": "https://oauth2.test/token",
                "project_id": "p",
            }
        )
    )
    creds = {name: {"api_key": f"key-{name}", "api_base": f"https://{name}.test/v1"} for name in
             providers.REGISTRY}  # fmt: skip
    creds["vertex"] = {
        "api_key": str(key_file),
        "api_base": "https://vertex.test/v1/projects/p/locations/us-central1",
    }
    del creds["local"]["api_base"], creds["local"]["api_key"]
    return creds


@pytest.fixture(scope="module")
def gateway(
    credentials: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, RecordingEngine]]:
    home: Path = tmp_path_factory.mktemp("gw-equivalence")
    settings = Settings.model_validate(
        {
            "model_list": [
                {"model_name": f"p-{name}{suffix}", "params": {"model": model, **creds}}
                for name, creds in credentials.items()
                for suffix, model in (("", _model(name)), ("-image", _model(name, image=True)))
            ],
            "general_settings": {
                "database_url": f"sqlite:///{home / 'gw.db'}",
                "storage_dir": str(home / "storage"),
            },
        }
    )
    engine = RecordingEngine()
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, engine


def _normal(request: Request) -> dict[str, Any]:
    """The request with the gateway's own idempotency key (its job id) taken out."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != "idempotency-key"}
    shape = {
        "method": request.method,
        "url": request.url,
        "headers": headers,
        "params": request.params,
        "json": request.json,
        "data": request.data,
        "files": request.files,
    }
    return json.loads(_JOB_ID.sub("video_ID", json.dumps(shape, default=repr)))


INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("explicit", {"seconds": "explicit", "size": "explicit"}),
    ("image", {"seconds": "explicit", "size": "explicit", "image": True}),
]


@pytest.mark.parametrize("name", sorted(providers.REGISTRY))
@pytest.mark.parametrize(("label", "shape"), INPUTS, ids=[i[0] for i in INPUTS])
def test_the_same_create_sends_the_same_request_from_every_entry_point(
    name: str,
    label: str,
    shape: dict[str, Any],
    credentials: dict[str, dict[str, str]],
    gateway: tuple[TestClient, RecordingEngine],
) -> None:
    image = bool(shape.get("image"))
    model = _model(name, image=image)
    cls = providers.get(name)
    assert cls is not None
    caps = cls.models[model.split("/", 1)[1]]
    creds = credentials[name]
    reference = ("ref.png", PNG, "image/png") if image else None
    args: dict[str, Any] = {"prompt": f"A lighthouse, {label}"}
    if shape.get("seconds"):
        # Not the defaults, so a path that ignored the argument would show; the first shape
        # this model makes with this input.
        args.update(_other_shape(model, caps, reference, creds))

    # 1. the seed function
    seed_engine = RecordingEngine()
    vidgate._api._default = AsyncVideoClient(engine=seed_engine)
    try:
        with pytest.raises(Stop):
            asyncio.run(
                vidgate.acreate_video(model=model, input_reference=reference, **args, **creds)
            )
    finally:
        vidgate._api._default = None

    # 2. the client
    client_engine = RecordingEngine()
    client = AsyncVideoClient(engine=client_engine, **creds)
    with pytest.raises(Stop):
        asyncio.run(client.create(model=model, input_reference=reference, **args))

    # 3. the gateway
    http, gateway_engine = gateway
    gateway_engine.creates.clear()
    form = {"model": f"p-{name}" + ("-image" if image else ""), **args}
    if shape.get("image"):
        reply = http.post("/v1/videos", data=form, files={"input_reference": reference})
    else:
        reply = http.post("/v1/videos", json=form)
    assert reply.status_code == 502, reply.text  # the recorded create was not sent

    [seed], [direct], [through_gateway] = (
        seed_engine.creates,
        client_engine.creates,
        gateway_engine.creates,
    )
    assert _normal(seed) == _normal(direct) == _normal(through_gateway)
    if shape.get("seconds"):
        assert args["seconds"] in json.dumps(_normal(direct))


def _other_shape(model: str, caps: Any, reference: Any, creds: dict[str, str]) -> dict[str, str]:
    seconds = [s for s in (caps.seconds or ("5",)) if s != caps.default_seconds] or [
        caps.default_seconds
    ]
    sizes = [s for s in (caps.sizes or ("1280x720",)) if s != caps.default_size] or [
        caps.default_size
    ]
    for size in sizes:
        for second in reversed(seconds):
            client = AsyncVideoClient(engine=RecordingEngine(), **creds)
            try:
                asyncio.run(
                    client.create(
                        "probe", model=model, seconds=second, size=size, input_reference=reference
                    )
                )
            except Stop:
                return {"seconds": second, "size": size}
            except vidgate.BadRequestError:
                continue
    # (Replicate's Hailuo takes its shape from the image: only the default is left.)
    return {"seconds": caps.default_seconds, "size": caps.default_size}


def test_zero_seconds_is_refused_everywhere(gateway: tuple[TestClient, RecordingEngine]) -> None:
    """``seconds="0"`` once became the default in the SDK and a 400 in the gateway."""
    for seconds in ("0", 0):
        with pytest.raises(vidgate.BadRequestError) as info:
            asyncio.run(vidgate.acreate_video("x", model="local/preview", seconds=seconds))
        assert info.value.param == "seconds"
        reply = gateway[0].post(
            "/v1/videos", json={"model": "p-local", "prompt": "x", "seconds": seconds}
        )
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "seconds"
