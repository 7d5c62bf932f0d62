"""``extra_body`` cannot set, under a provider's own field name, what is made or billed (issue 8).

Every registered provider declares ``reserved_fields``; the SDK refuses each of them (and the
standard fields) with a 400 naming the field before anything is sent. The names are checked
against what each adapter really puts on the wire: a create is built twice with different
``seconds`` or ``size`` and every field whose value changes must be reserved, and no
``extra_body`` (a top-level key or an object merged into one) may change it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import vidgate
import vidgate._api
from vidgate import AsyncVideoClient, BadRequestError, providers
from vidgate._engine import Engine
from vidgate._models import Credentials, Flow, Request
from vidgate._validation import ALWAYS_RESERVED, check_extra_body
from vidgate.providers import Provider
from vidgate.types.params import CreateParams, ImageInput

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x40" * 2 + b"\x00" * 24  # 64x64
REFERENCE = ImageInput(filename="ref.png", data=PNG, content_type="image/png")
# Endpoints for the adapters that have no default one (nothing is sent to them).
API_BASES = {
    "azure": "https://azure.example.invalid",
    "vertex": "https://vertex.example.invalid/v1/projects/p/locations/us-central1",
}
SNEAKED = "set-through-extra-body"

Path = tuple[str | int, ...]


def _registered() -> list[type[Provider]]:
    found = [providers.get(name) for name in sorted(providers.REGISTRY)]
    assert all(cls is not None for cls in found)
    return [cls for cls in found if cls is not None]


def _blocked(cls: type[Provider]) -> frozenset[str]:
    return frozenset(name.lower() for name in cls.reserved_fields | ALWAYS_RESERVED)


def _sdk_cases() -> list[Any]:
    return [
        pytest.param(cls.name, field, id=f"{cls.name}-{field}")
        for cls in _registered()
        for field in sorted(cls.reserved_fields | ALWAYS_RESERVED)
    ]


def _model_args(cls: type[Provider]) -> dict[str, Any]:
    """A model of the provider, with seconds and size it accepts, and credentials."""
    model, caps = next(iter(cls.models.items()))
    seconds = caps.default_seconds
    if caps.seconds is not None and seconds not in caps.seconds:
        seconds = caps.seconds[0]
    size = caps.default_size
    if caps.sizes is not None and size not in caps.sizes:
        size = caps.sizes[0]
    return {
        "model": f"{cls.name}/{model}",
        "seconds": seconds,
        "size": size,
        "api_key": "test-key",
        "api_base": API_BASES.get(cls.name),
    }


class Sent(Exception):
    """Raised by :class:`NoSendEngine` in place of sending anything."""


class NoSendEngine(Engine):
    """An engine that never sends: it records each flow it is asked to run, then stops it."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.runs: list[str] = []

    async def run(
        self,
        provider: Provider,
        flow: Flow[Any],
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Any:
        self.runs.append(provider.name)
        flow.close()
        raise Sent(provider.name)

    async def open(self, provider: Provider, request: Request, **kwargs: Any) -> Any:
        raise AssertionError(f"{provider.name}: a request was sent to {request.url}")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> NoSendEngine:
    """The engine behind ``vidgate.acreate_video`` for this test."""
    engine = NoSendEngine()
    monkeypatch.setattr(vidgate._api, "_default", AsyncVideoClient(engine=engine))
    return engine


# -- the SDK refuses every reserved name -------------------------------------------------------


@pytest.mark.parametrize(("provider", "field"), _sdk_cases())
async def test_sdk_refuses_a_reserved_field_before_sending(
    engine: NoSendEngine, provider: str, field: str
) -> None:
    cls = providers.get(provider)
    assert cls is not None
    with pytest.raises(BadRequestError) as info:
        await vidgate.acreate_video("A fox", extra_body={field: "x"}, **_model_args(cls))
    assert info.value.param == field
    assert info.value.code == "reserved_parameter" and info.value.status_code == 400
    assert engine.runs == []


@pytest.mark.parametrize("provider", sorted(providers.REGISTRY))
async def test_reserved_fields_are_matched_whatever_their_case(
    engine: NoSendEngine, provider: str
) -> None:
    cls = providers.get(provider)
    assert cls is not None
    for field in sorted(cls.reserved_fields | ALWAYS_RESERVED):
        shouted = field.upper()
        with pytest.raises(BadRequestError) as info:
            await vidgate.acreate_video("A fox", extra_body={shouted: 1}, **_model_args(cls))
        assert info.value.param == shouted
    assert engine.runs == []


@pytest.mark.parametrize("provider", sorted(providers.REGISTRY))
async def test_other_provider_options_still_reach_the_engine(
    engine: NoSendEngine, provider: str
) -> None:
    # The control for the tests above: the same call with an option that is not reserved
    # gets as far as sending, so their empty ``engine.runs`` means the refusal stopped it.
    cls = providers.get(provider)
    assert cls is not None
    with pytest.raises(Sent):
        await vidgate.acreate_video(
            "A fox", extra_body={"vidgate_test_option": 1}, **_model_args(cls)
        )
    assert engine.runs == [provider]


# -- the reserved names cover what each adapter sends ----------------------------------------


def _provider(cls: type[Provider]) -> Provider:
    return cls(Credentials(api_key="test-key", api_base=API_BASES.get(cls.name)))


def _first_request(
    provider: Provider,
    model: str,
    seconds: str,
    size: str,
    ref: ImageInput | None,
    extra: Mapping[str, Any] | None = None,
) -> Request | None:
    """The first request of the adapter's create flow, or ``None`` if the adapter refuses
    this combination (a size that needs an image, say)."""
    params = CreateParams(
        prompt="A fox",
        model=model,
        seconds=seconds,
        size=size,
        input_reference=ref,
        extra_body=dict(extra or {}),
    )
    flow = provider.create(params)
    try:
        return next(flow)
    except BadRequestError:
        return None
    finally:
        flow.close()


def _leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _fields(request: Request) -> dict[Path, Any]:
    """Every leaf of the create body, JSON or form, by its path."""
    body = request.json if request.json is not None else request.data
    assert isinstance(body, dict), f"{request.url}: a create body should be an object"
    return dict(_leaves(body))


def _changed(a: dict[Path, Any], b: dict[Path, Any]) -> set[Path]:
    return {path for path in a.keys() | b.keys() if a.get(path) != b.get(path)}


def _nested(path: Path, value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(path):
        out = {key: out}
    result: dict[str, Any] = out
    return result


def _shape_fields(cls: type[Provider]) -> list[tuple[str, ImageInput | None, str, str, Path, str]]:
    """``(model, ref, seconds, size, path, which)`` for every body field that carries the
    request's seconds (``which == "seconds"``) or size, over every model the adapter
    declares, with and without a reference image."""
    provider = _provider(cls)
    found = []
    for model, caps in cls.models.items():
        all_seconds = caps.seconds or ("4", "8")
        all_sizes = caps.sizes or ("720x1280", "1280x720")
        for ref in (None, REFERENCE):
            for seconds in all_seconds:
                for size in all_sizes:
                    base = _first_request(provider, model, seconds, size, ref)
                    if base is not None:
                        break
                if base is not None:
                    break
            if base is None:
                continue
            fields = _fields(base)
            for which, variants in (("seconds", all_seconds), ("size", all_sizes)):
                for value in variants:
                    args = {"seconds": seconds, "size": size, which: value}
                    other = _first_request(provider, model, args["seconds"], args["size"], ref)
                    if other is None:
                        continue
                    for path in _changed(fields, _fields(other)):
                        found.append((model, ref, seconds, size, path, which))
    return found


@pytest.mark.parametrize("provider", sorted(providers.REGISTRY))
def test_every_field_carrying_seconds_or_size_is_reserved(provider: str) -> None:
    cls = providers.get(provider)
    assert cls is not None
    # Every provider declares some (the built-in engine inherits the OpenAI adapter's).
    assert cls.reserved_fields, f"{provider} declares no reserved_fields"
    shape = _shape_fields(cls)
    blocked = _blocked(cls)
    for which in ("seconds", "size"):
        carried = {path for *_, path, w in shape if w == which}
        assert carried, f"{provider}: no body field changes with {which}"
        for path in carried:
            leaf = path[-1]
            assert isinstance(leaf, str) and leaf.lower() in blocked, (
                f"{provider} sends {which} in {'.'.join(map(str, path))}, "
                f"but '{leaf}' is not in its reserved_fields"
            )


@pytest.mark.parametrize("provider", sorted(providers.REGISTRY))
def test_no_extra_body_can_change_a_field_carrying_seconds_or_size(provider: str) -> None:
    """Neither the field's own name nor an object around it (``{"parameters":
    {"durationSeconds": 20}}``) gets past the check and into the body."""
    cls = providers.get(provider)
    assert cls is not None
    adapter = _provider(cls)
    tried = 0
    for model, ref, seconds, size, path, _ in _shape_fields(cls):
        base = _first_request(adapter, model, seconds, size, ref)
        assert base is not None
        before = _fields(base)[path]
        for start in range(len(path)):
            suffix = path[start:]
            if not all(isinstance(key, str) for key in suffix):
                continue
            extra = _nested(suffix, SNEAKED)
            tried += 1
            try:
                check_extra_body(extra, adapter, model, operator=True)
            except BadRequestError as exc:
                assert exc.code == "reserved_parameter" and exc.param == suffix[0]
                continue
            sneaked = _first_request(adapter, model, seconds, size, ref, extra)
            assert sneaked is None or _fields(sneaked).get(path) == before, (
                f"{provider}/{model}: extra_body {extra} changed {'.'.join(map(str, path))}"
            )
    assert tried


async def test_merged_objects_are_checked_and_operator_fields_are_the_sdk_users() -> None:
    from vidgate.providers.gemini import GeminiProvider
    from vidgate.providers.vertex import VertexProvider

    gemini = GeminiProvider(Credentials(api_key="k"))
    with pytest.raises(BadRequestError) as info:
        check_extra_body(
            {"generation_config": {"Video_Config": {"task": "upscale"}}},
            gemini,
            "gemini/x",
            operator=True,
        )
    assert info.value.param == "generation_config.Video_Config"
    # What generation_config is for stays open.
    assert check_extra_body(
        {"generation_config": {"seed": 3, "temperature": 0.5}}, gemini, "gemini/x", operator=False
    ) == {"generation_config": {"seed": 3, "temperature": 0.5}}
    vertex = VertexProvider(Credentials(api_key="k"))
    extra = {"vertex_project": "p", "storage_uri": "gs://b/o/"}
    # The SDK's user holds the account: they choose project and bucket.
    assert check_extra_body(extra, vertex, "vertex/veo", operator=True) == extra
    with pytest.raises(BadRequestError) as info:
        check_extra_body(extra, vertex, "vertex/veo", operator=False)
    assert info.value.code == "operator_parameter" and info.value.param == "vertex_project"
