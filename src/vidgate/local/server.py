"""An in-process server for the OpenAI Videos API, backed by the local renderer.

``LocalTransport`` is an ``httpx`` transport: the ``local`` provider's requests are answered
here instead of over a network, with the same status codes and bodies as a real server
(spec §2–§4), so the engine and every caller treat it like any other upstream.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from ..types.video import CONTENT_TYPES, video_json
from .capabilities import PREVIEW
from .store import VARIANT_FILES, LocalSettings, LocalStore, new_video_id, renderer_alive

POLL_AFTER_MS = "250"


_CHUNK = 256 * 1024


class _Error(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status,
            message,
            param,
            code,
            kind,
        )

    def response(self) -> httpx.Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }
        return httpx.Response(self.status, json=body)


class _FileStream(httpx.AsyncByteStream):
    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := self._file.read(_CHUNK):
            yield chunk

    async def aclose(self) -> None:
        self._file.close()


class LocalTransport(httpx.AsyncBaseTransport):
    """Serves ``/v1/videos`` from ``$VIDGATE_HOME/local`` and renders in worker processes."""

    def __init__(self, settings: LocalSettings | None = None) -> None:
        # Fixed settings (the gateway's), or ``None``: the SDK's, read from the environment
        # at each request, so a script that changes ``VIDGATE_HOME`` is followed.
        self._fixed = settings
        self._workers: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def settings(self) -> LocalSettings:
        return self._fixed or LocalSettings.from_env()

    @property
    def _store(self) -> LocalStore:
        return LocalStore(self.settings.root)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._route(request, await request.aread())
        except _Error as exc:
            return exc.response()

    async def aclose(self) -> None:
        # Workers are detached on purpose: they finish the job even after this process exits.
        self._workers.clear()

    # -- routing -----------------------------------------------------------------------------

    def _route(self, request: httpx.Request, body: bytes) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if parts[:1] == ["v1"]:
            parts = parts[1:]
        method = request.method
        if parts == ["videos"] and method == "POST":
            return self._create(request, body)
        if parts == ["videos"] and method == "GET":
            return self._list(request.url.params)
        if len(parts) >= 2 and parts[0] == "videos":
            video_id = parts[1]
            if len(parts) == 2 and method == "GET":
                return self._retrieve(video_id)
            if len(parts) == 2 and method == "DELETE":
                return self._delete(video_id)
            if parts[2:] == ["content"] and method == "GET":
                return self._content(video_id, request.url.params.get("variant", "video"))
            if parts[2:] == ["remix"] and method == "POST":
                return self._remix(video_id, _json_body(body))
        raise _Error(404, f"Unknown route {method} {request.url.path}", code="unknown_route")

    # -- handlers ----------------------------------------------------------------------------

    def _create(self, request: httpx.Request, body: bytes) -> httpx.Response:
        fields = _json_body(body)
        prompt = _prompt(fields.get("prompt"))
        seconds = str(fields.get("seconds", PREVIEW.default_seconds))
        size = str(fields.get("size", PREVIEW.default_size))
        if PREVIEW.seconds is not None and seconds not in PREVIEW.seconds:
            raise _Error(
                400,
                f"Invalid value for 'seconds': '{seconds}'. Supported values are 1 to 20.",
                param="seconds",
                code="invalid_value",
            )
        if PREVIEW.sizes is not None and size not in PREVIEW.sizes:
            raise _Error(
                400,
                f"Invalid value for 'size': '{size}'. Supported values are "
                f"{', '.join(PREVIEW.sizes)}.",
                param="size",
                code="invalid_value",
            )
        seed = fields.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise _Error(400, "'seed' must be an integer.", param="seed", code="invalid_type")
        reference = _reference(fields.get("input_reference"))

        key = request.headers.get("idempotency-key")
        fingerprint = hashlib.sha256(body).hexdigest()
        if key:
            existing = _idempotent_lookup(self._store, key, fingerprint)
            if existing is not None:
                return self._retrieve(existing)

        job = _new_job(
            prompt=prompt,
            model=str(fields.get("model", "preview")),
            size=size,
            seconds=seconds,
            seed=seed,
        )
        self._store.write_job(job)
        if reference is not None:
            (self._store.job_dir(job["id"]) / "reference.bin").write_bytes(reference)
        if key:
            _idempotent_store(self._store, key, fingerprint, job["id"])
        self._spawn(job["id"])
        return _video_response(job)

    def _remix(self, video_id: str, fields: dict[str, Any]) -> httpx.Response:
        source = self._job_or_404(video_id)
        if source["status"] != "completed":
            raise _Error(
                400,
                f"Video '{video_id}' is not completed; only completed videos can be remixed.",
                param="video_id",
                code="video_not_ready",
            )
        prompt = _prompt(fields.get("prompt"))
        seed = int(hashlib.sha256(f"{source.get('seed')}:{prompt}".encode()).hexdigest()[:8], 16)
        job = _new_job(
            prompt=prompt,
            model=source["model"],
            size=source["size"],
            seconds=source["seconds"],
            seed=seed,
            remixed_from_video_id=video_id,
        )
        self._store.write_job(job)
        # The remix starts from the source's last look: its reference if it had one.
        ref = self._store.job_dir(video_id) / "reference.bin"
        if ref.exists():
            (self._store.job_dir(job["id"]) / "reference.bin").write_bytes(ref.read_bytes())
        self._spawn(job["id"])
        return _video_response(job)

    def _retrieve(self, video_id: str) -> httpx.Response:
        job = self._job_or_404(video_id)
        if job["status"] in ("queued", "in_progress") and not self._running(job):
            self._spawn(video_id)  # its renderer died (or never started): start again
        return _video_response(job)

    def _content(self, video_id: str, variant: str) -> httpx.Response:
        if variant not in VARIANT_FILES:
            raise _Error(
                400,
                f"Invalid value for 'variant': '{variant}'. Supported values are "
                "video, thumbnail and spritesheet.",
                param="variant",
                code="invalid_value",
            )
        job = self._job_or_404(video_id)
        if job["status"] != "completed":
            raise _Error(
                400,
                f"Video '{video_id}' is {job['status']}; content is available "
                "once it is completed.",
                param="video_id",
                code="video_not_ready",
            )
        path = self._store.job_dir(video_id) / VARIANT_FILES[variant]
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise _Error(
                404, f"Content for video '{video_id}' was removed.", code="content_not_found"
            ) from None
        headers = {"content-type": CONTENT_TYPES[variant], "content-length": str(size)}
        return httpx.Response(200, headers=headers, stream=_FileStream(path))

    def _delete(self, video_id: str) -> httpx.Response:
        job = self._job_or_404(video_id)
        pid = job.get("worker_pid")
        if job["status"] in ("queued", "in_progress") and isinstance(pid, int):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        self._store.remove_job(video_id)
        return httpx.Response(
            200, json={"id": video_id, "object": "video.deleted", "deleted": True}
        )

    def _list(self, params: httpx.QueryParams) -> httpx.Response:
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise _Error(
                400,
                "Invalid value for 'order': expected 'asc' or 'desc'.",
                param="order",
                code="invalid_value",
            )
        try:
            limit = int(params.get("limit", "20"))
        except ValueError:
            raise _Error(
                400, "'limit' must be an integer.", param="limit", code="invalid_type"
            ) from None
        if not 0 <= limit <= 100:
            raise _Error(
                400, "'limit' must be between 0 and 100.", param="limit", code="invalid_value"
            )
        jobs = sorted(
            self._store.list_jobs(),
            key=lambda j: (j["created_at"], j["seq"]),
            reverse=order == "desc",
        )
        after = params.get("after")
        if after:
            ids = [j["id"] for j in jobs]
            if after not in ids:
                raise _Error(
                    404, f"No video found with id '{after}'.", param="after", code="not_found"
                )
            jobs = jobs[ids.index(after) + 1 :]
        page = jobs[:limit]
        data = [video_json(j) for j in page]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(jobs) > limit,
            },
        )

    # -- helpers -----------------------------------------------------------------------------

    def _job_or_404(self, video_id: str) -> dict[str, Any]:
        job = self._store.read_job(video_id)
        if job is None:
            raise _Error(
                404, f"No video found with id '{video_id}'.", param="video_id", code="not_found"
            )
        return job

    def _running(self, job: dict[str, Any]) -> bool:
        worker = self._workers.get(job["id"])
        if worker is not None and worker.poll() is not None:
            del self._workers[job["id"]]  # reaped: it exited without finishing the job
            return False
        if not job.get("worker_pid"):
            return False  # waiting for a free render slot: nothing was started yet
        # A job still queued a moment after its spawn is being started, not dead.
        if job["status"] == "queued" and time.time() - job["updated_at"] < 10:
            return True
        return renderer_alive(job)

    def _busy_slots(self) -> int:
        """Renders this process started that are still running (finished ones are reaped)."""
        for video_id, worker in list(self._workers.items()):
            if worker.poll() is not None:
                del self._workers[video_id]
        return len(self._workers)

    def _spawn(self, video_id: str) -> None:
        """Start the job's renderer, or leave it queued while every render slot is busy:
        a later retrieve (the SDK's wait, the gateway's poller) starts it when one frees."""
        if self._busy_slots() >= self.settings.workers:
            return
        directory = self._store.job_dir(video_id)
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        with (directory / "worker.log").open("ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "vidgate.local.worker", str(self.settings.root), video_id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        self._workers[video_id] = worker
        # A thread that waits on it reaps the renderer the moment it exits, so a finished
        # one never lingers as a zombie, even in a process that makes no further request.
        threading.Thread(target=worker.wait, name=f"reap-{worker.pid}", daemon=True).start()
        self._store.update_job(video_id, worker_pid=worker.pid)


def _new_job(
    *,
    prompt: str,
    model: str,
    size: str,
    seconds: str,
    seed: int | None,
    remixed_from_video_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": new_video_id(),
        "object": "video",
        "model": model,
        "status": "queued",
        "progress": 0,
        "created_at": int(time.time()),
        "completed_at": None,
        "expires_at": None,
        "prompt": prompt,
        "size": size,
        "seconds": seconds,
        "remixed_from_video_id": remixed_from_video_id,
        "error": None,
        "seed": seed,
        "seq": time.time_ns(),
    }


def _video_response(job: dict[str, Any]) -> httpx.Response:
    headers = (
        {} if job["status"] in ("completed", "failed") else {"openai-poll-after-ms": POLL_AFTER_MS}
    )
    return httpx.Response(200, json=video_json(job), headers=headers)


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body or b"{}")
    except ValueError:
        raise _Error(
            400, "We could not parse the JSON body of your request.", code="invalid_json"
        ) from None
    if not isinstance(fields, dict):
        raise _Error(400, "The request body must be a JSON object.", code="invalid_json")
    return fields


def _prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Error(
            400,
            "'prompt' is required and must be a non-empty string.",
            param="prompt",
            code="invalid_value",
        )
    if len(value) > PREVIEW.max_prompt_chars:
        raise _Error(
            400,
            f"'prompt' is longer than {PREVIEW.max_prompt_chars} characters.",
            param="prompt",
            code="string_above_max_length",
        )
    return value


def _reference(value: Any) -> bytes | None:
    """The reference image from ``{"image_url": "data:..."}`` (the only form local accepts:
    it has no network to fetch an https URL with)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Error(
            400,
            "Invalid type for 'input_reference': expected an object, but got a "
            f"{type(value).__name__} instead.",
            param="input_reference",
            code="invalid_type",
        )
    url = value.get("image_url")
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise _Error(
            400,
            "The local engine takes 'input_reference' as an uploaded file or a base64 data URL.",
            param="input_reference",
            code="invalid_value",
        )
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise _Error(
            400,
            "'input_reference' is not valid base64.",
            param="input_reference",
            code="invalid_value",
        ) from None


def _idempotency_path(store: LocalStore, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return store.root / "idempotency" / f"{digest}.json"


def _idempotent_lookup(store: LocalStore, key: str, fingerprint: str) -> str | None:
    path = _idempotency_path(store, key)
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if time.time() - record["at"] > 24 * 3600:
        return None
    if record["fingerprint"] != fingerprint:
        raise _Error(
            422,
            "This Idempotency-Key was already used with a different request body.",
            param="Idempotency-Key",
            code="idempotency_key_reused",
        )
    return str(record["video_id"]) if store.read_job(record["video_id"]) else None


def _idempotent_store(store: LocalStore, key: str, fingerprint: str, video_id: str) -> None:
    path = _idempotency_path(store, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"fingerprint": fingerprint, "video_id": video_id, "at": time.time()})
    )
