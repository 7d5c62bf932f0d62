"""Real gateways for the tests, on loopback: in process (uvicorn in a thread, the default
for tests that only talk to a gateway) or as a ``python -m vidgate.cli.serve`` subprocess
(``start(subprocess=True)``), for tests that kill, signal or measure the process or read its
log. Either way it serves the same app from the same config, with its database, storage and
local engine under its own home (the built-in engine is built from settings, not from
``VIDGATE_HOME``, so an in-process gateway keeps its files apart from the test's).
Each module shares one gateway; tests keep apart by using their own keys.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import socket
import struct
import subprocess as _subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

MASTER_KEY = "sk-master-" + "4f1c0e9a7b2d6e8f3a5c"
STARTUP_TIMEOUT = 30.0

STANDARD_MODELS: list[dict[str, Any]] = [
    {"model_name": "local/preview", "params": {"model": "local/preview"}},
    # Sora names served by the offline engine, priced like Sora (so budgets mean something).
    {"model_name": "sora-2", "params": {"model": "local/preview", "price_per_second": 0.10}},
    {
        "model_name": "sora-2-pro",
        "litellm_params": {"model": "local/preview", "price_per_second": 0.30},
    },
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Gateway:
    """One ``vidgate serve`` process and what it was started with."""

    def __init__(self, home: Path, config: dict[str, Any] | None, *, port: int | None = None):
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = home / "config.yaml"
            self.config_path.write_text(yaml.safe_dump(config))
        self.master_key = (config or {}).get("general_settings", {}).get("master_key")
        self.proc: _subprocess.Popen[bytes] | None = None
        self._served: contextlib.ExitStack | None = None
        self.log = home / "gateway.log"

    @property
    def db_url(self) -> str:
        general = self._general()
        return str(general.get("database_url") or f"sqlite:///{self.home / 'gateway.db'}")

    @property
    def storage_dir(self) -> Path:
        return Path(self._general().get("storage_dir") or self.home / "storage")

    def _general(self) -> dict[str, Any]:
        if self.config_path is None:
            return {}
        data: dict[str, Any] = yaml.safe_load(self.config_path.read_text())
        return data.get("general_settings") or {}

    def start(
        self,
        *,
        extra_env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        subprocess: bool = False,
    ) -> Gateway:
        # VIDGATE_TEST_SUBPROCESS=1 runs every gateway as a process (to compare the two).
        forced = os.environ.get("VIDGATE_TEST_SUBPROCESS") == "1"
        if not (subprocess or extra_env or extra_args or forced):
            return self._start_in_process()
        return self._start_process(extra_env, extra_args)

    def _start_in_process(self) -> Gateway:
        from tests.fakes.loopback import serve_on_loopback
        from vidgate.gateway import Settings, create_app, load_settings

        settings = load_settings(self.config_path) if self.config_path else Settings()
        general = settings.general_settings
        # Where a subprocess with VIDGATE_HOME=home would keep them.
        general.database_url = general.database_url or f"sqlite:///{self.home / 'gateway.db'}"
        general.storage_dir = general.storage_dir or self.home / "storage"
        general.local_dir = general.local_dir or self.home / "local"
        self._served = contextlib.ExitStack()
        url, _server = self._served.enter_context(serve_on_loopback(create_app(settings)))
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        return self

    @property
    def pid(self) -> int:
        """The process serving the gateway (this one, when it runs in process)."""
        return self.proc.pid if self.proc is not None else os.getpid()

    def _start_process(
        self, extra_env: dict[str, str] | None, extra_args: tuple[str, ...]
    ) -> Gateway:
        env = {**os.environ, "VIDGATE_HOME": str(self.home), **(extra_env or {})}
        args = [sys.executable, "-m", "vidgate.cli.serve", "--port", str(self.port), *extra_args]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        with self.log.open("ab") as log:
            self.proc = _subprocess.Popen(args, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited at start:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health/readiness", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"gateway did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self._served is not None:
            self._served.close()
            self._served = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except _subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    # -- clients -----------------------------------------------------------------------------

    def http(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def admin(self) -> httpx.Client:
        return self.http(self.master_key)

    def openai(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key=key or self.master_key or "none", max_retries=0
        )

    def new_key(self, **body: Any) -> str:
        with self.admin() as client:
            reply = client.post("/key/generate", json=body)
        assert reply.status_code == 200, reply.text
        key: str = reply.json()["key"]
        return key


def standard_config(home: Path, **general: Any) -> dict[str, Any]:
    return {
        "model_list": copy.deepcopy(STANDARD_MODELS),  # a test may add to its own
        "general_settings": {
            "master_key": MASTER_KEY,
            "database_url": f"sqlite:///{home / 'gw.db'}",
            "storage_dir": str(home / "storage"),
            "poll_after_ms": 100,
            **general,
        },
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway with a master key and the standard models, shared by one test module."""
    home = tmp_path_factory.mktemp("gateway")
    gw = Gateway(home, standard_config(home)).start()
    try:
        yield gw
    finally:
        gw.stop()


def wait_done(client: openai.OpenAI, video_id: str, timeout: float = 60.0) -> Any:
    """Poll until the video is terminal (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        if time.monotonic() > deadline:
            raise TimeoutError(f"{video_id} still {video.status}")
        time.sleep(0.1)


def png_bytes(
    width: int = 72, height: int = 128, rgb: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A real PNG of one colour (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def is_mp4(data: bytes) -> bool:
    return len(data) > 1000 and data[4:8] == b"ftyp"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The openai SDK marks every videos method deprecated (spec §0); that is not our concern.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"))
