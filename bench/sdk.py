"""SDK benchmarks (issue 2): local render time, ``import vidgate`` time, and per-call overhead
of the vidgate SDK against the official ``openai`` SDK on the same fake upstream.

Run from the repository root:  python bench/sdk.py [--calls 500] [--out bench/results/sdk.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import machine, summary_ms


def import_time(module: str, runs: int = 15) -> float:
    """Median wall time of ``python -c 'import <module>'`` minus bare interpreter start."""

    def once(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    base = statistics.median(once("pass") for _ in range(runs))
    return statistics.median(once(f"import {module}") for _ in range(runs)) - base


def render_time(runs: int = 3) -> tuple[float, float]:
    """(median render() time, median end-to-end SDK create_and_poll time) for 4 s 720x1280."""
    from vidgate import VideoClient
    from vidgate.local.render import render

    direct = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            render("A cat playing with yarn", out_dir=Path(tmp), width=720, height=1280, seconds=4)
            direct.append(time.perf_counter() - t)
    e2e = []
    with tempfile.TemporaryDirectory() as home:
        os.environ["VIDGATE_HOME"] = home
        with VideoClient() as client:
            for i in range(runs):
                t = time.perf_counter()
                client.create_and_poll(
                    f"A cat playing with yarn {i}",
                    model="local/preview",
                    seconds="4",
                    size="720x1280",
                    poll_interval=0.05,
                )
                e2e.append(time.perf_counter() - t)
    return statistics.median(direct), statistics.median(e2e)


async def call_overhead(calls: int) -> dict[str, list[float]]:
    """Latency of ``retrieve`` through raw httpx, the openai SDK and vidgate, same fake."""
    import httpx
    import openai
    from tests.fakes.openai_upstream import FakeOpenAIState, run_fake_openai

    from vidgate import AsyncVideoClient

    state = FakeOpenAIState(polls_to_complete=10**9)
    results: dict[str, list[float]] = {"httpx (direct)": [], "openai SDK": [], "vidgate SDK": []}
    with run_fake_openai(state) as base:
        oa = openai.AsyncOpenAI(api_key="sk-test", base_url=base, max_retries=0)
        vg = AsyncVideoClient(api_key="sk-test", api_base=base)
        raw = httpx.AsyncClient(headers={"Authorization": "Bearer sk-test"})
        video = await vg.create("bench")
        url = f"{base}/videos/{video.id}"
        calls_by_name = {
            "httpx (direct)": lambda: raw.get(url),
            "openai SDK": lambda: oa.videos.retrieve(video.id),
            "vidgate SDK": lambda: vg.retrieve(video.id),
        }
        for _ in range(2):  # interleave rounds so drift hits every client alike
            for name, call in calls_by_name.items():
                for _ in range(20):
                    await call()  # warm up connections
                for _ in range(calls // 2):
                    t = time.perf_counter()
                    await call()
                    results[name].append(time.perf_counter() - t)
        await raw.aclose()
        await oa.close()
        await vg.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--out", default="bench/results/sdk.md")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    lines = [
        "# SDK benchmarks",
        "",
        f"Machine: {machine()}",
        "",
        f"Command: `python bench/sdk.py --calls {args.calls}`",
        "",
    ]
    direct, e2e = render_time()
    lines += [
        "## Local render, 4 s at 720x1280 (aim: under 3 s)",
        "",
        f"- `render()` alone: {direct:.2f} s (median of 3)",
        f"- SDK `create_and_poll` end to end (worker process start, render, polls): "
        f"{e2e:.2f} s (median of 3)",
        "",
    ]
    lines += ["## Import time (median of 15, interpreter start subtracted; aim: under 150 ms)", ""]
    for module in ("vidgate", "openai", "httpx"):
        lines.append(f"- `import {module}`: {import_time(module) * 1000:.1f} ms")
    lines.append("")
    results = asyncio.run(call_overhead(args.calls))
    direct_p50 = statistics.median(results["httpx (direct)"])
    lines += ["## `retrieve` latency on the same fake upstream (loopback)", ""]
    for name, values in results.items():
        extra = statistics.median(values) - direct_p50
        lines.append(f"- {name}: {summary_ms(values)}; p50 over direct {extra * 1000:+.2f} ms")
    lines.append("")
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
