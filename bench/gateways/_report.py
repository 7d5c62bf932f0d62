"""Markdown for ``run.py``'s results: the headline table (medians over repetitions, ratios
vidgate / LiteLLM and vidgate / direct, the issue's aims), where vidgate is behind, then
every figure per repetition."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

MIB = 1024 * 1024
NAMES = {"direct": "direct", "vidgate": "vidgate", "litellm": "LiteLLM"}


def by_concurrency(labels: Any) -> list[str]:
    """``create c=1`` < ``create c=32`` < ``status c=1`` < ``status rps c=128`` …"""

    def key(label: str) -> tuple[str, int]:
        head, _, conc = label.rpartition("c=")
        return head, int(conc) if conc.isdigit() else 0

    return sorted(labels, key=key)


def per_conc(counts: dict[Any, int]) -> str:
    return ", ".join(f"{n} at c={c}" for c, n in counts.items())


def med(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def fmt(value: float, unit: str = "", digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}{unit}"


def ratio(a: float, b: float) -> str:
    if any(v is None or math.isnan(v) for v in (a, b)) or b == 0:
        return "–"
    r = a / b
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×"


class Figures:
    """Medians over repetitions, looked up by (target, metric)."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.r = results

    def lat(self, target: str, label: str, stat: str) -> float:
        reps = self.r["latency"].get(target, {}).get(label, [])
        return med([rep[stat] for rep in reps])

    def overhead(self, target: str, label: str, stat: str = "p50") -> float:
        """Per repetition (target - direct), then the median."""
        mine = self.r["latency"].get(target, {}).get(label, [])
        base = self.r["latency"].get("direct", {}).get(label, [])
        return med([m[stat] - b[stat] for m, b in zip(mine, base, strict=False)])

    def rps(self, target: str, label: str) -> float:
        return med([rep["rps"] for rep in self.r["rps"].get(target, {}).get(label, [])])

    def rps_errors(self, target: str, label: str) -> int:
        reps = self.r["rps"].get(target, {}).get(label, [])
        return sum(sum(rep["errors"].values()) for rep in reps)

    def lat_errors(self, target: str, label: str) -> int:
        reps = self.r["latency"].get(target, {}).get(label, [])
        return sum(sum(rep["errors"].values()) for rep in reps)

    def upstream(self, target: str, label: str, key: str = "upstream_per_request") -> float:
        return med([rep[key] for rep in self.r["upstream"].get(target, {}).get(label, [])])

    def dl(self, target: str, label: str, key: str) -> float:
        return med(
            [rep.get(key, math.nan) for rep in self.r["download"].get(target, {}).get(label, [])]
        )

    def startup(self, target: str) -> float:
        return med(self.r["startup"].get(target, []))

    def idle(self, target: str) -> float:
        return med(self.r["idle"].get(target, [])) / MIB

    def imp(self, module: str) -> float:
        return med(self.r["import"].get(module, [])) * 1000


def render(results: dict[str, Any]) -> str:
    from bench._util import machine

    f = Figures(results)
    meta = results["meta"]
    out: list[str] = [
        "# Gateway benchmark: vidgate vs LiteLLM proxy (same fake upstream, same run)",
        "",
        f"Machine: {meta.get('machine') or machine()}",
        "",
        f"Command: `{meta['command']}` (took {results.get('duration', 0) / 60:.1f} min; "
        f"started {meta['stamp']})",
        "",
        f"LiteLLM: `litellm[proxy]=={meta['litellm_pin']}` in its own venv, started with "
        "`litellm --config … --num_workers 1`, `LITELLM_LOG=ERROR`, "
        "`LITELLM_LOCAL_MODEL_COST_MAP=True`, no database (master key only).",
        f"vidgate: this checkout, `pip install -e .` in its own venv, started with "
        f"`{meta['vidgate_cmd']} --config … --log-level warning`, SQLite + local storage.",
        "Both: one deployment `sora-2` → `openai/sora-2` at the fake upstream, a random master "
        "key, one process. Upstream: `bench/gateways/fake_upstream.py` (no added latency; "
        "content generated on the fly).",
        "CPU: "
        + (
            "each gateway pinned to CPU 1, fake upstream and load generator (aiohttp, one "
            "process) to CPU 0."
            if meta["pinned"]
            else "not pinned."
        ),
        "",
        "Versions: "
        + "; ".join(
            f"{venv}: " + ", ".join(f"{k} {v}" for k, v in pkgs.items())
            for venv, pkgs in meta["versions"].items()
        ),
        "",
    ]
    plan = meta["plan"]
    out += [
        f"Repetitions: {plan['reps']} (targets interleaved); medians over repetitions below. "
        f"Per repetition: creates {per_conc(plan['create_n'])}, status polls "
        f"{per_conc(plan['poll_n'])} over {plan['poll_jobs']} in-progress jobs, "
        f"requests-per-second runs of {plan['rps_seconds']:g} s; downloads "
        f"{plan['download_reps']}× each size; start-up {plan['startup_reps']}×; import "
        + ", ".join(f"`{m}` {n}×" for m, n in plan["import_reps"].items())
        + ".",
        "",
    ]
    other = results.get("other_cpu")
    if other:
        share = other["share_of_one_core"]
        out += [
            f"Other load on the machine during the run (processes not started by it): "
            f"{other['seconds']:.0f} CPU-seconds, {share:.0%} of one core on average "
            f"(load average at start {' '.join(results['loadavg_start'])}, at end "
            f"{' '.join(results['loadavg_end'])})."
            + (" **The machine was shared: treat the figures with care.**" if share > 0.1 else ""),
            "",
        ]
    for note in results["notes"]:
        out.append(f"> Note: {note}")
    for err in results["errors"]:
        out.append(f"> **Error:** {err}")
    if results["notes"] or results["errors"]:
        out.append("")

    rows, behind, aims = headline(f, results)
    out += [
        "## Headline",
        "",
        "Lower is better for times and memory, higher for requests per second. Ratios are "
        "vidgate / LiteLLM and vidgate / direct, computed from the medians.",
        "",
        "| figure | direct | vidgate | LiteLLM | vidgate / LiteLLM | vidgate / direct |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    out += rows
    out += [
        "",
        "## The issue's aims for vidgate",
        "",
        "| aim | measured | verdict |",
        "|---|---|---|",
    ]
    out += aims
    out += ["", "## Where vidgate is behind", "", "Against LiteLLM:", ""]
    out += behind or ["- Nowhere in this run: vidgate is ahead of LiteLLM on every figure."]
    out += ["", "Against the upstream called directly (what having a gateway at all costs):", ""]
    out += versus_direct(f, results)
    out += ["", *details(f, results)]
    return "\n".join(out) + "\n"


def headline(f: Figures, results: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    rows: list[str] = []
    behind: list[str] = []
    targets = ("direct", "vidgate", "litellm")

    def row(
        name: str,
        get: Callable[[str], float],
        unit: str,
        *,
        higher_better: bool = False,
        digits: int = 2,
        skip_direct: bool = False,
        compare: bool = True,
    ) -> None:
        values = {t: (math.nan if skip_direct and t == "direct" else get(t)) for t in targets}
        cells = [fmt(values[t], unit, digits) for t in targets]
        rows.append(
            f"| {name} | {' | '.join(cells)} | {ratio(values['vidgate'], values['litellm'])}"
            f" | {ratio(values['vidgate'], values['direct'])} |"
        )
        v, lt = values["vidgate"], values["litellm"]
        if compare and not math.isnan(v) and not math.isnan(lt):
            worse = v < lt if higher_better else v > lt
            if worse:
                behind.append(
                    f"- {name}: vidgate {fmt(v, unit, digits)} vs LiteLLM "
                    f"{fmt(lt, unit, digits)} ({ratio(v, lt)})."
                )

    for label in by_concurrency(
        results["latency"].get("vidgate", results["latency"].get("direct", {}))
    ):
        for stat in ("p50", "p95", "p99"):
            row(f"{label} latency {stat}", lambda t, lb=label, s=stat: f.lat(t, lb, s), " ms")
    for label in ("status c=1", "status c=32"):
        row(
            f"{label} overhead over direct, p50",
            lambda t, lb=label: f.overhead(t, lb),
            " ms",
            skip_direct=True,
        )
    for label in by_concurrency(results["rps"].get("vidgate", results["rps"].get("direct", {}))):
        row(
            f"{label} (requests/s)",
            lambda t, lb=label: f.rps(t, lb),
            "",
            higher_better=True,
            digits=0,
        )
        row(
            f"{label} errors (all reps)",
            lambda t, lb=label: float(f.rps_errors(t, lb)),
            "",
            digits=0,
        )
    for label, name in (
        ("create c=1", "create (during the create run; vidgate's poller included)"),
        ("status c=1", "status poll (vidgate: only its poller's background)"),
    ):
        row(
            f"upstream requests per client {name}",
            lambda t, lb=label: f.upstream(t, lb),
            "",
            compare=False,
        )
    bg = results["upstream"].get("vidgate", {}).get("job lifecycle", [])
    if bg:
        per_job = med([sum(b["upstream"].values()) / b["jobs"] for b in bg])
        rows.append(
            f"| vidgate upstream requests per job, create to stored (with its poller) "
            f"| – | {per_job:.2f} | – | – | – |"
        )
    for label in sizes(results):
        row(
            f"download {label}: time to first byte",
            lambda t, lb=label: f.dl(t, lb, "ttfb") * 1000,
            " ms",
            digits=1,
        )
        row(
            f"download {label}: throughput",
            lambda t, lb=label: f.dl(t, lb, "mb_per_s"),
            " MB/s",
            higher_better=True,
            digits=0,
        )
        row(
            f"download {label}: gateway memory growth",
            lambda t, lb=label: f.dl(t, lb, "growth") / MIB,
            " MiB",
            digits=1,
            skip_direct=True,
        )
        row(
            f"download {label}: gateway peak RSS",
            lambda t, lb=label: f.dl(t, lb, "peak") / MIB,
            " MiB",
            digits=0,
            skip_direct=True,
        )
    row("start-up to first healthy response", f.startup, " s", skip_direct=True)
    row("idle memory (RSS after start-up)", f.idle, " MiB", digits=0, skip_direct=True)
    rows.append(
        f"| `import` time of the SDK | – | {fmt(f.imp('vidgate'), ' ms', 0)} | "
        f"{fmt(f.imp('litellm'), ' ms', 0)} | {ratio(f.imp('vidgate'), f.imp('litellm'))}"
        " | – |"
    )
    return rows, behind, aims(f, results)


def versus_direct(f: Figures, results: dict[str, Any]) -> list[str]:
    out = []
    for label in ("status c=1", "create c=1"):
        v, d = f.lat("vidgate", label, "p50"), f.lat("direct", label, "p50")
        if not (math.isnan(v) or math.isnan(d)):
            out.append(
                f"- {label} p50: {fmt(v, ' ms')} vs {fmt(d, ' ms')} direct (+{fmt(v - d, ' ms')})."
            )
    for label in by_concurrency(results["rps"].get("vidgate", {})):
        v, d = f.rps("vidgate", label), f.rps("direct", label)
        out.append(f"- {label}: {fmt(v, '/s', 0)} vs {fmt(d, '/s', 0)} direct ({ratio(v, d)}).")
    for label in sizes(results):
        v, d = f.dl("vidgate", label, "mb_per_s"), f.dl("direct", label, "mb_per_s")
        out.append(
            f"- download {label} throughput (from vidgate's storage): {fmt(v, ' MB/s', 0)}"
            f" vs {fmt(d, ' MB/s', 0)} direct ({ratio(v, d)})."
        )
    return out


def sizes(results: dict[str, Any]) -> list[str]:
    labels: list[str] = []
    for per_target in results["download"].values():
        for label in per_target:
            if label not in labels:
                labels.append(label)
    return sorted(labels, key=lambda s: int(s.split()[0]))


def aims(f: Figures, results: dict[str, Any]) -> list[str]:
    rows = []

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("met" if ok else "**missed**")

    def nan(*values: float) -> bool:
        return any(math.isnan(v) for v in values)

    vo, lo = f.overhead("vidgate", "status c=1"), f.overhead("litellm", "status c=1")
    ok = None if nan(vo, lo) else (vo <= lo / 5 and vo < 2.0)
    rows.append(
        f"| status-poll overhead ≤ 1/5 of LiteLLM's and < 2 ms p50 (c=1) | vidgate "
        f"{fmt(vo, ' ms')} vs LiteLLM {fmt(lo, ' ms')} (1/5 = {fmt(lo / 5, ' ms')}) | "
        f"{verdict(ok)} |"
    )
    label = "status rps c=32"
    vr, lr = f.rps("vidgate", label), f.rps("litellm", label)
    errs = f.rps_errors("vidgate", label)
    ok = None if nan(vr, lr) else (vr >= 5 * lr and errs == 0)
    rows.append(
        f"| ≥ 5× LiteLLM's requests/s at c=32, no errors | {fmt(vr, '', 0)} vs "
        f"{fmt(lr, '', 0)} ({ratio(vr, lr)}), {errs} errors | {verdict(ok)} |"
    )
    big = sizes(results)[-1] if sizes(results) else None
    if big:
        growth = f.dl("vidgate", big, "growth") / MIB
        copy = med([c["growth"] for c in results["copy"].get(big, [])]) / MIB
        ok = None if nan(growth) else growth < 25 * 1e6 / MIB
        rows.append(
            f"| < 25 MB memory growth for a 1 GB download ({big} here) | download "
            f"{fmt(growth, ' MiB', 1)}; copying it to storage first: "
            f"{fmt(copy, ' MiB', 1)} | {verdict(ok)} |"
        )
    s = f.startup("vidgate")
    rows.append(f"| start-up < 1 s | {fmt(s, ' s')} | {verdict(None if nan(s) else s < 1)} |")
    idle = f.idle("vidgate")
    rows.append(
        f"| idle memory < 100 MB | {fmt(idle, ' MiB', 0)} "
        f"({fmt(idle * MIB / 1e6, ' MB', 0)}) | "
        f"{verdict(None if nan(idle) else idle * MIB / 1e6 < 100)} |"
    )
    imp = f.imp("vidgate")
    rows.append(
        f"| `import vidgate` < 150 ms | {fmt(imp, ' ms', 0)} | "
        f"{verdict(None if nan(imp) else imp < 150)} |"
    )
    return rows


def details(f: Figures, results: dict[str, Any]) -> list[str]:
    out = [
        "## Every figure",
        "",
        "### Latency per repetition (ms)",
        "",
        "| target | measurement | rep | p50 | p95 | p99 | n | errors |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for target, labels in results["latency"].items():
        for label, reps in labels.items():
            for i, rep in enumerate(reps):
                out.append(
                    f"| {NAMES[target]} | {label} | {i} | {rep['p50']:.2f} | "
                    f"{rep['p95']:.2f} | {rep['p99']:.2f} | {rep['n']} | "
                    f"{rep['errors'] or 0} |"
                )
    out += [
        "",
        "### Requests per second (GET /videos/{id}, fixed-duration runs)",
        "",
        "| target | measurement | rep | requests/s | ok | errors | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for target, labels in results["rps"].items():
        for label, reps in labels.items():
            for i, rep in enumerate(reps):
                out.append(
                    f"| {NAMES[target]} | {label} | {i} | {rep['rps']:.0f} | {rep['ok']} |"
                    f" {rep['errors'] or 0} | {rep['p50']:.2f} | {rep['p99']:.2f} |"
                )
    out += [
        "",
        "### Upstream requests counted at the fake, per client request",
        "",
        "vidgate answers `GET /videos/{id}` from its own record; its poller asks the "
        "upstream in the background (about once a second per unfinished job), so the "
        "status rows show only that background trickle. LiteLLM forwards each call.",
        "",
        "| target | measurement | rep | client requests | upstream requests by route | "
        "per client request |",
        "|---|---|---:|---:|---|---:|",
    ]
    for target, labels in results["upstream"].items():
        for label, reps in labels.items():
            for i, rep in enumerate(reps):
                if "jobs" in rep:  # the "job lifecycle" entries
                    total = sum(rep["upstream"].values())
                    out.append(
                        f"| {NAMES[target]} | whole life of the jobs just created, poller"
                        f" included (settled {rep['drain_seconds']:.1f} s after the last "
                        f"create) | {i} | {rep['jobs']} jobs | {rep['upstream']} | "
                        f"{total / rep['jobs']:.2f} per job |"
                    )
                else:
                    per = rep["upstream_per_request"]
                    out.append(
                        f"| {NAMES[target]} | {label} | {i} | {rep['client_requests']} | "
                        f"{rep['upstream']} | {fmt(per, '', 3)} |"
                    )
    out += [
        "",
        "### Downloads",
        "",
        "vidgate serves the copy its poller stored when the job completed (the create-to-"
        "completed wait includes that copy); LiteLLM and direct fetch from the upstream.",
        "",
        "| target | size | rep | time to first byte | total | MB/s | gateway RSS before"
        " | peak | growth |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target, labels in results["download"].items():
        for label, reps in labels.items():
            for i, rep in enumerate(reps):
                mem = (
                    "– | – | –"
                    if "peak" not in rep
                    else f"{rep['baseline'] / MIB:.0f} MiB | {rep['peak'] / MIB:.0f} MiB | "
                    f"{rep['growth'] / MIB:.1f} MiB"
                )
                out.append(
                    f"| {NAMES[target]} | {label} | {i} | {rep['ttfb'] * 1000:.1f} ms | "
                    f"{rep['total']:.2f} s | {rep['mb_per_s']:.0f} | {mem} |"
                )
    if results["copy"]:
        out += [
            "",
            "vidgate's poller copying the upstream video to storage (create → "
            "`completed`, memory of the gateway meanwhile):",
            "",
            "| size | rep | seconds | RSS before | peak | growth |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for label, reps in results["copy"].items():
            for i, rep in enumerate(reps):
                out.append(
                    f"| {label} | {i} | {rep['seconds']:.2f} | {rep['baseline'] / MIB:.0f}"
                    f" MiB | {rep['peak'] / MIB:.0f} MiB | {rep['growth'] / MIB:.1f} MiB |"
                )
    settle = results["meta"]["plan"]["idle_settle"]
    out += [
        "",
        "### Start-up, idle memory, import",
        "",
        "| target | start-up to first healthy `GET /health/readiness` (s), each run | idle RSS "
        f"{settle:g} s after (MiB), each run |",
        "|---|---|---|",
    ]
    for target in results["startup"]:
        s = ", ".join(f"{v:.2f}" for v in results["startup"][target])
        m = ", ".join(f"{v / MIB:.0f}" for v in results["idle"].get(target, []))
        out.append(f"| {NAMES[target]} | {s} | {m} |")
    if results.get("final_rss"):
        out += [
            "",
            "RSS at the end of the run: "
            + ", ".join(f"{NAMES[t]} {v / MIB:.0f} MiB" for t, v in results["final_rss"].items()),
        ]
    if results.get("startup_imports"):
        out += [
            "",
            "Where vidgate's start-up goes: `import` of the gateway and of its heavy "
            "dependencies, each alone in vidgate's venv (ms, median; they overlap, so they do "
            "not add up): "
            + ", ".join(
                f"`{m}` {med(v) * 1000:.0f}" for m, v in results["startup_imports"].items()
            ),
        ]
    out += [
        "",
        "`import` time (ms, timed inside a fresh interpreter), each run: "
        + "; ".join(
            f"`{m}`: " + ", ".join(f"{v * 1000:.0f}" for v in vals)
            for m, vals in results["import"].items()
        ),
    ]
    return out
