"""A lean fake OpenAI Videos upstream for the gateway benchmark (standard library only).

Unlike ``tests/fakes/openai_upstream.py`` (faithful to the last detail, content held in
memory), this one is built to stay out of the way of what is measured:

* a small HTTP/1.1 server on asyncio streams with keep-alive, no framework;
* content of any size is *generated* (one 1 MiB pattern written again and again, with
  flow control), so a 1 GB download costs the fake no memory;
* configurable added latency per request, job duration (a job is ``in_progress`` until
  ``job_seconds`` after its create, then ``completed``) and content size;
* it counts every request by API key and route, so the benchmark can tell how many upstream
  requests each gateway made (each gateway gets its own upstream key).

Routes under ``/v1``: ``POST /videos``, ``GET /videos``, ``GET /videos/{id}``,
``GET /videos/{id}/content?variant=``, ``DELETE /videos/{id}``, ``POST /videos/{id}/remix``.
Bench control (no key): ``GET /_bench/health``, ``GET /_bench/stats``, ``POST /_bench/reset``,
``POST /_bench/config`` (JSON with any of the config fields; applies to jobs created after).

Run:  python bench/gateways/fake_upstream.py --port 0 --keys sk-a,sk-b --port-file FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PATTERN = (bytes(range(256)) * 4096)[: 1 << 20]  # 1 MiB written again and again
WRITE_BYTES = 256 * 1024
SMALL_VARIANTS = {"thumbnail": (2048, "image/webp"), "spritesheet": (4096, "image/jpeg")}
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
_VIDEO = re.compile(r"^/v1/videos/([^/]+)(/content|/remix)?/?$")


@dataclass
class Config:
    latency_ms: float = 0.0  # added before every /v1 answer
    job_seconds: float = 2.0  # time from create to completed
    content_bytes: int = 1 << 20  # size of the "video" variant
    poll_after_ms: int | None = None  # openai-poll-after-ms on unfinished jobs (None: omit)


@dataclass
class Job:
    id: str
    created: float
    created_at: int
    job_seconds: float
    content_bytes: int
    model: str
    prompt: str
    seconds: str
    size: str
    deleted: bool = False

    def video(self, now: float) -> dict[str, Any]:
        elapsed = now - self.created
        done = elapsed >= self.job_seconds
        progress = 100 if done else int(100 * elapsed / max(self.job_seconds, 1e-9))
        status = "completed" if done else ("queued" if progress == 0 else "in_progress")
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": status,
            "progress": progress,
            "created_at": self.created_at,
            "completed_at": self.created_at + int(self.job_seconds) if done else None,
            "expires_at": self.created_at + 86400 if done else None,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from_video_id": None,
            "error": None,
        }


class Fake:
    def __init__(self, keys: set[str], config: Config) -> None:
        self.keys = keys
        self.config = config
        self.jobs: dict[str, Job] = {}
        self.order: list[str] = []
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.bytes_sent: dict[str, int] = defaultdict(int)

    # -- HTTP plumbing -----------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await self._body(reader, headers)
                keep = headers.get("connection", "").lower() != "close"
                await self.handle(method, target, headers, body, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        return b""

    @staticmethod
    def _head(status: int, ctype: str, length: int, extra: dict[str, str] | None = None) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
            f"content-type: {ctype}",
            f"content-length: {length}",
            f"x-request-id: req_{secrets.token_hex(8)}",
        ]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: Any,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        writer.write(self._head(status, "application/json", len(data), extra) + data)
        await writer.drain()

    def error(
        self, writer: asyncio.StreamWriter, status: int, message: str, code: str | None
    ) -> Any:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
        return self.send_json(writer, status, body)

    # -- routes ------------------------------------------------------------------------------

    async def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, writer: Any
    ) -> None:
        path, _, query = target.partition("?")
        if path.startswith("/_bench/"):
            await self.control(method, path, body, writer)
            return
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("api-key", "")
        if key not in self.keys:
            self.counts["(bad key)"][f"{method} {path}"] += 1
            await self.error(writer, 401, "Incorrect API key provided.", "invalid_api_key")
            return
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        now = time.monotonic()
        match = _VIDEO.match(path)
        if path.rstrip("/") == "/v1/videos":
            route = "create" if method == "POST" else "list"
            self.counts[key][route] += 1
            if method == "POST":
                await self.create(body, headers, writer, now)
            else:
                live = [self.jobs[i].video(now) for i in reversed(self.order[-20:])]
                await self.send_json(
                    writer,
                    200,
                    {
                        "object": "list",
                        "data": live,
                        "first_id": None,
                        "last_id": None,
                        "has_more": False,
                    },
                )
            return
        if match is None:
            self.counts[key][f"unknown {method} {path}"] += 1
            await self.error(writer, 404, f"Invalid URL ({method} {path})", None)
            return
        job = self.jobs.get(match.group(1))
        sub = match.group(2) or ""
        route = {
            "": {"GET": "retrieve", "DELETE": "delete"}.get(method, "unknown"),
            "/content": "content",
            "/remix": "remix",
        }[sub]
        self.counts[key][route] += 1
        if job is None or job.deleted:
            await self.error(
                writer, 404, f"Video with id '{match.group(1)}' not found.", "not_found"
            )
            return
        video = job.video(now)
        if route == "retrieve":
            extra = {}
            if video["status"] != "completed" and self.config.poll_after_ms is not None:
                extra["openai-poll-after-ms"] = str(self.config.poll_after_ms)
            await self.send_json(writer, 200, video, extra)
        elif route == "delete":
            job.deleted = True
            await self.send_json(
                writer, 200, {"id": job.id, "object": "video.deleted", "deleted": True}
            )
        elif route == "remix":
            await self.create(body, headers, writer, now)
        elif route == "content":
            if video["status"] != "completed":
                await self.error(
                    writer, 400, f"Video '{job.id}' is not completed.", "video_not_ready"
                )
                return
            variant = "video"
            for part in query.split("&"):
                if part.startswith("variant="):
                    variant = part[8:]
            await self.content(writer, key, job, variant)
        else:
            await self.error(writer, 404, f"Invalid URL ({method} {path})", None)

    async def create(self, body: bytes, headers: dict[str, str], writer: Any, now: float) -> None:
        fields: dict[str, Any] = {}
        if headers.get("content-type", "").startswith("application/json") and body:
            try:
                fields = json.loads(body)
            except ValueError:
                await self.error(writer, 400, "We could not parse the JSON body.", None)
                return
        else:  # multipart: pick the simple text fields out, enough for a benchmark
            for name in ("prompt", "model", "seconds", "size"):
                found = re.search(rb'name="' + name.encode() + rb'"\r\n\r\n([^\r]*)', body)
                if found:
                    fields[name] = found.group(1).decode()
        job = Job(
            id="video_" + secrets.token_hex(24),
            created=now,
            created_at=int(time.time()),
            job_seconds=self.config.job_seconds,
            content_bytes=self.config.content_bytes,
            model=str(fields.get("model") or "sora-2"),
            prompt=str(fields.get("prompt") or ""),
            seconds=str(fields.get("seconds") or "4"),
            size=str(fields.get("size") or "720x1280"),
        )
        self.jobs[job.id] = job
        self.order.append(job.id)
        await self.send_json(writer, 200, job.video(now))

    async def content(self, writer: Any, key: str, job: Job, variant: str) -> None:
        if variant in SMALL_VARIANTS:
            size, ctype = SMALL_VARIANTS[variant]
        elif variant == "video":
            size, ctype = job.content_bytes, "video/mp4"
        else:
            await self.error(writer, 400, f"Invalid value: '{variant}'.", "invalid_value")
            return
        writer.write(self._head(200, ctype, size))
        view = memoryview(PATTERN)
        sent = 0
        while sent < size:
            offset = sent % len(PATTERN)
            n = min(WRITE_BYTES, size - sent, len(PATTERN) - offset)
            writer.write(view[offset : offset + n])
            sent += n
            await writer.drain()  # flow control: never more than the socket buffers in memory
        self.bytes_sent[key] += sent

    async def control(self, method: str, path: str, body: bytes, writer: Any) -> None:
        if path == "/_bench/health":
            await self.send_json(writer, 200, {"status": "ok", "pid": os.getpid()})
        elif path == "/_bench/stats":
            await self.send_json(
                writer,
                200,
                {
                    "counts": {k: dict(v) for k, v in self.counts.items()},
                    "bytes_sent": dict(self.bytes_sent),
                    "jobs": len(self.jobs),
                    "config": asdict(self.config),
                },
            )
        elif path == "/_bench/reset" and method == "POST":
            self.counts.clear()
            self.bytes_sent.clear()
            await self.send_json(writer, 200, {"ok": True})
        elif path == "/_bench/config" and method == "POST":
            for name, value in json.loads(body or b"{}").items():
                if not hasattr(self.config, name):
                    await self.error(writer, 400, f"unknown config field {name}", None)
                    return
                setattr(self.config, name, value)
            await self.send_json(writer, 200, asdict(self.config))
        else:
            await self.error(writer, 404, f"Invalid URL ({method} {path})", None)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--keys", required=True, help="comma-separated accepted API keys")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--job-seconds", type=float, default=2.0)
    parser.add_argument("--content-bytes", type=int, default=1 << 20)
    args = parser.parse_args()
    fake = Fake(
        set(args.keys.split(",")), Config(args.latency_ms, args.job_seconds, args.content_bytes)
    )
    server = await asyncio.start_server(
        fake.serve, args.host, args.port, backlog=1024, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        Path(args.port_file).write_text(str(port))  # noqa: ASYNC240 - once, at start
    print(f"fake upstream on http://{args.host}:{port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    if sys.platform != "linux":
        print("note: the benchmark samples /proc and is meant for Linux", file=sys.stderr)
    asyncio.run(main())
