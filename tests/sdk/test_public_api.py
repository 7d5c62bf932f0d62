"""The public surface: pinned names, and sync twins with the same parameters as async ones."""

from __future__ import annotations

import inspect
import subprocess
import sys

import vidgate
from vidgate import AsyncVideoClient, VideoClient

SEED_PAIRS = [
    ("acreate_video", "create_video"),
    ("avideo_retrieve", "video_retrieve"),
    ("avideo_content", "video_content"),
    ("avideo_delete", "video_delete"),
    ("avideo_list", "video_list"),
    ("avideo_remix", "video_remix"),
]


def test_all_is_pinned_and_sorted() -> None:
    assert vidgate.__all__ == sorted(vidgate.__all__)
    assert vidgate.__all__ == [
        "APIConnectionError",
        "APIError",
        "APIStatusError",
        "APITimeoutError",
        "AsyncVideoClient",
        "AuthenticationError",
        "BadRequestError",
        "ConflictError",
        "GatewayAdmin",
        "InternalServerError",
        "ModelCapabilities",
        "NotFoundError",
        "OpenAIError",
        "PermissionDeniedError",
        "RateLimitError",
        "UnprocessableEntityError",
        "UnsupportedFeatureError",
        "Usage",
        "Video",
        "VideoClient",
        "VideoContent",
        "VideoDeleted",
        "VideoError",
        "VideoGenerationFailed",
        "VideoList",
        "__version__",
        "acreate_video",
        "avideo_content",
        "avideo_delete",
        "avideo_list",
        "avideo_remix",
        "avideo_retrieve",
        "create_video",
        "set_verbose",
        "video_content",
        "video_delete",
        "video_list",
        "video_remix",
        "video_retrieve",
    ]
    for name in vidgate.__all__:
        assert getattr(vidgate, name) is not None


def test_seed_signature() -> None:
    params = inspect.signature(vidgate.acreate_video).parameters
    assert list(params) == [
        "prompt",
        "model",
        "seconds",
        "size",
        "input_reference",
        "extra_headers",
        "extra_body",
        "api_key",
        "api_base",
        "timeout",
        "max_retries",
        "organization",
    ]
    assert params["model"].default == "sora-2"
    assert params["seconds"].default == "4" and params["size"].default == "720x1280"
    assert list(inspect.signature(vidgate.avideo_list).parameters)[:2] == ["limit", "after"]


def test_sync_twins_match_async_signatures() -> None:
    for async_name, sync_name in SEED_PAIRS:
        a, s = getattr(vidgate, async_name), getattr(vidgate, sync_name)
        assert inspect.iscoroutinefunction(a) and not inspect.iscoroutinefunction(s)
        assert inspect.signature(a) == inspect.signature(s), sync_name
        assert s.__name__ == sync_name
        # Generated from the async function (one code path), not a hand-kept copy.
        assert s.__wrapped__ is a, sync_name


def test_sync_client_matches_async_client() -> None:
    async_methods = {
        n
        for n, f in inspect.getmembers(AsyncVideoClient, inspect.iscoroutinefunction)
        if not n.startswith("_") and n != "aclose"
    }
    assert async_methods >= {
        "create",
        "retrieve",
        "download_content",
        "delete",
        "list",
        "remix",
        "wait",
        "create_and_poll",
        "download_to_file",
    }
    for name in async_methods:
        sync = getattr(VideoClient, name)
        assert not inspect.iscoroutinefunction(sync)
        assert inspect.signature(sync) == inspect.signature(getattr(AsyncVideoClient, name))


def test_exception_tree_matches_openai_names() -> None:
    assert vidgate.OpenAIError is vidgate.APIError
    for name in (
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "UnprocessableEntityError",
        "RateLimitError",
        "InternalServerError",
    ):
        assert issubclass(getattr(vidgate, name), vidgate.APIStatusError)
    assert issubclass(vidgate.APITimeoutError, vidgate.APIConnectionError)
    assert issubclass(vidgate.UnsupportedFeatureError, vidgate.BadRequestError)
    err = vidgate.BadRequestError("bad size", param="size", code="invalid_value")
    assert err.to_dict() == {
        "error": {
            "message": "bad size",
            "type": "invalid_request_error",
            "param": "size",
            "code": "invalid_value",
        }
    }


def test_import_is_light() -> None:
    """``import vidgate`` loads neither httpx, pydantic nor PyAV (they load on first use)."""
    code = (
        "import sys, vidgate; print(sorted(m for m in ('httpx','pydantic','av','numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
