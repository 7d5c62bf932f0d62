"""A whole soak run against one gateway process, and what it did to that process.

:func:`soak_gateway` warms up, measures the gateway (RSS and open fds from ``/proc``), runs the
soak, lets every job settle, verifies each one, measures again and looks for unreaped render
workers. ``tests/gateway/test_soak.py`` and ``bench/soak.py`` both call it.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ._soak import Job, Soak, Tally

# -- the gateway process, seen from /proc ------------------------------------------------------


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of ``pid`` itself and of its reaped children (the render workers)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def children(pid: int) -> list[tuple[int, str]]:
    """``(pid, state)`` of every direct child of ``pid`` (``Z`` is a zombie: exited, unreaped)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


@dataclass
class Run:
    """A whole soak: the warm-up and main phases, the end state, and the gateway's process
    figures (RSS in KiB, open fds) after the warm-up and after the run."""

    soak: Soak
    warmup: Tally
    main: Tally
    stuck: list[Job]
    rss_before: int
    rss_after: int
    fds_before: int
    fds_after: int
    zombies: list[int]  # children of the gateway left in state Z
    seconds: float
    # CPU seconds over the main phase and its settling: the gateway process, its render
    # workers, and this process (the driver).
    cpu_gateway: float = 0.0
    cpu_renders: float = 0.0
    cpu_driver: float = 0.0


async def _quiet(pid: int, *, settle: float = 0.5, timeout: float = 10.0) -> tuple[int, int]:
    """RSS and fds once the fd count has stopped moving (closed connections take a moment
    to be closed on the server side too)."""
    deadline = time.monotonic() + timeout
    last, since = open_fds(pid), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = open_fds(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
    return rss_kib(pid), open_fds(pid)


async def soak_gateway(
    base_url: str,
    master_key: str,
    pid: int,
    *,
    requests: int,
    concurrency: int,
    creates: int,
    warmup_requests: int,
    warmup_creates: int,
    settle_timeout: float,
    timeout: float,
    max_upload_bytes: int | None = None,
    seed: int = 8,
) -> Run:
    """Warm up, measure, run, let every job settle, verify, measure again.

    Both measurements are taken with the driver's connections closed and no render running,
    so they compare like with like. A job not terminal ``settle_timeout`` seconds after its
    phase is stuck (reported in ``Run.stuck``); the whole soak raises ``TimeoutError`` after
    ``timeout`` seconds, so a hung gateway fails the run instead of hanging it."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        soak = await Soak.open(base_url, master_key, seed=seed, max_upload_bytes=max_upload_bytes)
        async with soak.connected(concurrency):
            warmup = await soak.run(
                requests=warmup_requests, creates=warmup_creates, concurrency=concurrency
            )
            stuck = await soak.settle(timeout=settle_timeout)
        rss_before, fds_before = await _quiet(pid)
        async with soak.connected(concurrency):
            gateway_cpu, driver_cpu = cpu_seconds(pid), time.process_time()
            main = await soak.run(requests=requests, creates=creates, concurrency=concurrency)
            stuck += await soak.settle(timeout=settle_timeout)
            cpu = [b - a for a, b in zip(gateway_cpu, cpu_seconds(pid), strict=True)]
            cpu.append(time.process_time() - driver_cpu)
            await soak.verify(video_problem)
        rss_after, fds_after = await _quiet(pid)
    zombies = [child for child, state in children(pid) if state == "Z"]
    return Run(
        soak,
        warmup,
        main,
        stuck,
        rss_before,
        rss_after,
        fds_before,
        fds_after,
        zombies,
        time.monotonic() - started,
        *cpu,
    )


async def video_problem(data: bytes, size: str) -> str | None:
    """What is wrong with an MP4 that should be ``size`` (``WxH``), or ``None``."""
    import av

    def probe() -> str | None:
        if data[4:8] != b"ftyp":
            return "not an MP4"
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            got = f"{stream.codec_context.width}x{stream.codec_context.height}"
        return None if got == size else f"{got}, asked for {size}"

    return await asyncio.to_thread(probe)


__all__ = ["Run", "children", "cpu_seconds", "open_fds", "rss_kib", "soak_gateway", "video_problem"]
