"""Every error reaches the ``openai`` SDK as the right exception, in OpenAI's envelope, and
nothing a client can send makes the gateway answer 500."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from .conftest import Gateway, png_bytes


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    return gateway.new_key(key_alias="errors")


def _envelope(reply: httpx.Response) -> dict[str, object]:
    body = reply.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, object] = body["error"]
    return error


def test_bad_size_is_bad_request_with_param(gateway: Gateway, key: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.openai(key).videos.create(prompt="x", model="sora-2", size="999x999")
    assert caught.value.param == "size"
    assert caught.value.status_code == 400
    assert "999x999" in caught.value.message


def test_bad_seconds_and_prompt(gateway: Gateway, key: str) -> None:
    client = gateway.openai(key)
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="x", model="sora-2", seconds="99")  # type: ignore[arg-type]
    assert caught.value.param == "seconds"
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.create(prompt="   ", model="sora-2")
    assert caught.value.param == "prompt"


def test_unknown_and_unconfigured_models(gateway: Gateway, key: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.openai(key).videos.create(prompt="x", model="sora-2-2025-12-08")
    assert (caught.value.param, caught.value.code) == ("model", "model_not_found")
    assert "sora-2-2025-12-08" in caught.value.message


def test_bad_key_is_authentication_error(gateway: Gateway) -> None:
    for bad in ("sk-wrong", "sk-vg-" + "x" * 43, gateway.master_key + "x"):
        with pytest.raises(openai.AuthenticationError) as caught:
            gateway.openai(bad).videos.list()
        assert caught.value.code == "invalid_api_key"
    with httpx.Client(base_url=gateway.url) as http:
        reply = http.get("/v1/videos")
    assert reply.status_code == 401
    assert _envelope(reply)["code"] == "missing_api_key"


def test_other_keys_video_is_not_found(gateway: Gateway, key: str) -> None:
    other = gateway.new_key()
    video = gateway.openai(other).videos.create(prompt="mine", model="local/preview", seconds="1")
    with pytest.raises(openai.NotFoundError):
        gateway.openai(key).videos.retrieve(video.id)


def test_model_limited_key_is_permission_denied(gateway: Gateway) -> None:
    limited = gateway.new_key(models=["local/preview"])
    client = gateway.openai(limited)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.videos.create(prompt="x", model="sora-2", seconds="1")
    assert caught.value.code == "model_not_allowed"
    assert client.videos.create(prompt="ok", model="local/preview", seconds="1").id
    assert [m.id for m in client.models.list()] == ["local/preview"]


def test_over_rpm_is_rate_limit_error_with_retry_after(gateway: Gateway) -> None:
    limited = gateway.new_key(rpm_limit=2)
    client = gateway.openai(limited)
    for _ in range(2):
        client.videos.create(prompt="x", model="local/preview", seconds="1")
    with pytest.raises(openai.RateLimitError) as caught:
        client.videos.create(prompt="x", model="local/preview", seconds="1")
    retry_after = int(caught.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    client.videos.list()  # reads are not counted


def test_string_input_reference_is_invalid_type(gateway: Gateway, key: str) -> None:
    with gateway.http(key) as http:
        multipart = http.post(
            "/v1/videos",
            data={"prompt": "x", "model": "local/preview", "input_reference": "https://a/b.png"},
            files={"unused": ("a.txt", b"", "text/plain")},
        )
        as_json = http.post(
            "/v1/videos", json={"prompt": "x", "input_reference": "https://a/b.png"}
        )
    assert multipart.status_code == 400
    error = _envelope(multipart)
    assert (error["param"], error["code"]) == ("input_reference", "invalid_type")
    assert "expected a file, but got a string" in str(error["message"])
    assert as_json.status_code == 400
    error = _envelope(as_json)
    assert (error["param"], error["code"]) == ("input_reference", "invalid_type")
    assert "expected an object, but got a string" in str(error["message"])


def test_reference_that_is_not_an_image(gateway: Gateway, key: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.openai(key).videos.create(
            prompt="x", model="local/preview", input_reference=("a.png", b"not png", "image/png")
        )
    assert caught.value.param == "input_reference"


def test_content_before_completion_is_a_clear_400(gateway: Gateway, key: str) -> None:
    client = gateway.openai(key)
    video = client.videos.create(prompt="slow", model="local/preview", seconds="3")
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.download_content(video.id)
    assert caught.value.code == "video_not_ready"
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.remix(video.id, prompt="again")
    assert caught.value.code == "video_not_ready"


def test_upload_over_the_cap_is_413(gateway: Gateway, key: str) -> None:
    big = png_bytes() + b"\0" * (33 * 1024 * 1024)
    with gateway.http(key) as http:
        declared = http.post(
            "/v1/videos",
            data={"prompt": "x"},
            files={"input_reference": ("big.png", big, "image/png")},
        )

        def chunked() -> object:
            for _ in range(40):
                yield b"\0" * (1024 * 1024)

        streamed = http.post(
            "/v1/videos",
            content=chunked(),  # type: ignore[arg-type]
            headers={"content-type": "application/json"},
        )
    for reply in (declared, streamed):
        assert reply.status_code == 413
        assert _envelope(reply)["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/videos", {"content": b"{not json"}),
        ("POST", "/v1/videos", {"content": b"[1, 2]"}),
        ("POST", "/v1/videos", {"json": {"prompt": 5}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "model": ["a"]}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "seconds": 1.5}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "seconds": True}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "size": "1x"}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x" * 40000}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "input_reference": {"image_url": 3}}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "input_reference": {"file_id": "f"}}}),
        ("POST", "/v1/videos", {"json": {"prompt": "x", "input_reference": [1]}}),
        (
            "POST",
            "/v1/videos",
            {"json": {"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,@@"}}},
        ),
        (
            "POST",
            "/v1/videos",
            {
                "content": b"--b\r\nbroken",
                "headers": {"content-type": "multipart/form-data; boundary=b"},
            },
        ),
        (
            "POST",
            "/v1/videos",
            {"content": b"x", "headers": {"content-type": "multipart/form-data"}},
        ),
        ("GET", "/v1/videos?limit=1000", {}),
        ("GET", "/v1/videos?limit=abc", {}),
        ("GET", "/v1/videos?order=sideways", {}),
        ("GET", "/v1/videos?after=video_nope", {}),
        ("GET", "/v1/videos/video_" + "0" * 48, {}),
        ("GET", "/v1/videos/%00%ff", {}),
        ("GET", "/v1/videos/video_x/content?variant=gif", {}),
        ("DELETE", "/v1/videos/video_x", {}),
        ("POST", "/v1/videos/video_x/remix", {"json": {"prompt": 3}}),
        ("POST", "/v1/videos/video_x/remix", {"content": b"\xff\xfe"}),
        ("PUT", "/v1/videos", {}),
        ("GET", "/v1/nothing-here", {}),
        ("POST", "/key/generate", {"json": {"max_budget": "lots"}}),
        ("GET", "/spend/logs?start_date=yesterday", {}),
    ],
)
def test_client_mistakes_get_4xx_envelopes_never_500(
    gateway: Gateway, key: str, method: str, path: str, kwargs: dict[str, object]
) -> None:
    with gateway.http(key) as http:
        reply = http.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert 400 <= reply.status_code < 500, reply.text
    error = _envelope(reply)
    assert isinstance(error["message"], str) and error["message"]
    json.dumps(error)
