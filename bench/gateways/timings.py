"""Where a vidgate request spends its wall time: the gateway in process, instrumented.

    bench/.venvs/vidgate/bin/python bench/gateways/timings.py [create|status|both] [--n 300]

py-spy (``profile_gateway.py``) shows where the CPU goes; this shows where the *waiting*
goes. It runs the gateway exactly as ``run.py`` configures it (same config, SQLite, CPU 1)
but inside this process, wrapping, without changing any product file:

* ``Database.call``: time from the call to the worker thread starting (thread-pool queue and
  GIL), and time inside the store method (SQLAlchemy + SQLite, including SQLite's busy-wait
  sleeps when another connection holds the write lock), per store method and per caller
  (route handler or poller);
* ``Engine.run``: the upstream round trip per flow (``create``, ``retrieve`` …);
* the whole request, per route.

The load comes from ``load.py`` in another process (CPU 0), as in ``run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench_run  # noqa: E402
from _procs import cleanup_on_signals, free_port  # noqa: E402

TIMES: dict[str, list[float]] = defaultdict(list)
WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="poller")


def record(name: str, seconds: float) -> None:
    TIMES[name].append(seconds)


def instrument() -> None:
    from vidgate import _engine
    from vidgate.gateway import store

    original_call = store.Database.call

    async def timed_call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        queued = time.perf_counter()
        started: list[float] = []

        def run():  # type: ignore[no-untyped-def]
            started.append(time.perf_counter())
            return fn(*args, **kwargs)

        try:
            return await original_call(self, run)
        finally:
            end = time.perf_counter()
            name = getattr(fn, "__qualname__", repr(fn))
            who = WHO.get()
            if started:
                record(f"{who}: db queue wait (to worker thread) [{name}]", started[0] - queued)
                record(f"{who}: db in thread [{name}]", end - started[0])
            record(f"{who}: db call total", end - queued)

    store.Database.call = timed_call  # type: ignore[method-assign]

    original_run = _engine.Engine.run

    async def timed_run(self, provider, flow, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return await original_run(self, provider, flow, **kwargs)
        finally:
            name = getattr(getattr(flow, "gi_code", None), "co_name", "flow")
            record(f"{WHO.get()}: upstream {name} (Engine.run)", time.perf_counter() - t)

    _engine.Engine.run = timed_run  # type: ignore[method-assign]


class Timed:
    """ASGI wrapper: whole-request time per route kind; marks the context as a request."""

    def __init__(self, app):  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        kind = (
            "create"
            if scope["method"] == "POST" and path.rstrip("/").endswith("/videos")
            else "status"
            if scope["method"] == "GET" and "/videos/" in path and not path.endswith("/content")
            else "other"
        )
        WHO.set(kind)
        t = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            record(f"{kind}: whole request (in the app)", time.perf_counter() - t)


def serve(bench: bench_run.Bench, port: int, ready: threading.Event, stop: threading.Event) -> None:
    import uvicorn

    from vidgate.gateway import create_app, load_settings

    directory = bench.run_dir / "vidgate-inproc"
    directory.mkdir()
    config = {
        "model_list": [
            {
                "model_name": "sora-2",
                "params": {
                    "model": "openai/sora-2",
                    "api_base": bench.fake_url + "/v1",
                    "api_key": bench.keys["vidgate"],
                },
            }
        ],
        "general_settings": {
            "master_key": bench.master,
            "database_url": f"sqlite:///{directory / 'gateway.db'}",
            "storage_dir": str(directory / "storage"),
        },
    }
    (directory / "config.yaml").write_text(json.dumps(config))
    os.environ["VIDGATE_HOME"] = str(directory / "home")
    app = Timed(create_app(load_settings(directory / "config.yaml")))
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
        )
    )

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        # Polls two flags set from other code (uvicorn, the driver thread): no event to await.
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        ready.set()
        while not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        server.should_exit = True
        await task

    asyncio.run(main())


def table(title: str) -> str:
    rows = [
        f"### {title}",
        "",
        "| where | n | mean ms | p50 ms | p95 ms | p99 ms | total s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(TIMES):
        v = sorted(TIMES[name])
        if not v:
            continue
        ms = [x * 1000 for x in v]
        rows.append(
            f"| {name} | {len(v)} | {statistics.fmean(ms):.3f} | {statistics.median(ms):.3f}"
            f" | {ms[int(len(ms) * 0.95) - 1 if len(ms) > 20 else -1]:.3f} | "
            f"{ms[int(len(ms) * 0.99) - 1 if len(ms) > 100 else -1]:.3f} | {sum(v):.3f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="both", choices=("create", "status", "both"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=0.2,
        help="how long create-phase jobs take upstream (poller work meanwhile)",
    )
    parser.add_argument(
        "--poll-after-ms",
        type=int,
        default=None,
        help="the fake's openai-poll-after-ms hint (slows vidgate's poller down)",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    bench = bench_run.Bench(
        argparse.Namespace(
            quick=True, no_pin=False, targets="vidgate", out=None, vidgate_extras="", wait_quiet=0
        )
    )
    bench.master = "sk-" + os.urandom(16).hex()
    out: list[str] = []
    with cleanup_on_signals():
        bench.setup()
        bench.start_fake()
        instrument()
        port = free_port()
        ready, stop = threading.Event(), threading.Event()
        thread = threading.Thread(target=serve, args=(bench, port, ready, stop), daemon=True)
        thread.start()
        ready.wait(30)
        target = bench_run.Target(
            "vidgate", f"http://127.0.0.1:{port}/v1", bench.master, bench.keys["vidgate"]
        )
        bench.fake_config(job_seconds=24 * 3600)
        bench.make_poll_jobs(target)
        if args.workload in ("status", "both"):
            TIMES.clear()
            urls = [f"{target.base}/videos/{i}" for i in target.poll_ids]
            r = bench.load(
                {
                    "kind": "latency",
                    "urls": urls,
                    "headers": target.headers,
                    "n": args.n * 3,
                    "concurrency": args.concurrency,
                    "warmup": 20,
                }
            )
            s = bench_run.summary(r["durations"])
            out.append(
                table(
                    f"status c={args.concurrency}: {len(r['durations'])} requests, "
                    f"client p50 {s['p50']:.2f} ms p95 {s['p95']:.2f} ms"
                )
            )
        if args.workload in ("create", "both"):
            bench.fake_config(
                job_seconds=args.job_seconds,
                content_bytes=64 * 1024,
                poll_after_ms=args.poll_after_ms,
            )
            TIMES.clear()
            r = bench.load(
                {
                    "kind": "latency",
                    "method": "POST",
                    "url": target.base + "/videos",
                    "json": bench_run.CREATE_BODY,
                    "headers": target.headers,
                    "n": args.n,
                    "concurrency": args.concurrency,
                    "warmup": 3,
                }
            )
            s = bench_run.summary(r["durations"])
            hint = f", poll hint {args.poll_after_ms} ms" if args.poll_after_ms else ""
            out.append(
                table(
                    f"create c={args.concurrency} (upstream jobs take "
                    f"{args.job_seconds:g} s{hint}): {len(r['durations'])} requests, client p50 "
                    f"{s['p50']:.2f} ms p95 {s['p95']:.2f} ms p99 {s['p99']:.2f} ms"
                )
            )
        stop.set()
        thread.join(30)
    text = "\n\n".join(out)
    (bench.run_dir / f"timings-{args.workload}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
