"""Process plumbing for the gateway benchmark: virtual environments, child processes that are
always stopped, free ports, health waits and memory read from ``/proc`` (standard library)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

MIB = 1024 * 1024


# -- virtual environments --------------------------------------------------------------------


def ensure_venv(path: Path, requirements: Sequence[str], *, fingerprint: str = "") -> Path:
    """A venv at ``path`` with ``requirements`` installed; reused while the marker matches.

    Returns the venv's python. The marker holds the requirements (and ``fingerprint``, e.g.
    a hash of pyproject.toml), so changing either reinstalls.
    """
    python = path / "bin" / "python"
    marker = path / ".bench-installed"
    want = json.dumps({"requirements": list(requirements), "fingerprint": fingerprint})
    if python.exists() and marker.exists() and marker.read_text() == want:
        return python
    print(f"[setup] installing {' '.join(requirements)} into {path} ...", flush=True)
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(path)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        check=True,
        cwd="/tmp",  # pip must not see the project as the current directory
    )
    marker.write_text(want)
    return python


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def pip_versions(python: Path, names: Sequence[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout))


# -- processes -------------------------------------------------------------------------------


class Proc:
    """A child process in its own session, logged to a file, stopped by :meth:`stop`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        self.started = time.perf_counter()

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.popen = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=pin if cpus else None,
        )
        self.pid = self.popen.pid
        RUNNING.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the process group we created, then SIGKILL if it lingers."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # children left behind in our group, if any
        self._log.close()
        if self in RUNNING:
            RUNNING.remove(self)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


RUNNING: list[Proc] = []


def stop_all() -> None:
    for proc in list(reversed(RUNNING)):
        proc.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str,
    url: str,
    *,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw[:500].decode(errors="replace")}


def wait_healthy(url: str, proc: Proc, timeout: float) -> float:
    """Seconds from ``proc`` start to the first 200 from ``url`` (polled every 10 ms)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return time.perf_counter() - proc.started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{proc.name} not healthy after {timeout:.0f} s:\n{proc.tail()}")


# -- other load on the machine ---------------------------------------------------------------


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (``/proc/stat``, all cores)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and every child it has waited for (all ours are, once
    stopped)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# -- memory ----------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0]) * 1024
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids = [pid]
    for p in pids:  # grows while we walk it
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids += [int(c) for c in children.read_text().split()]
    return pids


def rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (VmRSS summed)."""
    return sum(_status(p).get("VmRSS", 0) for p in tree(pid))


def reset_peak(pid: int) -> bool:
    """Reset VmHWM (``echo 5 > /proc/PID/clear_refs``) for the tree; False if not allowed."""
    ok = True
    for p in tree(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def hwm(pid: int) -> int:
    return sum(_status(p).get("VmHWM", 0) for p in tree(pid))


class PeakSampler:
    """Samples the tree's RSS every ``interval`` seconds in a thread; ``peak`` is the most seen,
    also checked against VmHWM (reset at start) when the kernel allows it."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.baseline = rss(pid)
        self.peak = self.baseline
        self.hwm_reset = reset_peak(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.hwm_reset:
            self.peak = max(self.peak, hwm(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Stop every child on exit, Ctrl-C or SIGTERM."""

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        yield
    finally:
        stop_all()
        signal.signal(signal.SIGTERM, previous)
