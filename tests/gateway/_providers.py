"""Test-only helpers for ``test_providers_e2e.py``: each provider's fake upstream, started on
loopback, and what an end-to-end test through the gateway needs to know about it.

One :class:`Upstream` subclass per provider says how its deployment is configured (model,
credentials, ``api_base`` pointing at the fake), which size and seconds it is driven with and
what the price table charges for them, how that request looks on the provider's wire, which
prompts make the fake fail or refuse, where a reference image lands in the create body, where
the temporary download link lives and how to make it expire, which writes a delete sends, how
to make its create answer 429 (the fake's own fault injection), and a key it refuses.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import (
    fal_upstream,
    gemini_upstream,
    replicate_upstream,
    runway_upstream,
    vertex_upstream,
    xai_upstream,
)
from tests.fakes.loopback import serve_on_loopback
from vidgate.local.render import render

# Gateway-side poll cadence for every deployment: the fakes finish in 2-4 polls.
POLL_INTERVAL = 0.02
# A job that never finishes while a test looks at it (the fakes count polls, not time).
NEVER = 10**9
# Part of every ``wrong_key``: a test looks for it in what the gateway answers.
WRONG_KEY = "not-our-key-7d3f9a2c41"


def token() -> str:
    """A marker put in a prompt so a test finds its own requests in the fake's log."""
    return uuid.uuid4().hex[:12]


class Upstream:
    """One provider's fake, running, and the facts a gateway test checks against it."""

    name: ClassVar[str]
    model: ClassVar[str]  # the deployment's ``provider/model``
    image_model: ClassVar[str | None] = None  # a second deployment when ``model`` is text-only
    size: ClassVar[str]
    seconds: ClassVar[str]
    cost: ClassVar[float | None]  # the price table's figure for ``size`` x ``seconds``
    wire: ClassVar[dict[str, Any]]  # how ``size`` and ``seconds`` look on the provider's wire
    fail_prompt: ClassVar[str]
    fail_code: ClassVar[str]
    fail_message: ClassVar[str]  # a part of the provider's reason
    refuse_prompt: ClassVar[str]
    refuse_message: ClassVar[str]
    # Create arguments the model cannot honour, and the ``param`` the 400 must name.
    unsupported: ClassVar[tuple[tuple[dict[str, str], str], ...]]
    download_path: ClassVar[str]  # path prefix of the temporary download link
    # (method, path with {id}) writes a delete sends, for a finished and a running job.
    delete_finished: ClassVar[tuple[tuple[str, str], ...]] = ()
    delete_running: ClassVar[tuple[tuple[str, str], ...]] = ()
    expiry_extra: ClassVar[dict[str, Any]] = {}  # extra_body that makes the output expirable
    wrong_key: ClassVar[str]  # an ``api_key`` of the provider's shape that its fake refuses

    def __init__(self, state: Any, base_url: str, video: bytes) -> None:
        self.state = state
        self.base_url = base_url
        self.video = video

    # -- configuration -----------------------------------------------------------------------

    @property
    def public(self) -> str:
        return f"my-{self.name}"

    @property
    def public_image(self) -> str:
        return f"my-{self.name}-i2v" if self.image_model else self.public

    @property
    def public_wrong_key(self) -> str:
        return f"my-{self.name}-wrong-key"

    def credentials(self) -> dict[str, Any]:
        raise NotImplementedError

    def wrong_key_deployment(self) -> dict[str, Any]:
        """A deployment of ``model`` on the same fake whose ``api_key`` the fake refuses."""
        params = {**self.credentials(), "api_key": self.wrong_key}
        return {
            "model_name": self.public_wrong_key,
            "params": {"model": self.model, "poll_interval": POLL_INTERVAL, **params},
        }

    def deployments(self) -> list[dict[str, Any]]:
        """``model_list`` entries for this provider (``params`` and ``litellm_params`` both)."""
        out = [
            {
                "model_name": self.public,
                "params": {"model": self.model, "poll_interval": POLL_INTERVAL,
                           **self.credentials()},
            }
        ]  # fmt: skip
        if self.image_model:
            out.append(
                {
                    "model_name": self.public_image,
                    "litellm_params": {"model": self.image_model, "poll_interval": POLL_INTERVAL,
                                       **self.credentials()},
                }
            )  # fmt: skip
        return out

    # -- what the fake saw -------------------------------------------------------------------

    def requests(self) -> list[Any]:
        with self.state.lock:
            return list(self.state.requests)

    def sent_creates(self, marker: str) -> list[Any]:
        """The create requests whose body carries ``marker`` (in the prompt)."""
        return [
            r
            for r in self.requests()
            if r.method == "POST" and r.json is not None and marker in json.dumps(r.json)
        ]

    def sent_create(self, marker: str) -> dict[str, Any]:
        [request] = self.sent_creates(marker)
        body: dict[str, Any] = request.json
        return body

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        """The fields of a create body that ``size`` and ``seconds`` map to."""
        raise NotImplementedError

    def image(self, body: dict[str, Any]) -> Any:
        """Where this provider's create body carries the reference image."""
        raise NotImplementedError

    def expected_image(self, png: bytes) -> Any:
        return "data:image/png;base64," + base64.b64encode(png).decode()

    def upstream_ids(self, marker: str) -> list[str]:
        """The provider's ids for every job it accepted whose prompt carries ``marker``."""
        raise NotImplementedError

    def upstream_id(self, marker: str) -> str:
        """The provider's id for the one job whose prompt carries ``marker``."""
        [upstream_id] = self.upstream_ids(marker)
        return upstream_id

    def downloads(self) -> list[Any]:
        return [r for r in self.requests() if r.path.startswith(self.download_path)]

    def writes(self, since: int) -> list[tuple[str, str]]:
        """Requests after index ``since`` that change something upstream (not polls,
        downloads or token exchanges)."""
        return [
            (r.method, r.path)
            for r in self.requests()[since:]
            if r.method != "GET" and not self._is_read(r)
        ]

    def _is_read(self, request: Any) -> bool:
        return False

    # -- controls ----------------------------------------------------------------------------

    def expire(self) -> None:
        """Make the temporary download link stop working."""
        raise NotImplementedError

    def hold(self) -> None:
        """Keep new jobs unfinished for as long as a test looks."""
        raise NotImplementedError

    def throttle(self, headers: dict[str, str], times: int) -> None:
        """Answer the next ``times`` text-to-video creates with the provider's own 429 body
        and ``headers`` (``Retry-After``), through the fake's fault injection; nothing is
        created for them."""
        raise NotImplementedError

    def restore(self) -> None:
        """Back to the module's configuration; forget every job and request."""
        self.state.reset()

    def replay(self, request: Any) -> int:
        """Fetch a recorded download again, as the gateway did; returns the status code."""
        headers = {
            k: v for k, v in request.headers.items() if k in ("authorization", "x-goog-api-key")
        }
        query = getattr(request, "query", {}) or {}  # xAI's fake records no query
        url = self.base_url + request.path
        return httpx.get(url, params=query, headers=headers, timeout=10).status_code


class Runway(Upstream):
    name = "runway"
    model = "runway/gen4.5"
    size, seconds = "1280x720", "2"
    cost = 0.24  # runway/gen4.5: $0.12/s
    wire: ClassVar[dict[str, Any]] = {"ratio": "1280:720", "duration": 2}
    fail_prompt, fail_code, fail_message = "FAIL", "INTERNAL.BAD_OUTPUT.CODE01", "quality reasons"
    refuse_prompt, refuse_message = "UNSAFE", "SAFETY.INPUT.TEXT"
    unsupported = (
        ({"seconds": "12"}, "seconds"),
        ({"size": "1920x1080"}, "size"),
        # gen4.5 takes 960x960 only with an image: refused by the adapter, not the catalogue.
        ({"size": "960x960"}, "size"),
    )
    download_path = "/cdn/"
    delete_finished = (("DELETE", "/v1/tasks/{id}"),)
    delete_running = (("DELETE", "/v1/tasks/{id}"),)

    wrong_key = f"key_{WRONG_KEY}"  # 401

    def credentials(self) -> dict[str, Any]:
        return {"api_key": "key_test", "api_base": self.base_url}

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: body.get(k) for k in ("ratio", "duration")}

    def image(self, body: dict[str, Any]) -> Any:
        return body.get("promptImage")

    def upstream_ids(self, marker: str) -> list[str]:
        with self.state.lock:
            return [str(t.id) for t in self.state.tasks.values() if marker in t.prompt]

    def expire(self) -> None:
        self.state.expire_links = True

    def hold(self) -> None:
        self.state.pending_polls = NEVER

    def throttle(self, headers: dict[str, str], times: int) -> None:
        body = {"error": "You have exceeded the rate limit for this API key."}
        self.state.inject(
            method="POST",
            path="/v1/text_to_video",
            status=429,
            headers=headers,
            body=body,
            times=times,
        )


class XAI(Upstream):
    name = "xai"
    model = "xai/grok-imagine-video"
    size, seconds = "1280x720", "2"
    cost = 0.14  # xai/grok-imagine-video at 720p: $0.07/s
    wire: ClassVar[dict[str, Any]] = {"aspect_ratio": "16:9", "resolution": "720p", "duration": 2}
    fail_prompt, fail_code, fail_message = "FAIL", "internal_error", "could not be generated"
    refuse_prompt, refuse_message = "UNSAFE", "respect_moderation"
    unsupported = (({"seconds": "16"}, "seconds"), ({"size": "1920x1080"}, "size"))
    download_path = "/cdn/"

    wrong_key = f"xai-{WRONG_KEY}"  # 400 "Incorrect API key provided" (providers.md addenda)

    def credentials(self) -> dict[str, Any]:
        return {"api_key": "xai-test", "api_base": f"{self.base_url}/v1"}

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: body.get(k) for k in ("aspect_ratio", "resolution", "duration")}

    def image(self, body: dict[str, Any]) -> Any:
        return (body.get("image") or {}).get("url")

    def upstream_ids(self, marker: str) -> list[str]:
        with self.state.lock:
            return [str(j.id) for j in self.state.jobs.values() if marker in j.body["prompt"]]

    def expire(self) -> None:
        self.state.expire_links = True

    def hold(self) -> None:
        self.state.queued_polls = NEVER

    def throttle(self, headers: dict[str, str], times: int) -> None:
        body = {"code": "Too many requests", "error": "Rate limit exceeded for this team."}
        self.state.inject(
            method="POST",
            path="/v1/videos/generations",
            status=429,
            headers=headers,
            body=body,
            times=times,
        )


class Fal(Upstream):
    name = "fal"
    model = "fal/fal-ai/kling-video/v2.1/master/text-to-video"
    image_model = "fal/fal-ai/kling-video/v2.1/master/image-to-video"
    size, seconds = "1920x1080", "5"
    cost = 1.40  # Kling 2.1 Master: $0.28/s
    wire: ClassVar[dict[str, Any]] = {"aspect_ratio": "16:9", "duration": "5"}
    fail_prompt, fail_code = "[fail]", "runner_server_error"
    fail_message = fal_upstream.FAILURE
    refuse_prompt, refuse_message = "[refuse]", fal_upstream.REFUSAL
    unsupported = (({"seconds": "6"}, "seconds"), ({"size": "1280x720"}, "size"))
    download_path = "/cdn/"
    delete_running = (("PUT", "/fal-ai/kling-video/requests/{id}/cancel"),)

    wrong_key = f"fal-{WRONG_KEY}"  # 401

    def credentials(self) -> dict[str, Any]:
        return {"api_key": "fal-test", "api_base": self.base_url}

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: body.get(k) for k in ("aspect_ratio", "duration")}

    def image(self, body: dict[str, Any]) -> Any:
        return body.get("image_url")

    def upstream_ids(self, marker: str) -> list[str]:
        with self.state.lock:
            return [str(j.id) for j in self.state.jobs.values() if marker in j.input["prompt"]]

    def expire(self) -> None:
        self.state.expire_downloads = True

    def hold(self) -> None:
        self.state.queued_polls = self.state.polls_to_complete = NEVER

    def throttle(self, headers: dict[str, str], times: int) -> None:
        path = "/" + self.model.removeprefix("fal/")
        body = {"detail": "Rate limit exceeded: too many concurrent requests."}
        self.state.inject("POST", path, 429, body, headers=headers, times=times)


class Replicate(Upstream):
    name = "replicate"
    model = "replicate/minimax/hailuo-02"
    size, seconds = "1366x768", "6"
    cost = 0.27  # Hailuo-02 at 768p: $0.045/s
    wire: ClassVar[dict[str, Any]] = {"resolution": "768p", "duration": 6}
    fail_prompt, fail_code = "[fail]", "generation_failed"
    fail_message = replicate_upstream.FAILURE
    refuse_prompt, refuse_message = "[refuse]", replicate_upstream.REFUSAL
    unsupported = (({"seconds": "5"}, "seconds"), ({"size": "1280x720"}, "size"))
    download_path = "/delivery/"
    delete_running = (("POST", "/v1/predictions/{id}/cancel"),)

    wrong_key = f"r8_{WRONG_KEY}"  # 401

    def credentials(self) -> dict[str, Any]:
        return {"api_key": "r8_test", "api_base": self.base_url}

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: body["input"].get(k) for k in ("resolution", "duration")}

    def image(self, body: dict[str, Any]) -> Any:
        return body["input"].get("first_frame_image")

    def upstream_ids(self, marker: str) -> list[str]:
        with self.state.lock:
            return [
                str(p.id) for p in self.state.predictions.values() if marker in p.input["prompt"]
            ]

    def expire(self) -> None:
        self.state.expire_downloads = True

    def hold(self) -> None:
        self.state.starting_polls = self.state.polls_to_complete = NEVER

    def throttle(self, headers: dict[str, str], times: int) -> None:
        path = f"/v1/models/{self.model.removeprefix('replicate/')}/predictions"
        body = {
            "title": "Too Many Requests",
            "status": 429,
            "detail": "Request was throttled. Expected available in 1 second.",
        }
        self.state.inject("POST", path, 429, body, headers=headers, times=times)


class Vertex(Upstream):
    name = "vertex"
    model = "vertex/veo-3.1-generate-001"
    size, seconds = "1280x720", "4"
    cost = 1.60  # Veo 3.1 at 720p: $0.40/s
    wire: ClassVar[dict[str, Any]] = {
        "durationSeconds": 4,
        "aspectRatio": "16:9",
        "resolution": "720p",
    }
    fail_prompt, fail_code, fail_message = "FAIL", "internal", "internal error"
    refuse_prompt, refuse_message = "BLOCK", vertex_upstream.RAI_REASON
    unsupported = (({"seconds": "5"}, "seconds"), ({"size": "960x960"}, "size"))
    download_path = "/storage/v1/b/"
    # Inline base64 output has no link to expire; output to a bucket does. The bucket is the
    # operator's choice (a tenant may not set it), so it is in the deployment's params.
    bucket = "gs://e2e-bucket/out/"
    project, location = "e2e-project", "europe-west4"

    def __init__(self, state: Any, base_url: str, video: bytes, key_file: Path) -> None:
        super().__init__(state, base_url, video)
        self.key_file = key_file

    wrong_key = f"ya29.{WRONG_KEY}"  # an access token the fake never minted: 401

    def credentials(self) -> dict[str, Any]:
        # Project and region ride in api_base; the key file's token_uri is the fake's.
        base = f"{self.base_url}/v1/projects/{self.project}/locations/{self.location}"
        return {"api_key": str(self.key_file), "api_base": base, "storage_uri": self.bucket}

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: body["parameters"].get(k) for k in self.wire}

    def image(self, body: dict[str, Any]) -> Any:
        return body["instances"][0].get("image")

    def expected_image(self, png: bytes) -> Any:
        return {"bytesBase64Encoded": base64.b64encode(png).decode(), "mimeType": "image/png"}

    def upstream_ids(self, marker: str) -> list[str]:
        with self.state.lock:
            return [str(o.name) for o in self.state.operations.values() if marker in o.prompt]

    def _is_read(self, request: Any) -> bool:
        path = str(request.path)
        return path == "/token" or path.endswith(":fetchPredictOperation")

    def expire(self) -> None:
        with self.state.lock:
            self.state.objects.clear()  # a bucket lifecycle rule removed the output

    def hold(self) -> None:
        self.state.polls_to_complete = NEVER

    def throttle(self, headers: dict[str, str], times: int) -> None:
        # The fake's default body: google.rpc RESOURCE_EXHAUSTED.
        self.state.inject(
            method="POST",
            path_part=":predictLongRunning",
            status=429,
            headers=headers,
            times=times,
        )

    def restore(self) -> None:
        # Not ``reset()``: that forgets minted tokens, which the gateway keeps for an hour.
        with self.state.lock:
            self.state.requests.clear()
            self.state.operations.clear()
            self.state.objects.clear()
            self.state.faults.clear()
            self.state.polls_to_complete = 2


class Gemini(Upstream):
    name = "gemini"
    model = "gemini/gemini-omni-1.2-flash"
    size, seconds = "1280x720", "4"
    cost = None  # providers.md §2.2: no list price captured, so none in the table
    wire: ClassVar[dict[str, Any]] = {"aspect_ratio": "16:9", "resolution": "720p", "duration": "4"}
    fail_prompt, fail_code = "FAIL", "internal"
    fail_message = gemini_upstream.FAIL_MESSAGE
    refuse_prompt, refuse_message = "BLOCK", gemini_upstream.SAFETY_MESSAGE
    unsupported = (({"seconds": "16"}, "seconds"), ({"size": "960x960"}, "size"))
    download_path = "/download/"  # the Files API (delivery "uri", the adapter's default)
    delete_finished = (("DELETE", "/v1beta/interactions/{id}"),)
    delete_running = (
        ("POST", "/v1beta/interactions/{id}/cancel"),
        ("DELETE", "/v1beta/interactions/{id}"),
    )

    wrong_key = f"AIza{WRONG_KEY}"  # 400 API_KEY_INVALID (providers.md addenda)

    def credentials(self) -> dict[str, Any]:
        return {"api_key": "gm-test", "api_base": f"{self.base_url}/v1beta"}

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: body["response_format"].get(k) for k in self.wire}

    def image(self, body: dict[str, Any]) -> Any:
        images = [b for b in body["input"] if b.get("type") == "image"]
        return images[0] if images else None

    def expected_image(self, png: bytes) -> Any:
        return {"type": "image", "mime_type": "image/png", "data": base64.b64encode(png).decode()}

    def upstream_ids(self, marker: str) -> list[str]:
        with self.state.lock:
            return [str(i.id) for i in self.state.interactions.values() if marker in i.prompt]

    def expire(self) -> None:
        with self.state.lock:
            self.state.files.clear()  # the Files API dropped it (~2 days)

    def hold(self) -> None:
        self.state.polls_to_complete = NEVER

    def throttle(self, headers: dict[str, str], times: int) -> None:
        # The fake's default body: google.rpc RESOURCE_EXHAUSTED.
        self.state.inject(
            method="POST",
            path_part="/v1beta/interactions",
            status=429,
            headers=headers,
            times=times,
        )


NAMES = ("runway", "xai", "fal", "replicate", "vertex", "gemini")


def _mp4(out: Path, label: str) -> bytes:
    # A real, decodable MP4 per provider (different bytes, so a mix-up shows).
    return render(label, out_dir=out / label, width=320, height=180, seconds=1).video.read_bytes()


@contextlib.contextmanager
def run_upstreams(work: Path) -> Iterator[dict[str, Upstream]]:
    """Start all six fakes on loopback; yields them by provider name."""
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    email = "veo-e2e@e2e-project.iam.gserviceaccount.com"
    with contextlib.ExitStack() as stack:
        ups: dict[str, Upstream] = {}

        def serve(app: Any) -> str:
            base, _ = stack.enter_context(serve_on_loopback(app))
            return str(base)

        video = _mp4(work, "runway")
        state: Any = runway_upstream.FakeRunwayState(video_bytes=video)
        ups["runway"] = Runway(state, serve(runway_upstream.create_app(state)), video)

        video = _mp4(work, "xai")
        state = xai_upstream.FakeXAIState(video_bytes=video)
        ups["xai"] = XAI(state, serve(xai_upstream.create_app(state)), video)

        video = _mp4(work, "fal")
        state = fal_upstream.FakeFalState(video_bytes=video)
        ups["fal"] = Fal(state, serve(fal_upstream.create_app(state)), video)

        video = _mp4(work, "replicate")
        state = replicate_upstream.FakeReplicateState(video_bytes=video)
        ups["replicate"] = Replicate(state, serve(replicate_upstream.create_app(state)), video)

        video = _mp4(work, "vertex")
        state = vertex_upstream.FakeVertexState(
            video=video, client_email=email, public_key_pem=public_pem
        )
        base = serve(vertex_upstream.create_app(state))
        key_file = work / "vertex-sa.json"
        key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "key-file-project",
                    "private_key_id": "kid-e2e",
                    "private_key": sa_key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ).decode(),
                    "client_email": email,
                    "token_uri": f"{base}/token",
                }
            )
        )
        ups["vertex"] = Vertex(state, base, video, key_file)

        video = _mp4(work, "gemini")
        state = gemini_upstream.FakeGeminiState(video=video)
        ups["gemini"] = Gemini(state, serve(gemini_upstream.create_app(state)), video)

        assert tuple(ups) == NAMES
        yield ups
