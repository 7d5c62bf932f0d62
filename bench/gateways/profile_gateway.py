"""Profile vidgate's gateway under one of the benchmark's workloads, with py-spy.

    python bench/gateways/profile_gateway.py status   [--seconds 10] [--concurrency 32]
    python bench/gateways/profile_gateway.py create   [--n 400] [--concurrency 1]
    python bench/gateways/profile_gateway.py download [--mib 1024]
    python bench/gateways/profile_gateway.py startup

Starts the fake upstream and one vidgate gateway exactly as ``run.py`` does (same venv, same
config, same CPU pinning), attaches ``py-spy record`` to the gateway while the load runs (for
``startup``, runs the gateway under py-spy until its first healthy response), and writes to
``bench/gateways/.work/<run>/``: the raw collapsed stacks (``profile-<workload>.txt``, open in
https://www.speedscope.app or ``flamegraph.pl``) and a summary of where the time went (top
functions by inclusive and self share of samples, ``profile-<workload>-top.txt``), printed too.
``--idle`` keeps samples of waiting threads (to see lock or sleep waits), ``--native`` adds C
frames.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench_run  # noqa: E402
from _procs import Proc, cleanup_on_signals, free_port, wait_healthy  # noqa: E402


def summarize(raw: Path, top: int = 30, focus: str | None = None) -> str:
    """Inclusive and self shares per frame from py-spy's raw (collapsed) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if focus and not any(focus in f for f in frames):
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        self_[frames[-1]] += n
    out = [
        f"{total} samples" + (f" in stacks through '{focus}'" if focus else ""),
        "",
        "inclusive (share of samples with the frame anywhere on the stack):",
    ]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    out += ["", "self (share of samples with the frame on top):"]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in self_.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=("status", "create", "download", "startup"))
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--idle", action="store_true", help="keep idle (waiting) samples")
    parser.add_argument("--native", action="store_true", help="include C frames")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    bench = bench_run.Bench(
        argparse.Namespace(
            quick=True,
            no_pin=args.no_pin,
            targets="vidgate",
            out=None,
            vidgate_extras="",
            wait_quiet=0,
        )
    )
    spy_flags = ["--format", "raw", "--rate", str(args.rate), "--threads"]
    spy_flags += ["--idle"] if args.idle else []
    # --native needs to pause the process while it samples; without it, don't pause.
    spy_flags += ["--native"] if args.native else ["--nonblocking"]
    raw = bench.run_dir / f"profile-{args.workload}.txt"
    with cleanup_on_signals():
        bench.setup()
        spy = str(bench.vg_python.parent / "py-spy")
        bench.start_fake()
        if args.workload == "startup":
            profile_startup(bench, spy, spy_flags, raw)
        else:
            target, _ = bench.start_gateway("vidgate", "profile")
            bench.fake_config(job_seconds=24 * 3600)
            bench.make_poll_jobs(target)
            bench.fake_config(job_seconds=0.2, content_bytes=64 * 1024)
            recorder = subprocess.Popen(
                [spy, "record", "--pid", str(target.proc.pid), "-o", str(raw), *spy_flags]
            )
            time.sleep(1.0)  # py-spy attached
            t = time.perf_counter()
            result = workload(bench, target, args)
            elapsed = time.perf_counter() - t
            recorder.send_signal(signal.SIGINT)
            if recorder.wait(30) != 0 or not raw.exists():
                raise SystemExit(f"py-spy failed (exit {recorder.returncode})")
            print(f"workload took {elapsed:.1f} s: {result}")
    text = summarize(raw)
    (raw.parent / f"profile-{args.workload}-top.txt").write_text(text)
    print(text)
    print(f"\nraw stacks: {raw}")


def workload(bench: bench_run.Bench, target: bench_run.Target, args: argparse.Namespace) -> str:
    urls = [f"{target.base}/videos/{i}" for i in target.poll_ids]
    if args.workload == "status":
        r = bench.load(
            {
                "kind": "rps",
                "urls": urls,
                "headers": target.headers,
                "concurrency": args.concurrency or 32,
                "seconds": args.seconds,
                "max_requests": 10**6,
            }
        )
        return f"{r['rps']:.0f} requests/s, errors {r['errors']}"
    if args.workload == "create":
        r = bench.load(
            {
                "kind": "latency",
                "method": "POST",
                "url": target.base + "/videos",
                "json": bench_run.CREATE_BODY,
                "headers": target.headers,
                "n": args.n,
                "concurrency": args.concurrency or 1,
                "collect_ids": True,
            }
        )
        s = bench_run.summary(r["durations"])
        return f"p50 {s['p50']:.2f} ms, p95 {s['p95']:.2f} ms, p99 {s['p99']:.2f} ms"
    size = args.mib * bench_run.MIB
    bench.fake_config(job_seconds=0.2, content_bytes=size)
    bench.one_download(target, f"{args.mib} MiB", size)
    return str(bench.results["download"]["vidgate"])


def profile_startup(bench: bench_run.Bench, spy: str, flags: list[str], raw: Path) -> None:
    """The gateway under ``py-spy record`` from exec to its first healthy response."""
    directory = bench.run_dir / "vidgate-startup"
    directory.mkdir()
    port = free_port()
    config = {
        "model_list": [
            {
                "model_name": "sora-2",
                "params": {
                    "model": "openai/sora-2",
                    "api_base": bench.fake_url + "/v1",
                    "api_key": "sk-x",
                },
            }
        ],
        "general_settings": {
            "master_key": "sk-" + os.urandom(16).hex(),
            "database_url": f"sqlite:///{directory / 'gateway.db'}",
            "storage_dir": str(directory / "storage"),
        },
    }
    (directory / "config.yaml").write_text(bench_run.json.dumps(config))
    proc = Proc(
        "py-spy",
        [
            spy,
            "record",
            "-o",
            str(raw),
            *flags,
            "--",
            *bench.vidgate_cmd,
            "--config",
            str(directory / "config.yaml"),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        log=directory / "server.log",
        env={"VIDGATE_HOME": str(directory / "home")},
        cpus=bench.cpus("gateway"),
    )
    took = wait_healthy(f"http://127.0.0.1:{port}{bench_run.HEALTH}", proc, 60)
    print(f"healthy after {took:.2f} s (under py-spy)")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    for child in children:  # the gateway: let it exit so py-spy writes its file
        os.kill(int(child), signal.SIGINT)
    proc.popen.wait(30)
    proc.stop()


if __name__ == "__main__":
    main()
