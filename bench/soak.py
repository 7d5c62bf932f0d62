"""The soak (issue 8) with any numbers: mixed requests from many clients against one gateway on
the local engine, and what they did to it.

The driver is the test's (``tests/gateway/_soak.py``): creates and remixes, polls, list walks,
downloads (whole, ``Range``, every variant), deletes of finished and unfinished jobs, and bad
input of many kinds, each request with the status it must get. This script starts one
``vidgate serve`` on loopback (SQLite, a master key, the soak's virtual keys), runs a warm-up
and then the soak, and prints requests/s, p50/p99 per request kind, 5xx and unexpected answers,
and the gateway's RSS and open fds after the warm-up and after the run. With ``--out`` (default
``bench/results/soak-<date>.md``) it writes the same with the machine and the command.

    python bench/soak.py                                  # CI's numbers (test_soak.py)
    python bench/soak.py --requests 100000 --concurrency 128 --creates 600
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._util import machine, percentile  # noqa: E402
from tests.gateway._soak_run import Run, soak_gateway  # noqa: E402
from tests.gateway.conftest import Gateway, standard_config  # noqa: E402
from tests.gateway.test_soak import (  # noqa: E402  (the defaults are CI's numbers)
    CONCURRENCY,
    CREATES,
    MAX_UPLOAD_BYTES,
    REQUESTS,
    WARMUP_CREATES,
    WARMUP_REQUESTS,
)


def memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    return "RAM unknown"


def report(run: Run, args: argparse.Namespace, command: str) -> str:
    main, soak = run.main, run.soak
    everything = soak.samples
    lines = [
        f"# Soak, {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"Machine: {machine()}; {memory_total()}. Load average (1 min) at the start "
        f"{args.load_before:.2f}, at the end {os.getloadavg()[0]:.2f}: other processes on the "
        "machine share its cores with the gateway, its render workers and the driver.",
        "",
        f"Command: `{command}`",
        "",
        f"- {len(main.samples):,} requests from {args.concurrency} clients in "
        f"{main.elapsed:.1f} s: **{main.requests_per_second:,.0f} requests/s** "
        f"(whole run with warm-up, settling and the checks: {run.seconds:.1f} s)",
        f"- 5xx: **{sum(s.status >= 500 for s in everything)}**; no answer: "
        f"{sum(s.status == 0 for s in everything)}; unexpected statuses: "
        f"{sum(s.status not in s.expected for s in everything)}; 4xx without the error "
        f"envelope: {sum(s.envelope is False for s in everything)}",
        f"- jobs: {len(soak.jobs)} accepted; "
        + ", ".join(
            f"{n} {status}"
            for status, n in Counter(
                "deleted" if j.deleted else j.status for j in soak.jobs.values()
            ).most_common()
        )
        + f" ({soak.deleted_unfinished} deleted unfinished, {soak.deleted_finished} finished); "
        f"stuck: {len(run.stuck)}",
        f"- CPU over the main phase and its settling: gateway {run.cpu_gateway:.1f} s "
        f"({run.cpu_gateway / len(main.samples) * 1000:.2f} ms per request), render workers "
        f"{run.cpu_renders:.1f} s, this driver {run.cpu_driver:.1f} s",
        f"- consistency problems: {len(soak.problems)}"
        + "".join(f"\n  - {category}: {text}" for category, text in soak.problems[:10]),
        f"- list walks: {soak.walks} ({soak.pages} pages)",
        f"- gateway RSS: {run.rss_before / 1024:.1f} MiB after the warm-up, "
        f"{run.rss_after / 1024:.1f} MiB after the run "
        f"({(run.rss_after - run.rss_before) / 1024:+.1f} MiB)",
        f"- gateway open fds: {run.fds_before} after the warm-up, {run.fds_after} after the run",
        f"- zombie render workers: {len(run.zombies)}",
        "",
        "| request kind | n | p50 ms | p99 ms | statuses |",
        "|---|---:|---:|---:|---|",
    ]
    statuses: dict[str, Counter[int]] = {}
    for s in main.samples:
        statuses.setdefault(s.kind, Counter())[s.status] += 1
    for kind, values in sorted(main.durations().items(), key=lambda kv: -len(kv[1])):
        ms = [v * 1000 for v in values]
        seen = ", ".join(f"{code}: {n}" for code, n in sorted(statuses[kind].items()))
        lines.append(
            f"| {kind} | {len(ms)} | {percentile(ms, 50):.1f} | {percentile(ms, 99):.1f} | {seen} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--creates", type=int, default=CREATES, help="creates and remixes")
    parser.add_argument("--warmup-requests", type=int, default=WARMUP_REQUESTS)
    parser.add_argument("--warmup-creates", type=int, default=WARMUP_CREATES)
    parser.add_argument("--workers", type=int, default=2, help="VIDGATE_LOCAL_WORKERS")
    parser.add_argument("--settle-timeout", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="the whole run")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None, help="results file ('-': none)")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    command = shlex.join(["python", "bench/soak.py", *sys.argv[1:]])
    max_upload = MAX_UPLOAD_BYTES
    with tempfile.TemporaryDirectory(prefix="vidgate-soak-") as tmp:
        home = Path(tmp) / "gw"
        gw = Gateway(home, standard_config(home, max_upload_bytes=max_upload))
        gw.start(extra_env={"VIDGATE_LOCAL_WORKERS": str(args.workers)})
        assert gw.proc is not None and gw.master_key
        try:
            run = asyncio.run(
                soak_gateway(
                    gw.url,
                    gw.master_key,
                    gw.proc.pid,
                    requests=args.requests,
                    concurrency=args.concurrency,
                    creates=args.creates,
                    warmup_requests=args.warmup_requests,
                    warmup_creates=args.warmup_creates,
                    settle_timeout=args.settle_timeout,
                    timeout=args.timeout,
                    max_upload_bytes=max_upload,
                    seed=args.seed,
                )
            )
        finally:
            gw.stop()
    text = report(run, args, command)
    print(text)
    if str(args.out) != "-":
        out = args.out or ROOT / "bench" / "results" / f"soak-{datetime.now(UTC):%Y-%m-%d}.md"
        out.write_text(text)
        print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    failed = any(s.status >= 500 or s.status not in s.expected for s in run.soak.samples)
    return 1 if failed or run.stuck or run.soak.problems else 0


if __name__ == "__main__":
    sys.exit(main())
