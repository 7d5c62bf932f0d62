"""Which outbound HTTP client for the gateway's hot path? httpx vs aiohttp vs httpx2, measured
against the benchmark's fake upstream (issue 4: "choose the gateway's outbound HTTP client by
measurement").

Run from the repository root (after ``python bench/gateways/run.py --setup-only``, which makes
``bench/.venvs/vidgate`` with all three clients):

    bench/.venvs/vidgate/bin/python bench/gateways/http_clients.py [--quick]

Each client runs in its own process (so import time and memory are its own), pinned to CPU 1,
with the fake upstream on CPU 0; clients are interleaved over the repetitions. Per client:
``import`` time; ``GET /videos/{id}`` latency one at a time; requests per second and client
CPU per request with 32 in flight; a streamed download: throughput, client CPU per MB and
memory growth. The CPU per request matters most: in the gateway, the client shares one core
with everything else the gateway does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLIENTS = ("httpx", "aiohttp", "httpx2")
MIB = 1024 * 1024


# -- the measured side (one process per client) ------------------------------------------------


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _hwm_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Adapter:
    """The same four operations over each client library."""

    def __init__(self, name: str, headers: dict[str, str]) -> None:
        self.name = name
        self.headers = headers

    async def __aenter__(self) -> Adapter:
        if self.name == "aiohttp":
            import aiohttp

            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=600),
            )
        else:
            lib = __import__(self.name)
            self.client = lib.AsyncClient(
                headers=self.headers,
                timeout=600,
                limits=lib.Limits(max_connections=100, max_keepalive_connections=100),
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.name == "aiohttp":
            await self.session.close()
        else:
            await self.client.aclose()

    async def get(self, url: str) -> bytes:
        if self.name == "aiohttp":
            async with self.session.get(url) as resp:
                return await resp.read()
        response = await self.client.get(url)
        return response.content

    async def post(self, url: str, body: dict) -> bytes:
        if self.name == "aiohttp":
            async with self.session.post(url, json=body) as resp:
                return await resp.read()
        response = await self.client.post(url, json=body)
        return response.content

    async def stream(self, url: str) -> int:
        n = 0
        if self.name == "aiohttp":
            async with self.session.get(url) as resp:
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    n += len(chunk)
            return n
        async with self.client.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                n += len(chunk)
        return n


async def measure(name: str, job: dict) -> dict:
    base, headers = job["base"], {"Authorization": f"Bearer {job['key']}"}
    out: dict = {}
    async with Adapter(name, headers) as client:
        status_url = f"{base}/videos/{job['video_id']}"
        for _ in range(50):
            await client.get(status_url)
        times = []
        for _ in range(job["sequential"]):
            t = time.perf_counter()
            await client.get(status_url)
            times.append(time.perf_counter() - t)
        out["get_p50_ms"] = statistics.median(times) * 1000
        out["get_p99_ms"] = sorted(times)[int(len(times) * 0.99) - 1] * 1000
        times = []
        for _ in range(job["sequential"] // 4):
            t = time.perf_counter()
            await client.post(f"{base}/videos", {"prompt": "bench", "model": "sora-2"})
            times.append(time.perf_counter() - t)
        out["post_p50_ms"] = statistics.median(times) * 1000

        todo = iter(range(job["concurrent"]))

        async def worker() -> None:
            for _ in todo:
                await client.get(status_url)

        cpu, t = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(32)))
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        out["c32_rps"] = job["concurrent"] / wall
        out["c32_cpu_us_per_request"] = cpu / job["concurrent"] * 1e6

        before = _rss()
        _hwm_reset()
        cpu, t = time.process_time(), time.perf_counter()
        n = await client.stream(f"{base}/videos/{job['big_id']}/content")
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        assert n == job["big_bytes"], (n, job["big_bytes"])
        out["stream_mb_per_s"] = n / wall / 1e6
        out["stream_cpu_ms_per_100mb"] = cpu / (n / 1e8) * 1000
        out["stream_growth_mib"] = (_hwm() - before) / MIB
    return out


# -- the driver -------------------------------------------------------------------------------


def http(method: str, url: str, body: dict | None = None, key: str | None = None) -> dict:
    import urllib.request

    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body else None,
        method=method,
        headers={"content-type": "application/json"},
    )
    if key:
        req.add_header("authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def import_ms(name: str, runs: int) -> float:
    """Median ms to ``import name`` in a fresh interpreter, timed inside it."""
    code = f"import time; t = time.perf_counter(); import {name}; print(time.perf_counter() - t)"
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            ).stdout
        )
        * 1000
        for _ in range(runs)
    ]
    return statistics.median(samples)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    return {n: md.version(n) for n in CLIENTS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--out", help="results file (default bench/results/gateways-http-clients-DATE.md)"
    )
    args = parser.parse_args()
    if args.child:
        name, job = args.child.split(":", 1)
        os.sched_setaffinity(0, {1})
        print(json.dumps(asyncio.run(measure(name, json.loads(job)))))
        return

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    from _procs import Proc, cleanup_on_signals, wait_healthy
    from bench._util import machine

    reps = 1 if args.quick else 3
    big = (64 if args.quick else 512) * MIB
    job = {
        "sequential": 400 if args.quick else 2000,
        "concurrent": 2000 if args.quick else 8000,
        "big_bytes": big,
        "key": "sk-clients-" + secrets.token_hex(8),
    }
    work = HERE / ".work"
    work.mkdir(exist_ok=True)
    port_file = work / "clients-fake.port"
    port_file.unlink(missing_ok=True)
    results: dict[str, list[dict]] = {c: [] for c in CLIENTS}
    with cleanup_on_signals():
        fake = Proc(
            "fake",
            [
                sys.executable,
                str(HERE / "fake_upstream.py"),
                "--keys",
                job["key"],
                "--port-file",
                str(port_file),
                "--job-seconds",
                "0",
            ],
            log=work / "clients-fake.log",
            cpus={0},
        )
        deadline = time.time() + 10
        while not (port_file.exists() and port_file.read_text()):
            if time.time() > deadline:
                raise SystemExit(fake.tail())
            time.sleep(0.02)
        job["base"] = f"http://127.0.0.1:{port_file.read_text()}/v1"
        wait_healthy(job["base"].removesuffix("/v1") + "/_bench/health", fake, 10)
        http("POST", job["base"].removesuffix("/v1") + "/_bench/config", {"job_seconds": 3600.0})
        job["video_id"] = http("POST", job["base"] + "/videos", {"prompt": "x"}, job["key"])["id"]
        http(
            "POST",
            job["base"].removesuffix("/v1") + "/_bench/config",
            {"job_seconds": 0.0, "content_bytes": big},
        )
        job["big_id"] = http("POST", job["base"] + "/videos", {"prompt": "y"}, job["key"])["id"]
        http(
            "POST",
            job["base"].removesuffix("/v1") + "/_bench/config",
            {"job_seconds": 0.0, "content_bytes": 1024},
        )
        for rep in range(reps):
            for name in CLIENTS:
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", f"{name}:{json.dumps(job)}"],
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if proc.returncode:
                    raise SystemExit(f"{name} failed:\n{proc.stderr}")
                results[name].append(json.loads(proc.stdout))
                print(f"[{rep}] {name}: {results[name][-1]}", flush=True)
    imports = {n: import_ms(n, 5 if args.quick else 15) for n in CLIENTS}

    def m(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    rows = [
        ("`import` (ms)", lambda n: imports[n], 0),
        ("GET status, one at a time, p50 (ms)", lambda n: m(n, "get_p50_ms"), 3),
        ("GET status, one at a time, p99 (ms)", lambda n: m(n, "get_p99_ms"), 3),
        ("POST create (JSON), one at a time, p50 (ms)", lambda n: m(n, "post_p50_ms"), 3),
        ("GET status, 32 in flight: requests/s", lambda n: m(n, "c32_rps"), 0),
        (
            "GET status, 32 in flight: client CPU per request (µs)",
            lambda n: m(n, "c32_cpu_us_per_request"),
            0,
        ),
        (f"stream {big // MIB} MiB: MB/s", lambda n: m(n, "stream_mb_per_s"), 0),
        (
            f"stream {big // MIB} MiB: client CPU per 100 MB (ms)",
            lambda n: m(n, "stream_cpu_ms_per_100mb"),
            0,
        ),
        (f"stream {big // MIB} MiB: memory growth (MiB)", lambda n: m(n, "stream_growth_mib"), 1),
    ]
    ver = versions()
    lines = [
        "# Outbound HTTP client for the gateway: httpx vs aiohttp vs httpx2",
        "",
        f"Machine: {machine()}",
        "",
        f"Command: `bench/.venvs/vidgate/bin/python bench/gateways/http_clients.py"
        f"{' --quick' if args.quick else ''}`",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items()) + f"; Python "
        f"{sys.version.split()[0]}; asyncio loop (no uvloop).",
        "",
        f"Against `bench/gateways/fake_upstream.py` on loopback (CPU 0); each client in its own "
        f"process on CPU 1; medians of {reps} interleaved repetitions. One-at-a-time runs: "
        f"{job['sequential']} GETs and {job['sequential'] // 4} POSTs; 32 in flight: "
        f"{job['concurrent']} GETs (the fake on one core caps requests/s, so the client's CPU per"
        " request is the figure that tells the clients apart).",
        "",
        "| figure | " + " | ".join(CLIENTS) + " | aiohttp / httpx | httpx2 / httpx |",
        "|---|" + "---:|" * (len(CLIENTS) + 2),
    ]
    for label, get, digits in rows:
        vals = {n: get(n) for n in CLIENTS}
        lines.append(
            f"| {label} | "
            + " | ".join(f"{vals[n]:,.{digits}f}" for n in CLIENTS)
            + f" | {vals['aiohttp'] / vals['httpx']:.2f}× | "
            f"{vals['httpx2'] / vals['httpx']:.2f}× |"
        )
    lines += ["", "Each repetition:", ""]
    for name in CLIENTS:
        for i, r in enumerate(results[name]):
            lines.append(f"- {name} [{i}]: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()))
    text = "\n".join(lines) + "\n"
    stamp = datetime.now(UTC)
    out = (
        Path(args.out)
        if args.out
        else (
            ROOT / "bench" / "results" / f"gateways-http-clients-{stamp:%Y-%m-%d}"
            f"{'-quick' if args.quick else ''}.md"
        )
    )
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
