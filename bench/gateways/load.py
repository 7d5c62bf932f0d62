"""The client side of the gateway benchmark: an aiohttp load generator, run as its own process.

``run.py`` starts it once per measurement with a JSON job on the command line and reads one
JSON result from stdout. Every loop is bounded by a request count *and* a deadline, and only
loopback URLs are accepted.

Jobs (``{"kind": ...}``):

* ``latency``: ``n`` requests (``method`` ``url`` or ``urls`` round-robin, optional ``json``
  body) by ``concurrency`` workers after ``warmup`` untimed ones; returns every duration
  (seconds), status counts, errors, and the ids of created videos.
* ``rps``: as many requests as ``concurrency`` workers manage in ``seconds`` (at most
  ``max_requests``); returns completed, errors, elapsed and requests per second.
* ``download``: one streamed GET; returns time to first byte, total time and bytes.
* ``wait``: poll ``url`` until ``status`` is terminal (or ``timeout``); returns the video.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _check(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"refusing a non-loopback target: {url}")
    return url


def _session(concurrency: int, timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=concurrency, force_close=False, enable_cleanup_closed=True
    )
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout))


async def _one(session: aiohttp.ClientSession, job: dict[str, Any], url: str) -> tuple[int, Any]:
    async with session.request(
        job.get("method", "GET"), url, json=job.get("json"), headers=job["headers"]
    ) as resp:
        body = await resp.read()
        return resp.status, body


async def latency(job: dict[str, Any]) -> dict[str, Any]:
    urls = [_check(u) for u in job.get("urls") or [job["url"]]]
    n, conc = int(job["n"]), int(job["concurrency"])
    deadline = time.monotonic() + float(job.get("max_seconds", 300))
    durations: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    ids: list[str] = []
    samples: list[str] = []  # the first few error bodies, for the log
    counter = iter(range(n))
    async with _session(conc, float(job.get("timeout", 60))) as session:
        for i in range(int(job.get("warmup", 0))):  # opens connections, warms caches
            await _one(session, job, urls[i % len(urls)])

        async def worker() -> None:
            for i in counter:
                if time.monotonic() > deadline:
                    errors["deadline"] += 1
                    return
                t = time.perf_counter()
                try:
                    status, body = await _one(session, job, urls[i % len(urls)])
                except Exception as exc:  # counted, never fatal: errors are a result
                    errors[type(exc).__name__] += 1
                    continue
                durations.append(time.perf_counter() - t)
                statuses[status] += 1
                if status >= 400:
                    errors[f"HTTP {status}"] += 1
                    if len(samples) < 3:
                        samples.append(body[:300].decode(errors="replace"))
                elif job.get("collect_ids"):
                    ids.append(json.loads(body)["id"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - started
    return {
        "durations": durations,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "ids": ids,
        "elapsed": elapsed,
        "error_samples": samples,
    }


async def rps(job: dict[str, Any]) -> dict[str, Any]:
    urls = [_check(u) for u in job.get("urls") or [job["url"]]]
    conc, seconds = int(job["concurrency"]), float(job["seconds"])
    max_requests = int(job.get("max_requests", 10**6))
    done = 0
    issued = 0
    errors: Counter[str] = Counter()
    durations: list[float] = []
    async with _session(conc, float(job.get("timeout", 30))) as session:
        for i in range(int(job.get("warmup", conc))):
            await _one(session, job, urls[i % len(urls)])
        started = time.perf_counter()
        stop_at = started + seconds

        async def worker() -> None:
            nonlocal done, issued
            while issued < max_requests and time.perf_counter() < stop_at:
                issued += 1
                t = time.perf_counter()
                try:
                    status, _ = await _one(session, job, urls[issued % len(urls)])
                except Exception as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if status >= 400:
                    errors[f"HTTP {status}"] += 1
                else:
                    done += 1
                    durations.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - started
    return {
        "ok": done,
        "errors": dict(errors),
        "elapsed": elapsed,
        "rps": done / elapsed,
        "durations": durations,
    }


async def download(job: dict[str, Any]) -> dict[str, Any]:
    url = _check(job["url"])
    received = 0
    async with _session(1, float(job.get("timeout", 600))) as session:
        started = time.perf_counter()
        async with session.get(url, headers=job["headers"]) as resp:
            headers_at = time.perf_counter() - started
            first = None
            if resp.status >= 400:
                body = await resp.read()
                return {"error": f"HTTP {resp.status}: {body[:300].decode(errors='replace')}"}
            async for chunk in resp.content.iter_chunked(1 << 20):
                if first is None:
                    first = time.perf_counter() - started
                received += len(chunk)
        total = time.perf_counter() - started
    return {
        "ttfb": first if first is not None else total,
        "headers": headers_at,
        "total": total,
        "bytes": received,
        "mb_per_s": received / total / 1e6,
    }


async def wait(job: dict[str, Any]) -> dict[str, Any]:
    url = _check(job["url"])
    deadline = time.monotonic() + float(job.get("timeout", 600))
    polls = 0
    async with _session(1, 30) as session:
        while True:
            polls += 1
            status, body = await _one(session, {"headers": job["headers"]}, url)
            video = json.loads(body) if status == 200 else {"status": f"HTTP {status}"}
            if video.get("status") in ("completed", "failed") or status >= 400:
                return {"video": video, "polls": polls}
            if time.monotonic() > deadline:
                return {"video": video, "polls": polls, "timeout": True}
            await asyncio.sleep(float(job.get("interval", 0.1)))


def main() -> None:
    job = json.loads(sys.argv[1])
    kinds = {"latency": latency, "rps": rps, "download": download, "wait": wait}
    result = asyncio.run(kinds[job["kind"]](job))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
