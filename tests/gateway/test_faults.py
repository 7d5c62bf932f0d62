"""Upstream faults on the wire, for every provider adapter, through a real gateway (issue 8).

Each provider's fake runs behind a :class:`~tests.fakes.wire_faults.FaultProxy`, and the
gateway's deployments point at the proxies. A fault is applied at the stage where it matters:

* **create**: the client gets the right OpenAI-envelope error (502 ``upstream_unreachable`` /
  ``upstream_error`` / ``upstream_protocol_error``, 504 ``upstream_timeout``), no job record is
  kept and the key's spend is unchanged; or, where asking again cannot start a second paid job
  (a connection refused before anything was sent), a retried success. A create that may have
  been accepted is never sent twice (the creates the fake saw are counted).
* **poll**: transient faults are retried and the job still completes; a permanent one ends in
  ``failed`` with a clear code. Every wait is bounded.
* **download** (the copy into storage): the job completes with exactly the fake's bytes stored
  and served, or fails cleanly with nothing stored; never a short or wrong file.

Stalls must end within the deployment's ``timeout`` (short here), and at the end the gateway's
open file descriptors are back where they were before the faults.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import openai
import pytest

from tests.fakes import wire_faults as wf
from vidgate import providers
from vidgate._engine import Engine
from vidgate._exceptions import APIStatusError, InternalServerError
from vidgate._models import Credentials
from vidgate.providers import Provider

from ._providers import NAMES, Upstream, run_upstreams, token
from .conftest import Gateway, standard_config

# The deployments' ``timeout``: how long a read may wait before the gateway gives up on it.
TIMEOUT = 0.4
# The deployments' ``max_retries``: one retry is enough to see whether a create is (wrongly)
# sent again, and keeps the engine's backoff (>= 0.375 s) to one wait per request.
MAX_RETRIES = 1
# The longest a stalled or trickled request may take at the client: the headers and the body
# each get TIMEOUT, plus scheduling slack on a loaded 2-core machine.
STALL_BOUND = 2 * TIMEOUT + 1.5
# A job through transient faults: a few polls at 0.02 s, backoff (0.02 s doubling), one
# engine retry (<= 0.5 s) and a timeout or two; it takes well under a second on a quiet machine.
# A trickle that is not cut off at its timeout takes longer than this (~200 bytes at 0.05 s).
JOB_TIMEOUT = 8.0
# A job meeting a permanent fault fails after the poller's few tries at it (0.02 s doubling):
# well under this. A job still running after it is stuck.
PERMANENT_BOUND = 3.0

Stage = Literal["create", "poll", "download"]


# -- what each provider's wire looks like ----------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """How to pick out one provider's create, status poll and content download."""

    create: Callable[[str], bool]
    poll_method: str
    poll: Callable[[str], bool]
    download: Callable[[str], bool]


WIRES: dict[str, Wire] = {
    "runway": Wire(
        create=lambda p: p == "/v1/text_to_video",
        poll_method="GET",
        poll=lambda p: p.startswith("/v1/tasks/"),
        download=lambda p: p.startswith("/cdn/"),
    ),
    "xai": Wire(
        create=lambda p: p == "/v1/videos/generations",
        poll_method="GET",
        poll=lambda p: p.startswith("/v1/videos/") and p != "/v1/videos/generations",
        download=lambda p: p.startswith("/cdn/"),
    ),
    "fal": Wire(
        create=lambda p: p == "/fal-ai/kling-video/v2.1/master/text-to-video",
        poll_method="GET",
        poll=lambda p: p.endswith("/status"),
        download=lambda p: p.startswith("/cdn/"),
    ),
    "replicate": Wire(
        create=lambda p: p == "/v1/models/minimax/hailuo-02/predictions",
        poll_method="GET",
        poll=lambda p: p.startswith("/v1/predictions/"),
        download=lambda p: p.startswith("/delivery/"),
    ),
    "vertex": Wire(
        create=lambda p: p.endswith(":predictLongRunning"),
        poll_method="POST",
        poll=lambda p: p.endswith(":fetchPredictOperation"),
        download=lambda p: p.startswith("/storage/v1/b/"),
    ),
    "gemini": Wire(
        create=lambda p: p == "/v1beta/interactions",
        poll_method="GET",
        poll=lambda p: p.startswith("/v1beta/interactions/"),
        download=lambda p: p.startswith("/download/"),
    ),
}
assert tuple(WIRES) == NAMES


@dataclass
class Faulty:
    """One provider's fake, the proxy in front of it, and how its stages look."""

    up: Upstream
    proxy: wf.FaultProxy
    wire: Wire

    @property
    def name(self) -> str:
        return self.up.name

    def at(self, stage: Stage) -> dict[str, Any]:
        """``method`` and ``path`` arguments of a fault aimed at ``stage``."""
        if stage == "create":
            return {"method": "POST", "path": self.wire.create}
        if stage == "poll":
            return {"method": self.wire.poll_method, "path": self.wire.poll}
        return {"method": "GET", "path": self.wire.download}

    def creates_at_proxy(self) -> int:
        return len(self.proxy.requests("POST", self.wire.create))


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Faulty]]:
    with run_upstreams(tmp_path_factory.mktemp("fault-upstreams")) as ups:
        proxies = [wf.FaultProxy(up.base_url).start() for up in ups.values()]
        try:
            out = {}
            for up, proxy in zip(ups.values(), proxies, strict=True):
                up.base_url = proxy.url  # every deployment and download link now goes through it
                out[up.name] = Faulty(up, proxy, WIRES[up.name])
            yield out
        finally:
            for proxy in proxies:
                proxy.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, faulty: dict[str, Faulty]) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gw-faults")
    config = standard_config(home)
    deployments = []
    for f in faulty.values():
        for dep in f.up.deployments():
            params = dep.get("params") or dep["litellm_params"]
            params["timeout"] = TIMEOUT
            params["max_retries"] = MAX_RETRIES
            deployments.append(dep)
    config["model_list"] = deployments
    # Vertex reads gs:// outputs from STORAGE_EMULATOR_HOST: its proxy.
    env = {"STORAGE_EMULATOR_HOST": faulty["vertex"].proxy.url}
    gateway = Gateway(home, config).start(extra_env=env)
    try:
        yield gateway
    finally:
        gateway.stop()


@dataclass
class Baseline:
    fds: int  # all of them, once the proxies closed every idle keep-alive connection
    kinds: dict[str, int]  # the same, by kind (see _fd_kinds)
    pooled: int  # all of them, with the connection pools as warm-up left them


@pytest.fixture(scope="module")
def baseline(gw: Gateway, faulty: dict[str, Faulty]) -> Baseline:
    """The gateway's open file descriptors after one clean job per provider (every pool,
    thread and database handle warm), before any fault."""
    with gw.openai(gw.new_key()) as client:
        for f in faulty.values():
            video = _create(client, f, token(), download=True)
            assert _wait(client, video.id).status == "completed"
    pooled = _fds(gw)
    settled = _settled_fds(gw, faulty)
    return Baseline(fds=settled, kinds=_fd_kinds(gw), pooled=pooled)


@pytest.fixture
def f(
    request: pytest.FixtureRequest, faulty: dict[str, Faulty], baseline: Baseline
) -> Iterator[Faulty]:
    one = faulty[request.param]
    one.proxy.clear()
    try:
        yield one
    finally:
        one.proxy.clear()
        one.up.restore()


@pytest.fixture(scope="module")
def http(gw: Gateway) -> Iterator[httpx.Client]:
    """One HTTP client to the gateway for the whole module: a client per test costs CPU (an
    SSL context each) that the gateway, on a 2-core machine, would rather have."""
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        yield client


@dataclass
class Tenant:
    """A fresh key, so a test sees only its own videos and spend."""

    key: str
    client: openai.OpenAI
    http: httpx.Client

    def spend(self) -> float:
        reply = self.http.get("/key/info", headers={"Authorization": f"Bearer {self.key}"})
        spend: float = reply.json()["info"]["spend"]
        return spend


@pytest.fixture
def tenant(gw: Gateway, http: httpx.Client) -> Tenant:
    reply = http.post(
        "/key/generate", json={}, headers={"Authorization": f"Bearer {gw.master_key}"}
    )
    assert reply.status_code == 200, reply.text
    key = reply.json()["key"]
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, http_client=http)
    return Tenant(key, client, http)


def each_provider(**xfail: str) -> pytest.MarkDecorator:
    params = [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=xfail[name]))
        if name in xfail
        else name
        for name in NAMES
    ]
    return pytest.mark.parametrize("f", params, indirect=True)


# -- helpers ---------------------------------------------------------------------------------


def _create(client: openai.OpenAI, f: Faulty, marker: str, *, download: bool = False) -> Any:
    extra = f.up.expiry_extra if download else {}  # Vertex: output to a bucket, not inline
    return client.videos.create(
        prompt=f"A lighthouse in a storm {marker}",
        model=f.up.public,
        seconds=f.up.seconds,  # type: ignore[arg-type]
        size=f.up.size,  # type: ignore[arg-type]
        extra_body=extra or None,
    )


def _wait(client: openai.OpenAI, video_id: str, timeout: float = JOB_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        if time.monotonic() > deadline:
            raise AssertionError(f"{video_id} still {video.status} after {timeout} s")
        time.sleep(0.05)


def _fds(gw: Gateway) -> int:
    assert gw.proc is not None
    return len(os.listdir(f"/proc/{gw.proc.pid}/fd"))


def _fd_report(gw: Gateway) -> list[str]:
    """What each of the gateway's fds is (sockets with their TCP ends and state)."""
    assert gw.proc is not None
    pid = gw.proc.pid
    tcp = {}
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                tcp[cols[9]] = f"{cols[1]}->{cols[2]} st={cols[3]}"
    out = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            target += " " + tcp.get(target[8:-1], "?")
        out.append(f"{fd}: {target}")
    return out


def _fd_kinds(gw: Gateway) -> dict[str, int]:
    """The gateway's fds by kind: ``database`` (SQLite files: two per pooled connection, which
    SQLAlchemy opens as concurrency needs, up to its pool size), ``socket`` and ``other``."""
    kinds = {"database": 0, "socket": 0, "other": 0}
    for line in _fd_report(gw):
        target = line.split(": ", 1)[1]
        if target.startswith(str(gw.home)) and ".db" in target:
            kinds["database"] += 1
        elif target.startswith("socket:"):
            kinds["socket"] += 1
        else:
            kinds["other"] += 1
    return kinds


def _settled_fds(gw: Gateway, faulty: dict[str, Faulty]) -> int:
    """The gateway's fds once every proxy closed its idle keep-alive connections (the gateway
    sees EOF and closes its ends). The lowest of a few looks, a short while apart."""
    for f in faulty.values():
        f.proxy.drop_idle()
    seen = []
    for _ in range(5):
        time.sleep(0.1)
        seen.append(_fds(gw))
    return min(seen)


def _stored(gw: Gateway, video_id: str) -> Path:
    return gw.storage_dir / "videos" / video_id / "video.mp4"


# -- create ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCase:
    id: str
    make: Callable[[dict[str, Any]], wf.Fault]
    status: int  # what the client gets; 200 for a retried success
    code: str | None
    # Whether the fake saw the create: it may have started (and will bill) a job, so the
    # gateway must not have sent it again.
    reached: bool
    slow: bool = False  # ends by a timeout, so must end within STALL_BOUND
    xfail: str | None = None  # a known bug this case documents (see the reason)


WRONG_SHAPE = b'["not", "an", "object"]'

CREATE_CASES = [
    CreateCase("reset", lambda at: wf.Reset(**at), 502, "upstream_unreachable", True),
    # Sent, then reset before a byte of the answer: accepted or not, nobody knows.
    CreateCase(
        "reset-before-answer",
        lambda at: wf.Reset(fraction=-1, **at),
        502,
        "upstream_unreachable",
        True,
    ),
    CreateCase(
        "stall-headers", lambda at: wf.Stall(**at), 504, "upstream_timeout", True, slow=True
    ),
    CreateCase(
        "stall-body",
        lambda at: wf.Stall(at="body", **at),
        504,
        "upstream_timeout",
        True,
        slow=True,
    ),
    CreateCase("trickle", lambda at: wf.Trickle(**at), 504, "upstream_timeout", True, slow=True),
    CreateCase("truncated", lambda at: wf.Truncate(**at), 502, "upstream_unreachable", True),
    # The stray bytes after the declared length break the connection (aiohttp refuses them).
    CreateCase(
        "short-content-length", lambda at: wf.ShortLength(**at), 502, "upstream_unreachable", True
    ),
    CreateCase("html-502", lambda at: wf.HtmlError(**at), 502, "upstream_error", False),
    CreateCase("5xx-burst", lambda at: wf.Status(times=3, **at), 502, "upstream_error", False),
    CreateCase(
        "invalid-json",
        lambda at: wf.InvalidJson(**at),
        502,
        "upstream_protocol_error",
        True,
    ),
]


def _cases(cases: list[Any]) -> list[Any]:
    """``pytest.param`` per case, with its ``xfail`` mark where it documents a known bug."""
    return [
        pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.xfail))
        if getattr(c, "xfail", None)
        else pytest.param(c, id=c.id)
        for c in cases
    ]


@pytest.mark.parametrize("case", _cases(CREATE_CASES))
@each_provider()
def test_create_fault_is_an_error_and_keeps_nothing(
    gw: Gateway, tenant: Tenant, f: Faulty, case: CreateCase
) -> None:
    client = tenant.client
    fault = f.proxy.inject(case.make(f.at("create")))
    marker = token()
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        _create(client, f, marker)
    took = time.monotonic() - started
    error = caught.value
    assert (error.status_code, error.code) == (case.status, case.code), error.message
    assert f.name in error.message
    assert error.response.json()["error"]["type"] == "api_error"
    assert fault.served == 1
    # Sent once: after a fault that may have come after acceptance, asking again could start
    # (and bill) a second video; a 5xx before acceptance cannot be told apart from one after.
    assert f.creates_at_proxy() == 1
    assert len(f.up.sent_creates(marker)) == (1 if case.reached else 0)
    assert list(client.videos.list()) == []  # no job record left behind
    assert tenant.spend() == 0.0
    if case.slow:
        assert TIMEOUT <= took < STALL_BOUND, took


@pytest.mark.parametrize(
    "location", [wf.METADATA_URL, wf.PRIVATE_URL], ids=["metadata", "private-ip"]
)
@each_provider()
def test_create_redirected_to_a_forbidden_address(
    gw: Gateway, tenant: Tenant, f: Faulty, location: str
) -> None:
    client = tenant.client
    f.proxy.inject(wf.Redirect(location=location, **f.at("create")))
    marker = token()
    with pytest.raises(openai.APIStatusError) as caught:
        _create(client, f, marker)
    error = caught.value
    assert error.status_code == 502
    assert "Refused to fetch" in error.message or "refused" in error.message.lower()
    assert error.code == "outbound_url_refused", (error.code, error.message)
    assert f.creates_at_proxy() == 1 and f.up.sent_creates(marker) == []
    assert list(client.videos.list()) == []
    assert tenant.spend() == 0.0


@each_provider()
def test_create_html_error_page_is_summarised_not_relayed(
    gw: Gateway, tenant: Tenant, f: Faulty
) -> None:
    f.proxy.inject(wf.HtmlError(**f.at("create")))
    with pytest.raises(openai.APIStatusError) as caught:
        _create(tenant.client, f, token())
    assert (caught.value.status_code, caught.value.code) == (502, "upstream_error")
    assert "502 Bad Gateway" in caught.value.message  # what the page said, in a few words
    assert "<" not in caught.value.message, caught.value.message


@each_provider()
def test_create_refused_connection_is_retried(gw: Gateway, tenant: Tenant, f: Faulty) -> None:
    client = tenant.client
    # Refused for less than the engine's first backoff (>= 0.375 s): the retry connects.
    # Refused from now until ``reopen``. The create starts at ~0.15 s (after the gateway saw its
    # pooled connections close), is refused, and retries after the engine's first backoff
    # (0.375-0.5 s), by when the proxy listens again.
    reopen = 0.45
    f.proxy.refuse_for(reopen)
    time.sleep(0.15)
    marker = token()
    started = time.monotonic()
    video = _create(client, f, marker)
    assert time.monotonic() - started >= 0.3  # it waited out a backoff: the first try failed
    # Nothing was sent the first time, so one create reached the proxy and the fake.
    assert f.creates_at_proxy() == 1
    assert len(f.up.sent_creates(marker)) == 1
    assert [v.id for v in client.videos.list()] == [video.id]
    assert _wait(client, video.id).status == "completed"
    assert tenant.spend() == pytest.approx(f.up.cost or 0.0)


# -- poll ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollCase:
    id: str
    make: Callable[[dict[str, Any]], wf.Fault]
    code: str | None = None  # None: transient, the job completes; else it fails with this code


FOREVER = 10**6

POLL_CASES = [
    PollCase("reset", lambda at: wf.Reset(times=2, **at)),
    PollCase("stall-body", lambda at: wf.Stall(at="body", **at)),
    PollCase("trickle", lambda at: wf.Trickle(**at)),
    PollCase("truncated", lambda at: wf.Truncate(times=2, **at)),
    PollCase("short-content-length", lambda at: wf.ShortLength(**at)),
    PollCase("html-502", lambda at: wf.HtmlError(times=2, **at)),
    PollCase("5xx-burst", lambda at: wf.Status(times=3, **at)),
    PollCase("invalid-json-once", lambda at: wf.InvalidJson(**at)),
    PollCase(
        "invalid-json-always",
        lambda at: wf.InvalidJson(times=FOREVER, **at),
        code="upstream_protocol_error",
    ),
    PollCase(
        "redirect-private-ip",
        lambda at: wf.Redirect(location=wf.PRIVATE_URL, times=FOREVER, **at),
        code="outbound_url_refused",
    ),
]


@pytest.mark.parametrize("case", _cases(POLL_CASES))
@each_provider()
def test_poll_fault(gw: Gateway, tenant: Tenant, f: Faulty, case: PollCase) -> None:
    client = tenant.client
    fault = f.proxy.inject(case.make(f.at("poll")))
    marker = token()
    video = _create(client, f, marker)
    done = _wait(client, video.id, JOB_TIMEOUT if case.code is None else PERMANENT_BOUND)
    assert fault.served >= 1
    assert len(f.up.sent_creates(marker)) == 1
    if case.code is None:
        assert done.status == "completed", done.error
        assert client.videos.download_content(video.id).content == f.up.video
        assert tenant.spend() == pytest.approx(f.up.cost or 0.0)
    else:
        assert done.status == "failed"
        assert done.error is not None and done.error.code == case.code, done.error
        assert tenant.spend() == 0.0  # refunded
        assert not _stored(gw, video.id).exists()


# -- JSON of the wrong shape -----------------------------------------------------------------


@each_provider()
def test_create_answered_with_json_of_the_wrong_shape(
    gw: Gateway, tenant: Tenant, f: Faulty
) -> None:
    client = tenant.client
    f.proxy.inject(wf.InvalidJson(body=WRONG_SHAPE, **f.at("create")))
    marker = token()
    with pytest.raises(openai.APIStatusError) as caught:
        _create(client, f, marker)
    # Never a 500 (a crash on a list where an object belongs) nor a 400 (the caller did
    # nothing wrong).
    assert (caught.value.status_code, caught.value.code) == (502, "upstream_protocol_error")
    assert "cannot read" in caught.value.message
    assert len(f.up.sent_creates(marker)) == 1 and f.creates_at_proxy() == 1
    assert list(client.videos.list()) == []
    assert tenant.spend() == 0.0


@each_provider()
def test_poll_answered_with_json_of_the_wrong_shape_fails_the_job(
    gw: Gateway, tenant: Tenant, f: Faulty
) -> None:
    client = tenant.client
    f.proxy.inject(wf.InvalidJson(body=WRONG_SHAPE, times=FOREVER, **f.at("poll")))
    video = _create(client, f, token())
    done = _wait(client, video.id, PERMANENT_BOUND)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "upstream_protocol_error"
    assert tenant.spend() == 0.0


# -- download --------------------------------------------------------------------------------


DOWNLOAD_CASES = [
    PollCase("reset", lambda at: wf.Reset(**at)),
    PollCase("stall-body", lambda at: wf.Stall(at="body", **at)),
    PollCase("trickle", lambda at: wf.Trickle(**at)),
    PollCase("truncated", lambda at: wf.Truncate(times=2, **at)),
    PollCase("short-content-length", lambda at: wf.ShortLength(**at)),
    # Only the MP4's own box sizes show this one (the copy checks them before storing).
    PollCase("cut-short-object", lambda at: wf.ShortBody(**at)),
    # Two in a row: the engine's one retry meets the second, the poller's next copy succeeds.
    PollCase("html-502-burst", lambda at: wf.HtmlError(times=2, **at)),
    PollCase(
        "redirect-metadata",
        lambda at: wf.Redirect(location=wf.METADATA_URL, times=FOREVER, **at),
        code="outbound_url_refused",
    ),
]


@pytest.mark.parametrize("case", _cases(DOWNLOAD_CASES))
@each_provider()
def test_download_fault(gw: Gateway, tenant: Tenant, f: Faulty, case: PollCase) -> None:
    client = tenant.client
    fault = f.proxy.inject(case.make(f.at("download")))
    video = _create(client, f, token(), download=True)
    done = _wait(client, video.id, JOB_TIMEOUT if case.code is None else PERMANENT_BOUND)
    assert fault.served >= 1, "the fault never met the download"
    stored = _stored(gw, video.id)
    if case.code is None:
        assert done.status == "completed", done.error
        # Exactly the provider's bytes: never a short or padded copy served as complete.
        assert stored.read_bytes() == f.up.video
        assert client.videos.download_content(video.id).content == f.up.video
        assert not list(stored.parent.glob("*.part"))
    else:
        assert done.status == "failed"
        assert done.error is not None and done.error.code == case.code, done.error
        assert not stored.exists() and not list(stored.parent.glob("*.part"))
        with pytest.raises(openai.BadRequestError):
            client.videos.download_content(video.id)
        assert tenant.spend() == 0.0


# -- bodies too large to hold -----------------------------------------------------------------


def _engine_and_provider(f: Faulty) -> tuple[Engine, Provider]:
    cls = providers.get(f.name)
    assert cls is not None
    provider = cls(Credentials(**f.up.credentials()))
    return Engine(network="aiohttp", timeout=5.0, max_retries=0), provider


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_endless_answer_is_cut_off_with_a_502(
    faulty: dict[str, Faulty], monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    """In process: the engine reads a whole body (status JSON) only up to its cap; past it, a
    502 ``upstream_protocol_error``, and the rest is never read. The cap is made small here;
    the flood is 64 MiB, far more than the loopback socket buffers hold."""
    f = faulty["runway"]
    monkeypatch.setattr("vidgate._engine.MAX_RESPONSE_BYTES", 1024 * 1024)
    flood = f.proxy.inject(wf.Flood(chunked=chunked, **f.at("poll")))
    engine, provider = _engine_and_provider(f)
    try:
        with pytest.raises(InternalServerError) as caught:
            await engine.run(provider, provider.retrieve("task-1", model="gen4.5"))
    finally:
        await engine.aclose()
        f.proxy.clear()
    assert (caught.value.status_code, caught.value.code) == (502, "upstream_protocol_error")
    assert "larger than" in caught.value.message
    assert flood.served == 1 and flood.sent < flood.size // 2


async def test_an_endless_error_page_is_read_only_in_part(
    faulty: dict[str, Faulty], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = faulty["runway"]
    monkeypatch.setattr("vidgate._engine.MAX_ERROR_BYTES", 64 * 1024)
    flood = f.proxy.inject(wf.Flood(status=502, chunked=True, **f.at("poll")))
    engine, provider = _engine_and_provider(f)
    try:
        with pytest.raises(APIStatusError) as caught:
            await engine.run(provider, provider.retrieve("task-1", model="gen4.5"))
    finally:
        await engine.aclose()
        f.proxy.clear()
    assert caught.value.status_code == 502
    assert len(caught.value.message) < 64 * 1024
    assert flood.served == 1 and flood.sent < flood.size // 2


# -- leaks -----------------------------------------------------------------------------------


def test_no_connection_or_descriptor_is_leaked(
    gw: Gateway, faulty: dict[str, Faulty], baseline: Baseline
) -> None:
    """Runs last (pytest keeps file order): after every fault above, once the proxies close
    their idle keep-alive connections, the gateway holds no connection to any of them and
    has as many fds open as before the faults."""
    pooled = _fds(gw)
    settled = _settled_fds(gw, faulty)
    kinds = _fd_kinds(gw)
    print(f"gateway fds: before the faults {baseline}; after: pooled={pooled} settled={settled}")
    held = {name: f.proxy.open_connections for name, f in faulty.items()}
    assert held == {name: 0 for name in faulty}, "connections the gateway never closed"
    report = (baseline, kinds, _fd_report(gw))
    # Exactly as before: the listener, the event loop's fds, the log.
    assert kinds["other"] == baseline.kinds["other"], report
    # Sockets: the baseline plus at most 2 that are not the proxies' to close: this module's
    # keep-alive connection to the gateway (closed and reopened at the gateway's idle timeout)
    # and a pooled connection straight to the Vertex fake's token endpoint. A leak would be
    # one per fault, well over a hundred.
    assert kinds["socket"] <= baseline.kinds["socket"] + 2, report
    # SQLite: two fds per pooled connection (file and WAL); SQLAlchemy's pool keeps up to 5.
    assert kinds["database"] <= 2 * 5 + 1, report
