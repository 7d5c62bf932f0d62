"""vidgate's gateway against LiteLLM's proxy, on one fake upstream, in one run (issue 4).

Run from the repository root (any Python 3.11; this script needs only the standard library):

    python bench/gateways/run.py            # full run, about 10 to 15 minutes on 2 cores
    python bench/gateways/run.py --quick    # sanity run: small sizes, few requests

It sets up what it needs under ``bench/.venvs/`` (LiteLLM pinned, in its own venv; vidgate
from this checkout with ``pip install -e`` plus the load generator's aiohttp), starts one fake
OpenAI Videos upstream on loopback (``fake_upstream.py``), starts each gateway in front of it
with equivalent configs (one deployment ``sora-2`` → ``openai/sora-2`` at the fake, a random
master key), measures, stops every process it started (also on Ctrl-C or failure) and writes
``bench/results/gateways-<date>[-quick].md``. Raw figures go to ``bench/gateways/.work/``.

By default each gateway is pinned to CPU 1 and the fake and the load generator to CPU 0, so
the client never steals the gateway's core (``--no-pin`` to turn off).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _procs import (  # noqa: E402
    MIB,
    PeakSampler,
    Proc,
    busy_cpu_seconds,
    cleanup_on_signals,
    ensure_venv,
    file_hash,
    free_port,
    http,
    own_cpu_seconds,
    pip_versions,
    rss,
    stop_all,
    wait_healthy,
)
from _report import render  # noqa: E402
from bench._util import machine  # noqa: E402

LITELLM_PIN = "1.108.7"  # newest that `pip install 'litellm[proxy]'` resolves to here
VENVS = ROOT / "bench" / ".venvs"
WORK = HERE / ".work"
LOAD = HERE / "load.py"
FAKE = HERE / "fake_upstream.py"
CREATE_BODY = {
    "model": "sora-2",
    "prompt": "A cat playing with yarn",
    "seconds": "4",
    "size": "720x1280",
}
HEALTH = "/health/readiness"


@dataclass
class Plan:
    """How much to measure; ``--quick`` shrinks everything."""

    reps: int = 3
    create_n: dict[int, int] = field(default_factory=lambda: {1: 150, 32: 480})
    poll_n: dict[int, int] = field(default_factory=lambda: {1: 500, 32: 1600})
    rps_seconds: float = 8.0
    rps_concurrency: tuple[int, ...] = (32, 128)
    download_sizes: tuple[int, ...] = (300 * MIB, 1024 * MIB)
    download_reps: int = 3
    startup_reps: int = 3
    import_reps: dict[str, int] = field(default_factory=lambda: {"vidgate": 15, "litellm": 5})
    idle_settle: float = 5.0
    poll_jobs: int = 8
    breakdown_reps: int = 5

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            reps=1,
            create_n={1: 30, 32: 96},
            poll_n={1: 100, 32: 320},
            rps_seconds=2.0,
            download_sizes=(30 * MIB, 100 * MIB),
            download_reps=1,
            startup_reps=1,
            import_reps={"vidgate": 5, "litellm": 2},
            idle_settle=2.0,
            poll_jobs=4,
            breakdown_reps=2,
        )


@dataclass
class Target:
    name: str
    base: str  # ends in /v1
    key: str  # what the client sends
    upstream_key: str  # what this target sends to the fake (so the fake can count it)
    proc: Proc | None = None
    poll_ids: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = Plan.quick() if args.quick else Plan()
        self.pin = not args.no_pin
        self.results: dict[str, Any] = {
            "import": {},
            "startup": {},
            "idle": {},
            "latency": {},
            "rps": {},
            "upstream": {},
            "download": {},
            "copy": {},
            "errors": [],
            "notes": [],
        }
        self.stamp = datetime.now(UTC)
        WORK.mkdir(exist_ok=True)
        self.run_dir = WORK / self.stamp.strftime("%Y%m%d-%H%M%S")
        self.run_dir.mkdir()
        self.keys = {
            name: f"sk-up-{name}-{secrets.token_hex(8)}"
            for name in ("direct", "vidgate", "litellm")
        }

    # -- set-up ------------------------------------------------------------------------------

    def setup(self) -> None:
        extras = (
            self.args.vidgate_extras.split() if getattr(self.args, "vidgate_extras", "") else []
        )
        name = "vidgate" + "".join("+" + re.sub(r"[^A-Za-z0-9]+", "-", e) for e in extras)
        self.vg_python = ensure_venv(
            VENVS / name,
            ["-e", str(ROOT), "aiohttp", "httpx2", "py-spy", "pyinstrument", *extras],
            fingerprint=file_hash(ROOT / "pyproject.toml"),
        )
        if extras:
            self.note(
                f"vidgate ran with extra packages in its venv: {' '.join(extras)} "
                "(an experiment, not what `pip install vidgate` gives)."
            )
        self.lt_python = ensure_venv(VENVS / "litellm", [f"litellm[proxy]=={LITELLM_PIN}"])
        self.versions = {
            "vidgate venv": pip_versions(
                self.vg_python,
                [
                    "vidgate",
                    "fastapi",
                    "starlette",
                    "uvicorn",
                    "uvloop",
                    "httptools",
                    "httpx",
                    "sqlalchemy",
                    "aiohttp",
                    "httpx2",
                ],
            ),
            "litellm venv": pip_versions(
                self.lt_python,
                [
                    "litellm",
                    "fastapi",
                    "starlette",
                    "uvicorn",
                    "uvloop",
                    "httptools",
                    "httpx",
                    "aiohttp",
                    "openai",
                ],
            ),
        }
        # `vidgate serve` is the documented command; fall back to the module while the CLI
        # group does not list it yet.
        probe = subprocess.run(
            [str(self.vg_python.parent / "vidgate"), "serve", "--help"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            self.vidgate_cmd = [str(self.vg_python.parent / "vidgate"), "serve"]
        else:
            self.vidgate_cmd = [str(self.vg_python), "-m", "vidgate.cli.serve"]
            self.note(
                "`vidgate serve` is not a CLI command yet in this checkout "
                f"({probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else ''}"
                "); the gateway was started with `python -m vidgate.cli.serve` (same "
                "function)."
            )

    def note(self, text: str) -> None:
        print(f"[note] {text}", flush=True)
        self.results["notes"].append(text)

    def error(self, where: str, exc: BaseException) -> None:
        text = f"{where}: {type(exc).__name__}: {exc}"
        print(f"[error] {text}", flush=True)
        traceback.print_exc()
        self.results["errors"].append(text)

    def cpus(self, role: str) -> set[int] | None:
        if not self.pin:
            return None
        return {1} if role == "gateway" else {0}

    # -- processes ---------------------------------------------------------------------------

    def start_fake(self) -> None:
        port_file = self.run_dir / "fake.port"
        self.fake = Proc(
            "fake",
            [
                sys.executable,
                str(FAKE),
                "--port",
                "0",
                "--keys",
                ",".join(self.keys.values()),
                "--port-file",
                str(port_file),
            ],
            log=self.run_dir / "fake.log",
            cpus=self.cpus("client"),
        )
        deadline = time.time() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.time() > deadline or not self.fake.alive():
                raise RuntimeError(f"fake upstream did not start:\n{self.fake.tail()}")
            time.sleep(0.02)
        self.fake_url = f"http://127.0.0.1:{port_file.read_text()}"
        wait_healthy(self.fake_url + "/_bench/health", self.fake, 10)

    def fake_config(self, **values: Any) -> None:
        status, _ = http("POST", self.fake_url + "/_bench/config", body=values)
        assert status == 200

    def fake_counts(self) -> dict[str, dict[str, int]]:
        return http("GET", self.fake_url + "/_bench/stats")[1]["counts"]

    def start_gateway(self, name: str, tag: str) -> tuple[Target, float]:
        directory = self.run_dir / f"{name}-{tag}"
        directory.mkdir()
        port = free_port()
        master = "sk-" + secrets.token_urlsafe(24)  # LiteLLM refuses sk-1234; so should we
        deployment = {
            "model": "openai/sora-2",
            "api_base": self.fake_url + "/v1",
            "api_key": self.keys[name],
        }
        if name == "vidgate":
            config = {
                "model_list": [{"model_name": "sora-2", "params": deployment}],
                "general_settings": {
                    "master_key": master,
                    "database_url": f"sqlite:///{directory / 'gateway.db'}",
                    "storage_dir": str(directory / "storage"),
                },
            }
            argv = [
                *self.vidgate_cmd,
                "--config",
                str(directory / "config.yaml"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ]
            env = {"VIDGATE_HOME": str(directory / "home")}
        else:
            config = {
                "model_list": [{"model_name": "sora-2", "litellm_params": deployment}],
                "general_settings": {"master_key": master},
            }
            argv = [
                str(self.lt_python.parent / "litellm"),
                "--config",
                str(directory / "config.yaml"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--num_workers",
                "1",
            ]
            # Offline cost map (else it tries the network at start), and error-only logs
            # (LiteLLM's production advice; vidgate logs no access lines either).
            env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
        # JSON is YAML: both gateways read this file with a YAML loader.
        (directory / "config.yaml").write_text(json.dumps(config, indent=2))
        proc = Proc(
            name,
            argv,
            log=directory / "server.log",
            env=env,
            cwd=directory,
            cpus=self.cpus("gateway"),
        )
        startup = wait_healthy(f"http://127.0.0.1:{port}{HEALTH}", proc, 90)
        target = Target(name, f"http://127.0.0.1:{port}/v1", master, self.keys[name], proc)
        return target, startup

    # -- the load generator ------------------------------------------------------------------

    def load(self, job: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
        proc = subprocess.run(
            [str(self.vg_python), str(LOAD), json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if self.pin else None,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed: {proc.stderr[-2000:]}")
        return dict(json.loads(proc.stdout))

    # -- measurements ------------------------------------------------------------------------

    def wait_quiet(self) -> None:
        """Wait (bounded) until other processes leave the machine nearly idle."""
        limit = self.args.wait_quiet
        if limit <= 0:
            return
        started, calm = time.time(), 0
        while time.time() - started < limit:
            before = busy_cpu_seconds()
            time.sleep(1.0)
            calm = calm + 1 if busy_cpu_seconds() - before < 0.3 else 0
            if calm >= 5:
                print(f"[quiet] machine idle after {time.time() - started:.0f} s", flush=True)
                return
        self.note(
            f"the machine did not become idle within {limit:.0f} s (other processes "
            "were busy); measured anyway"
        )

    def import_times(self) -> None:
        for module, python, env in (
            ("vidgate", self.vg_python, {}),
            ("litellm", self.lt_python, {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}),
        ):
            runs = self.plan.import_reps[module]
            self.results["import"][module] = import_time(python, module, runs, env)
            took = statistics.median(self.results["import"][module])
            print(f"[import] {module}: {took * 1000:.0f} ms", flush=True)
        # What vidgate's start-up imports: the gateway and its heavy dependencies, alone.
        for module in STARTUP_MODULES:
            samples = import_time(self.vg_python, module, self.plan.breakdown_reps, {})
            self.results.setdefault("startup_imports", {})[module] = samples
            print(f"[import] {module}: {statistics.median(samples) * 1000:.0f} ms", flush=True)

    def startups(self, names: list[str]) -> dict[str, Target]:
        """Start each gateway ``startup_reps`` times (fresh data dir each time), record time to
        first healthy response and idle memory; the last instance stays up for the rest."""
        live: dict[str, Target] = {}
        for rep in range(self.plan.startup_reps):
            for name in names:
                try:
                    target, seconds = self.start_gateway(name, f"start{rep}")
                except Exception as exc:
                    self.error(f"{name} start-up", exc)
                    continue
                time.sleep(self.plan.idle_settle)
                idle = rss(target.proc.pid)  # type: ignore[union-attr]
                self.results["startup"].setdefault(name, []).append(seconds)
                self.results["idle"].setdefault(name, []).append(idle)
                print(f"[startup] {name}: {seconds:.2f} s, idle {idle / MIB:.0f} MiB", flush=True)
                if rep < self.plan.startup_reps - 1:
                    target.proc.stop()  # type: ignore[union-attr]
                else:
                    live[name] = target
        return live

    def verify(self, target: Target) -> None:
        """One create and one status through ``target``, seen at the fake under its key."""
        before = self.fake_counts().get(target.upstream_key, {})
        status, video = http(
            "POST", target.base + "/videos", body=CREATE_BODY, headers=target.headers
        )
        if status != 200:
            raise RuntimeError(f"create through {target.name} failed: {status} {video}")
        status, got = http("GET", f"{target.base}/videos/{video['id']}", headers=target.headers)
        if status != 200:
            raise RuntimeError(f"status through {target.name} failed: {status} {got}")
        after = self.fake_counts().get(target.upstream_key, {})
        if after.get("create", 0) <= before.get("create", 0):
            raise RuntimeError(f"{target.name} did not forward the create to the fake upstream")

    def make_poll_jobs(self, target: Target) -> None:
        """Jobs that stay in progress for the whole run: the status-poll targets."""
        job = {
            "kind": "latency",
            "method": "POST",
            "url": target.base + "/videos",
            "json": CREATE_BODY,
            "headers": target.headers,
            "n": self.plan.poll_jobs,
            "concurrency": 1,
            "collect_ids": True,
        }
        result = self.load(job)
        if len(result["ids"]) != self.plan.poll_jobs:
            raise RuntimeError(f"could not create poll jobs via {target.name}: {result}")
        target.poll_ids = result["ids"]

    def phase(self, target: Target, label: str, job: dict[str, Any], route: str) -> dict[str, Any]:
        before = self.fake_counts().get(target.upstream_key, {})
        result = self.load(job)
        after = self.fake_counts().get(target.upstream_key, {})
        sent = (
            len(result["durations"])
            + sum(v for k, v in result["errors"].items() if not k.startswith("HTTP"))
            if job["kind"] == "latency"
            else result["ok"] + sum(result["errors"].values())
        )
        sent += job.get("warmup", 0)
        upstream = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        total = sum(upstream.values())
        entry = {
            "upstream": upstream,
            "client_requests": sent,
            "upstream_per_request": total / sent if sent else None,
            "same_route_per_request": upstream.get(route, 0) / sent if sent else None,
        }
        self.results["upstream"].setdefault(target.name, {}).setdefault(label, []).append(entry)
        return result

    def latency_phase(self, target: Target, rep: int) -> None:
        for conc, n in self.plan.create_n.items():
            label = f"create c={conc}"
            job = {
                "kind": "latency",
                "method": "POST",
                "url": target.base + "/videos",
                "json": CREATE_BODY,
                "headers": target.headers,
                "n": n,
                "concurrency": conc,
                "warmup": 3,
                "collect_ids": True,
                "max_seconds": 240,
            }
            since = self.fake_counts().get(target.upstream_key, {})
            result = self.phase(target, label, job, "create")
            self.record_latency(target, label, result)
            if target.name == "vidgate":
                self.drain(target, n + 3, since)
        for conc, n in self.plan.poll_n.items():
            label = f"status c={conc}"
            urls = [f"{target.base}/videos/{i}" for i in target.poll_ids]
            job = {
                "kind": "latency",
                "urls": urls,
                "headers": target.headers,
                "n": n,
                "concurrency": conc,
                "warmup": 20,
                "max_seconds": 240,
            }
            self.record_latency(target, label, self.phase(target, label, job, "retrieve"))
        for conc in self.plan.rps_concurrency:
            label = f"status rps c={conc}"
            urls = [f"{target.base}/videos/{i}" for i in target.poll_ids]
            job = {
                "kind": "rps",
                "urls": urls,
                "headers": target.headers,
                "concurrency": conc,
                "seconds": self.plan.rps_seconds,
                "max_requests": 500_000,
                "warmup": conc,
            }
            result = self.phase(target, label, job, "retrieve")
            durations = result.pop("durations")
            result.update(summary(durations))
            self.results["rps"].setdefault(target.name, {}).setdefault(label, []).append(result)
            print(
                f"[rps] {target.name} {label} rep {rep}: {result['rps']:.0f}/s, "
                f"errors {result['errors']}",
                flush=True,
            )

    def record_latency(self, target: Target, label: str, result: dict[str, Any]) -> None:
        entry = {
            **summary(result["durations"]),
            "errors": result["errors"],
            "error_samples": result.get("error_samples", []),
            "elapsed": result["elapsed"],
        }
        self.results["latency"].setdefault(target.name, {}).setdefault(label, []).append(entry)
        print(
            f"[latency] {target.name} {label}: p50 {entry['p50']:.2f} ms p95 "
            f"{entry['p95']:.2f} ms p99 {entry['p99']:.2f} ms errors {entry['errors']}",
            flush=True,
        )

    def drain(self, target: Target, jobs: int, start: dict[str, int], timeout: float = 300) -> None:
        """Wait until vidgate's poller has finished the ``jobs`` created since the counts
        ``start`` (video, thumbnail and spritesheet copied: 3 content requests each), so its
        background work does not spill into the next measurement. Records every upstream
        request from the first create to the last copy. Gives up after 5 s without a new
        content request."""
        started = last_change = time.time()
        copied = -1
        while time.time() - started < timeout:
            now = self.fake_counts().get(target.upstream_key, {})
            done = now.get("content", 0) - start.get("content", 0)
            if done >= 3 * jobs:
                break
            if done != copied:
                copied, last_change = done, time.time()
            elif time.time() - last_change > 5:
                self.note(f"vidgate's poller stalled at {done} of {3 * jobs} content copies")
                break
            time.sleep(0.2)
        waited = time.time() - started
        background = {k: now.get(k, 0) - start.get(k, 0) for k in now}
        self.results["upstream"].setdefault(target.name, {}).setdefault("job lifecycle", []).append(
            {"jobs": jobs, "upstream": background, "drain_seconds": waited}
        )
        print(
            f"[drain] vidgate settled {jobs} jobs {waited:.1f} s after the last create: "
            f"{background}",
            flush=True,
        )

    def download_phase(self, targets: list[Target]) -> None:
        for size in self.plan.download_sizes:
            label = f"{size // MIB} MiB"
            self.fake_config(job_seconds=0.2, content_bytes=size)
            for _ in range(self.plan.download_reps):
                for target in targets:
                    try:
                        self.one_download(target, label, size)
                    except Exception as exc:
                        self.error(f"download {label} via {target.name}", exc)

    def one_download(self, target: Target, label: str, size: int) -> None:
        status, video = http(
            "POST", target.base + "/videos", body=CREATE_BODY, headers=target.headers
        )
        if status != 200:
            raise RuntimeError(f"create failed: {status} {video}")
        url = f"{target.base}/videos/{video['id']}"
        pid = target.proc.pid if target.proc else None
        t = time.perf_counter()
        if pid is not None:
            with PeakSampler(pid) as copy:
                waited = self.load(
                    {
                        "kind": "wait",
                        "url": url,
                        "headers": target.headers,
                        "timeout": 900,
                        "interval": 0.1,
                    }
                )
        else:
            waited = self.load({"kind": "wait", "url": url, "headers": target.headers})
        ready = time.perf_counter() - t
        if waited["video"].get("status") != "completed":
            raise RuntimeError(f"job did not complete: {waited}")
        if target.name == "vidgate":  # copied to storage by the poller before "completed"
            self.results["copy"].setdefault(label, []).append(
                {
                    "seconds": ready,
                    "growth": copy.growth,
                    "peak": copy.peak,
                    "baseline": copy.baseline,
                }
            )
        job = {
            "kind": "download",
            "url": url + "/content",
            "headers": target.headers,
            "timeout": 900,
        }
        if pid is not None:
            with PeakSampler(pid) as mem:
                result = self.load(job)
            result.update(baseline=mem.baseline, peak=mem.peak, growth=mem.growth)
        else:
            result = self.load(job)
        if "error" in result:
            raise RuntimeError(result["error"])
        if result["bytes"] != size:
            raise RuntimeError(f"got {result['bytes']} bytes, expected {size}")
        self.results["download"].setdefault(target.name, {}).setdefault(label, []).append(result)
        growth = f", growth {result['growth'] / MIB:.0f} MiB" if "growth" in result else ""
        print(
            f"[download] {target.name} {label}: ttfb {result['ttfb'] * 1000:.0f} ms, "
            f"{result['mb_per_s']:.0f} MB/s{growth}",
            flush=True,
        )
        http("DELETE", url, headers=target.headers)  # frees vidgate's stored copy

    # -- the whole run -----------------------------------------------------------------------

    def run(self) -> Path:
        t0 = time.time()
        self.setup()
        # Other work on the machine skews every figure; measure how much there was.
        busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
        self.wait_quiet()
        self.results["loadavg_start"] = Path("/proc/loadavg").read_text().split()[:3]
        names = [n for n in self.args.targets.split(",") if n != "direct"]
        self.import_times()
        self.start_fake()
        live = self.startups(names)
        targets: list[Target] = []
        if "direct" in self.args.targets.split(","):
            targets.append(
                Target("direct", self.fake_url + "/v1", self.keys["direct"], self.keys["direct"])
            )
        targets += [live[n] for n in names if n in live]
        self.fake_config(job_seconds=24 * 3600)  # poll jobs stay in progress
        ready: list[Target] = []
        for target in targets:
            try:
                self.verify(target)
                self.make_poll_jobs(target)
                ready.append(target)
            except Exception as exc:
                self.error(f"{target.name} set-up", exc)
        # Create-phase jobs finish at once and are tiny, so vidgate's poller settles them fast.
        self.fake_config(job_seconds=0.2, content_bytes=64 * 1024)
        for rep in range(self.plan.reps):
            for target in ready:  # interleaved, so drift hits every target alike
                try:
                    self.latency_phase(target, rep)
                except Exception as exc:
                    self.error(f"{target.name} latency rep {rep}", exc)
        self.download_phase(ready)
        for target in ready:
            if target.proc is not None:
                self.results.setdefault("final_rss", {})[target.name] = rss(target.proc.pid)
        stop_all()  # waits for every child, so their CPU time is counted as ours
        for storage in self.run_dir.glob("*/storage"):  # stored videos; logs and DBs stay
            shutil.rmtree(storage, ignore_errors=True)
        self.results["duration"] = time.time() - t0
        other = (busy_cpu_seconds() - busy0) - (own_cpu_seconds() - own0)
        self.results["other_cpu"] = {
            "seconds": other,
            "share_of_one_core": other / self.results["duration"],
        }
        self.results["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        return self.write()

    def write(self) -> Path:
        meta = {
            "stamp": self.stamp.isoformat(timespec="seconds"),
            "command": "python bench/gateways/run.py"
            + (" --quick" if self.args.quick else "")
            + ("" if self.pin else " --no-pin")
            + ("" if self.args.targets == DEFAULT_TARGETS else f" --targets {self.args.targets}")
            + (
                f" --vidgate-extras '{self.args.vidgate_extras}'"
                if self.args.vidgate_extras
                else ""
            ),
            "versions": getattr(self, "versions", {}),
            "plan": self.plan.__dict__,
            "pinned": self.pin,
            "vidgate_cmd": " ".join(
                Path(a).name if a.startswith("/") else a for a in getattr(self, "vidgate_cmd", [])
            ),
            "litellm_pin": LITELLM_PIN,
            "machine": machine(),
        }
        self.results["meta"] = meta
        (self.run_dir / "results.json").write_text(json.dumps(self.results, indent=1, default=str))
        suffix = "-quick" if self.args.quick else ""
        out = (
            Path(self.args.out)
            if self.args.out
            else (ROOT / "bench" / "results" / f"gateways-{self.stamp:%Y-%m-%d}{suffix}.md")
        )
        out.write_text(render(self.results))
        return out


def summary(durations: list[float]) -> dict[str, float]:
    if not durations:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "n": 0}
    from bench._util import percentile

    ms = [d * 1000 for d in durations]
    return {
        "p50": statistics.median(ms),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "n": len(ms),
    }


def import_time(python: Path, module: str, runs: int, env: dict[str, str]) -> list[float]:
    """Seconds to ``import <module>`` in a fresh interpreter, timed inside it, so neither the
    interpreter's start nor its teardown (which can take 100 ms for a large module graph)
    counts; one sample per run, after one untimed run that warms the disk cache."""
    full_env = {**os.environ, **env}
    code = (
        f"import time; t = time.perf_counter(); import {module}; "
        "print(time.perf_counter() - t, flush=True)"
    )
    samples = []
    subprocess.run(
        [str(python), "-c", f"import {module}"],
        env=full_env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(runs):
        out = subprocess.run(
            [str(python), "-c", code], env=full_env, check=True, capture_output=True, text=True
        ).stdout
        samples.append(float(out.strip().splitlines()[-1]))
    return samples


DEFAULT_TARGETS = "direct,vidgate,litellm"
# Imported (each alone, in vidgate's venv) to show where vidgate's start-up goes.
STARTUP_MODULES = (
    "vidgate.gateway",
    "vidgate.cli.serve",
    "fastapi",
    "sqlalchemy",
    "httpx",
    "uvicorn",
    "prometheus_client",
    "pydantic",
    "typer",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few requests")
    parser.add_argument(
        "--targets",
        default=DEFAULT_TARGETS,
        help="comma-separated subset of direct,vidgate,litellm",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=300,
        metavar="SECONDS",
        help="first wait up to this long for other processes to go idle "
        "(default 300; 0 to start at once)",
    )
    parser.add_argument("--out", help="results file (default bench/results/gateways-DATE.md)")
    parser.add_argument(
        "--vidgate-extras",
        default="",
        metavar="PKGS",
        help="experiment: extra packages for vidgate's venv, e.g. "
        "'uvicorn[standard]' (a separate venv)",
    )
    parser.add_argument("--setup-only", action="store_true", help="make the venvs and stop")
    parser.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="only write the markdown again from a run's results.json",
    )
    args = parser.parse_args()
    if args.render:
        results = json.loads(Path(args.render).read_text())
        out = Path(args.out) if args.out else Path(args.render).with_suffix(".md")
        out.write_text(render(results))
        print(f"wrote {out}")
        return
    bench = Bench(args)
    with cleanup_on_signals():
        if args.setup_only:
            bench.setup()
            print(json.dumps(bench.versions, indent=1))
            return
        try:
            out = bench.run()
        except KeyboardInterrupt:
            print("\ninterrupted: stopping every process this run started", file=sys.stderr)
            raise SystemExit(130) from None
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"\nwrote {shown} ({bench.results['duration'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
