"""What an attacker holding a virtual key tried, and what must hold (issue 8's findings).

Each test names the finding it guards. The gateway is a real ``vidgate serve`` process: the
file-reading, FIFO and connection findings are about what the process does, not a function.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import serve_on_loopback

from .conftest import Gateway, png_bytes, standard_config, wait_done

REFERENCE_PNG = png_bytes(64, 64, (10, 200, 30))


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG whose header declares ``width``×``height`` pixels with a tiny compressed body:
    1.6 GB once decoded, a few dozen bytes on the wire."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 65536, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)


# -- an image server the gateway may fetch references from -----------------------------------


FETCHED: list[str] = []  # the query of every /ok.png fetch, to tell the tests' fetches apart


async def _ok(request: Request) -> Response:
    FETCHED.append(request.url.query)
    return Response(REFERENCE_PNG, media_type="image/png")


async def _bomb(request: Request) -> Response:
    return Response(bomb_png(), media_type="image/png")


async def _huge(request: Request) -> StreamingResponse:
    async def body() -> Any:
        for _ in range(30):  # 30 MiB, past the 20 MiB cap, with no Content-Length
            yield b"\x00" * (1024 * 1024)

    return StreamingResponse(body(), media_type="image/png")


async def _slow(request: Request) -> Response:
    await asyncio.sleep(8)
    return Response(REFERENCE_PNG, media_type="image/png")


async def _to_metadata(request: Request) -> RedirectResponse:
    return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)


async def _to_private(request: Request) -> RedirectResponse:
    return RedirectResponse("http://10.1.2.3/x.png", status_code=302)


async def _html(request: Request) -> Response:
    return Response("<html>not an image</html>", media_type="text/html")


IMAGES = Starlette(
    routes=[
        Route("/ok.png", _ok),
        Route("/bomb.png", _bomb),
        Route("/huge.png", _huge),
        Route("/slow.png", _slow),
        Route("/meta.png", _to_metadata),
        Route("/private.png", _to_private),
        Route("/page.png", _html),
    ]
)


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    with serve_on_loopback(IMAGES) as (base_url, _server):
        yield base_url


@pytest.fixture(scope="module")
def fetching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway whose operator lets it fetch references from an image server on loopback."""
    home = tmp_path_factory.mktemp("gw-fetching")
    config = standard_config(
        home,
        allow_http_references=True,
        reference_hosts=["127.0.0.1"],
        reference_timeout=2,
    )
    gw = Gateway(home, config).start()
    try:
        yield gw
    finally:
        gw.stop()


def _error(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def _create(http: httpx.Client, **fields: Any) -> httpx.Response:
    return http.post("/v1/videos", json={"model": "local/preview", "prompt": "x", **fields})


def _videos(gateway: Gateway, key: str) -> list[dict[str, Any]]:
    with gateway.http(key) as http:
        data: list[dict[str, Any]] = http.get("/v1/videos").json()["data"]
    return data


# -- 1. the reference loader never reads the gateway's files ----------------------------------

PATHS = [
    "/etc/shadow",
    "/etc/hostname",
    "/nonexistent/x.png",
    "/dev/zero",
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "../../etc/passwd",
    "C:\\Windows\\win.ini",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_path_as_image_url_is_refused_and_reveals_nothing(gateway: Gateway, path: str) -> None:
    key = gateway.new_key()
    with gateway.http(key) as http:
        error = _error(_create(http, input_reference={"image_url": path}), 400)
        missing = _error(_create(http, input_reference={"image_url": "/nonexistent/y.png"}), 400)
    assert error["param"] == "input_reference"
    assert error["code"] in ("invalid_image", "invalid_image_url")
    # No oracle: the message never says whether a file exists or what it holds.
    for word in ("No such file", "Permission denied", "Errno", "root:"):
        assert word not in error["message"]
    if not path.lower().startswith(("file:", "gopher:")):
        assert error["message"] == missing["message"]
    assert _videos(gateway, key) == []


def test_a_path_in_multipart_is_refused(gateway: Gateway) -> None:
    key = gateway.new_key()
    with gateway.http(key) as http:
        reply = http.post(
            "/v1/videos",
            data={
                "model": "local/preview",
                "prompt": "x",
                "input_reference[image_url]": "/etc/hostname",
            },
        )
    assert _error(reply, 400)["param"] == "input_reference"
    assert _videos(gateway, key) == []


def test_a_fifo_path_does_not_freeze_the_gateway(gateway: Gateway, tmp_path: Path) -> None:
    fifo = tmp_path / "trap.png"
    os.mkfifo(fifo)
    key = gateway.new_key()
    with gateway.http(key) as http:
        started = time.monotonic()
        reply = _create(http, input_reference={"image_url": str(fifo)})
        assert _error(reply, 400)["param"] == "input_reference"
        # A blocked event loop would stall this request for the client's full timeout.
        assert time.monotonic() - started < 10
        assert http.get("/health/liveliness").status_code == 200


def test_http_references_are_off_unless_the_operator_allows_them(
    gateway: Gateway, images: str
) -> None:
    key = gateway.new_key()
    with gateway.http(key) as http:
        error = _error(_create(http, input_reference={"image_url": f"{images}/ok.png"}), 400)
        upper = _error(
            _create(http, input_reference={"image_url": f"HTTP://{images[7:]}/ok.png"}), 400
        )
    assert error["code"] == upper["code"] == "invalid_image_url"
    assert "http: is off" in error["message"] and "http: is off" in upper["message"]


def test_https_references_to_private_addresses_are_refused(gateway: Gateway) -> None:
    key = gateway.new_key()
    with gateway.http(key) as http:
        for url in ("https://127.0.0.1:9/x.png", "https://169.254.169.254/latest/x.png"):
            error = _error(_create(http, input_reference={"image_url": url}), 400)
            assert error["code"] == "invalid_image_url" and "Refused" in error["message"]
    assert _videos(gateway, key) == []


def test_a_fetched_reference_becomes_the_first_frame(fetching: Gateway, images: str) -> None:
    key = fetching.new_key()
    client = fetching.openai(key)
    with fetching.http(key) as http:
        reply = _create(
            http, input_reference={"image_url": f"{images}/ok.png"}, seconds="1", size="720x1280"
        )
    assert reply.status_code == 200, reply.text
    video = wait_done(client, reply.json()["id"])
    assert video.status == "completed"
    # The fetched bytes are kept with the job (so a restart can resend them).
    stored = fetching.storage_dir / "videos" / video.id / "reference.bin"
    assert stored.read_bytes() == REFERENCE_PNG


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/bomb.png", "20000x20000"),
        ("/huge.png", "limit"),
        ("/slow.png", "timed out"),
        ("/meta.png", "169.254.169.254"),
        ("/private.png", "10.1.2.3"),
        ("/page.png", "not a readable JPEG, PNG or WebP"),
        ("/missing.png", "HTTP 404"),
    ],
)
def test_a_bad_fetched_reference_is_a_400_before_any_job(
    fetching: Gateway, images: str, path: str, reason: str
) -> None:
    key = fetching.new_key(max_budget=5)
    with fetching.http(key) as http:
        reply = _create(http, input_reference={"image_url": f"{images}{path}"})
        info = http.get("/key/info").json()["info"]
    error = _error(reply, 400)
    assert error["param"] == "input_reference" and reason in error["message"], error
    assert _videos(fetching, key) == [] and info["spend"] == 0


def test_a_decompression_bomb_upload_is_refused_at_create(gateway: Gateway) -> None:
    key = gateway.new_key(max_budget=5)
    with gateway.http(key) as http:
        reply = http.post(
            "/v1/videos",
            data={"model": "sora-2", "prompt": "x"},
            files={"input_reference": ("bomb.png", bomb_png(), "image/png")},
        )
        error = _error(reply, 400)
        spend = http.get("/key/info").json()["info"]["spend"]
    assert error["code"] == "image_too_large" and "20000x20000" in error["message"]
    assert _videos(gateway, key) == [] and spend == 0


# -- 2. key fields are bounded ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"duration": "99999999999999999999d"}, "duration"),
        ({"duration": "999999999w"}, "duration"),
        ({"duration": "0s"}, "duration"),
        ({"expires_at": 10**30}, "expires_at"),
        ({"expires_at": 1}, "expires_at"),  # already expired
        ({"rpm_limit": 10**30}, "rpm_limit"),
        ({"rpm_limit": 2**63}, "rpm_limit"),
        ({"max_budget": 1e308}, "max_budget"),
        ({"metadata": {"x": "y" * 20_000}}, "metadata"),
        ({"models": ["m"] * 2000}, "models"),
    ],
)
def test_key_fields_out_of_bounds_are_400(
    gateway: Gateway, body: dict[str, Any], param: str
) -> None:
    with gateway.admin() as admin:
        error = _error(admin.post("/key/generate", json=body), 400)
        assert error["param"] == param
        assert admin.get("/key/list").status_code == 200


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_budgets_are_not_json_and_list_keeps_working(
    gateway: Gateway, literal: str
) -> None:
    with gateway.admin() as admin:
        reply = admin.post(
            "/key/generate",
            content=f'{{"max_budget": {literal}}}',
            headers={"content-type": "application/json"},
        )
        assert _error(reply, 400)["code"] == "invalid_json"
        assert admin.get("/key/list").status_code == 200


# -- 3. malformed JSON and strings ------------------------------------------------------------


def _raw_post(gateway: Gateway, key: str, path: str, body: bytes) -> httpx.Response:
    with gateway.http(key) as http:
        return http.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"prompt": "x", "model": "sora-2", "deep": ' + b"[" * 40 + b"]" * 40 + b"}",
        b'{"prompt": "\\ud800 cat", "model": "sora-2"}',
        b'{"prompt": "cat", "model": "sora-2", "\\udfff": 1}',
        b'{"prompt": "cat", "model": "sora-2", "seconds": "\xc2\xb2"}',
        b'{"prompt": "cat", "model": "sora-2", "seconds": "\xd9\xa3"}',
        b'{"prompt": "cat", "model": "sora-2", "seconds": "0000000000000000004"}',
        b'{"prompt": "cat", "model": "sora-2", "seconds": 1e999}',
        b'{"prompt": "cat", "model": "' + b"m" * 10_000 + b'"}',
    ],
)
def test_malformed_bodies_are_400_and_keep_the_connection(gateway: Gateway, body: bytes) -> None:
    key = gateway.new_key()
    with gateway.http(key) as http:
        reply = http.post("/v1/videos", content=body, headers={"content-type": "application/json"})
        error = _error(reply, 400)
        assert len(reply.content) < 2000  # nothing the caller sent is echoed at length
        assert reply.headers.get("connection") != "close"
        # The same keep-alive connection serves the next request.
        assert http.get("/v1/videos").status_code == 200
    assert error["message"]
    assert _videos(gateway, key) == []


def test_a_lone_surrogate_in_a_key_alias_is_400(gateway: Gateway) -> None:
    with gateway.admin() as admin:
        reply = admin.post(
            "/key/generate",
            content=b'{"key_alias": "\\ud800"}',
            headers={"content-type": "application/json"},
        )
        assert _error(reply, 400)["code"] == "invalid_unicode"
        assert admin.get("/key/list").status_code == 200


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request on ``sock`` and read one response (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return status, headers, rest[:length]


def test_a_4xx_either_keeps_the_connection_or_says_close(gateway: Gateway) -> None:
    key = gateway.new_key()
    bad = b'{"prompt": "\\ud800"}'
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        for _ in range(3):
            status, headers, body = _exchange(
                sock,
                b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + key.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(bad)).encode()
                + b"\r\n\r\n"
                + bad,
            )
            assert status == 400 and json.loads(body)["error"]["code"] == "invalid_unicode"
            assert headers.get("connection") != "close"
    # A body over the cap is refused before it is read: the connection cannot continue, and
    # the answer says so.
    limit = 32 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        status, headers, body = _exchange(
            sock,
            b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Length: " + str(limit + 1).encode() + b"\r\n\r\n{",
        )
        assert status == 413 and headers.get("connection") == "close"
        assert json.loads(body)["error"]["code"] == "request_too_large"


# -- 4. keys never in query strings -----------------------------------------------------------


def test_key_info_refuses_a_key_in_the_query(gateway: Gateway) -> None:
    key = gateway.new_key(key_alias="mine")
    with gateway.http(key) as http:
        error = _error(http.get("/key/info", params={"key": key}), 400)
        assert error["code"] == "key_in_query" and key not in error["message"]
        by_body = http.post("/key/info", json={"key": key})
        by_header = http.get("/key/info", headers={"x-vidgate-key": key})
    assert by_body.status_code == by_header.status_code == 200
    assert by_body.json()["info"]["key_alias"] == by_header.json()["info"]["key_alias"] == "mine"


# -- 5. Range ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(gateway: Gateway) -> tuple[str, str, int]:
    key = gateway.new_key()
    client = gateway.openai(key)
    video = client.videos.create(model="local/preview", prompt="range", seconds="1")
    done = wait_done(client, video.id)
    assert done.status == "completed"
    with gateway.http(key) as http:
        size = len(http.get(f"/v1/videos/{video.id}/content").content)
    return key, video.id, size


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=abc", "bytes=", "bytes=--1", "bytes=-0"])
def test_a_malformed_range_is_416_in_the_envelope(
    gateway: Gateway, finished: tuple[str, str, int], header: str
) -> None:
    key, video_id, size = finished
    with gateway.http(key) as http:
        reply = http.get(f"/v1/videos/{video_id}/content", headers={"range": header})
    error = _error(reply, 416)
    assert error["param"] == "Range" and reply.headers["content-range"] == f"bytes */{size}"


def test_a_range_past_the_end_is_416(gateway: Gateway, finished: tuple[str, str, int]) -> None:
    key, video_id, size = finished
    with gateway.http(key) as http:
        reply = http.get(f"/v1/videos/{video_id}/content", headers={"range": f"bytes={size}-"})
    assert _error(reply, 416)["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("header", ["items=0-1", "0-1", "pages=1"])
def test_an_unknown_range_unit_is_ignored(
    gateway: Gateway, finished: tuple[str, str, int], header: str
) -> None:
    key, video_id, size = finished
    with gateway.http(key) as http:
        reply = http.get(f"/v1/videos/{video_id}/content", headers={"range": header})
    assert reply.status_code == 200 and len(reply.content) == size


def test_valid_ranges_still_work(gateway: Gateway, finished: tuple[str, str, int]) -> None:
    key, video_id, _size = finished
    with gateway.http(key) as http:
        whole = http.get(f"/v1/videos/{video_id}/content").content
        first = http.get(f"/v1/videos/{video_id}/content", headers={"range": "bytes=0-9"})
        tail = http.get(f"/v1/videos/{video_id}/content", headers={"range": "bytes=-7"})
    assert first.status_code == 206 and first.content == whole[:10]
    assert tail.status_code == 206 and tail.content == whole[-7:]


# -- 6. smaller findings ----------------------------------------------------------------------


def test_a_long_video_id_is_refused_without_echo(gateway: Gateway) -> None:
    key = gateway.new_key()
    long_id = "video_" + "a" * 10_000
    with gateway.http(key) as http:
        for method, path in (
            ("GET", f"/v1/videos/{long_id}"),
            ("GET", f"/v1/videos/{long_id}/content"),
            ("DELETE", f"/v1/videos/{long_id}"),
            ("POST", f"/v1/videos/{long_id}/remix"),
        ):
            reply = http.request(method, path, json={"prompt": "x"} if method == "POST" else None)
            assert reply.status_code == 400, (method, path, reply.status_code)
            assert len(reply.content) < 1000 and reply.json()["error"]["param"] == "video_id"
    # Past the server's request-line limit: still a short 4xx, never a 5xx or an echo.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        status, _headers, body = _exchange(
            sock,
            b"GET /v1/videos/video_" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n\r\n",
        )
    assert 400 <= status < 500 and len(body) < 1000


def test_finished_renderers_are_reaped(gateway: Gateway) -> None:
    key = gateway.new_key()
    client = gateway.openai(key)
    video = client.videos.create(model="local/preview", prompt="reap", seconds="1")
    assert wait_done(client, video.id).status == "completed"
    deadline = time.monotonic() + 10
    while True:
        zombies = _zombie_children(gateway.pid)
        if not zombies or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert zombies == []


def _zombie_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def test_local_preview_with_api_base_goes_to_that_gateway(gateway: Gateway) -> None:
    import vidgate

    key = gateway.new_key()
    video = vidgate.create_video(
        prompt="through the gateway",
        model="local/preview",
        seconds="1",
        api_base=f"{gateway.url}/v1",
        api_key=key,
    )
    # The gateway made it: it is in that key's list there, not in this process's home.
    assert [v["prompt"] for v in _videos(gateway, key)] == ["through the gateway"]
    again = vidgate.video_retrieve(video.id, api_base=f"{gateway.url}/v1", api_key=key)
    assert again.prompt == "through the gateway"


def test_no_fetch_for_a_replay_or_past_the_rate_limit(fetching: Gateway, images: str) -> None:
    """A reference URL is fetched only for a create that goes ahead: not for an idempotent
    replay, not for a key past its rpm_limit (no free fetches)."""
    key = fetching.new_key(rpm_limit=1)
    url = f"{images}/ok.png?who={key[-8:]}"
    body = {"input_reference": {"image_url": url}, "seconds": "1", "size": "720x1280"}
    with fetching.http(key) as http:
        first = http.post(
            "/v1/videos",
            json={"model": "local/preview", "prompt": "x", **body},
            headers={"idempotency-key": "once"},
        )
        replay = http.post(
            "/v1/videos",
            json={"model": "local/preview", "prompt": "x", **body},
            headers={"idempotency-key": "once"},
        )
        limited = _create(http, **body)
    assert first.status_code == replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert _error(limited, 429)["code"] == "rate_limit_exceeded"
    assert FETCHED.count(f"who={key[-8:]}") == 1
