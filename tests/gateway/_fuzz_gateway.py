"""A gateway for fuzzing and its findings: in process, on a tmp SQLite and storage, with the
fake OpenAI upstream on loopback as its only provider, and nothing reaching past loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI

from tests.fakes.openai_upstream import FakeOpenAIState
from vidgate._engine import Engine
from vidgate._exceptions import APIConnectionError
from vidgate.gateway.app import create_app
from vidgate.gateway.config import Settings
from vidgate.gateway.openapi import install

MASTER_KEY = "sk-master-" + "fuzz-7d3a9c1e5b2f"


def gateway_settings(base_url: str, database_url: str, storage_dir: str) -> Settings:
    return Settings.model_validate(
        {
            "model_list": [
                {
                    "model_name": "sora-2",
                    "params": {
                        "model": "openai/sora-2",
                        "api_base": base_url,
                        "api_key": "sk-test",
                        "poll_interval": 0.05,
                    },
                }
            ],
            "general_settings": {
                "master_key": MASTER_KEY,
                "database_url": database_url,
                "storage_dir": storage_dir,
                "poll_after_ms": 10,
            },
        }
    )


class LoopbackEngine(Engine):
    """The gateway's engine, kept on loopback: the fuzzer names reference URLs at random, and
    the gateway fetches https: ones. A host that is not a loopback or private IP literal is
    refused here as unreachable, before any DNS lookup; the others go to the real URL guard
    (which refuses them too)."""

    async def fetch(self, url: str, **kwargs: Any) -> tuple[bytes, str | None]:
        host = urlsplit(url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or address.is_global:
            raise APIConnectionError(f"test gateway: {host!r} is not reachable from here")
        fetched: tuple[bytes, str | None] = await super().fetch(url, **kwargs)
        return fetched


def build_gateway(home: Path, base_url: str) -> FastAPI:
    app = create_app(
        gateway_settings(base_url, f"sqlite:///{home / 'fuzz.db'}", str(home / "storage")),
        engine=LoopbackEngine(network="aiohttp"),
    )
    install(app)  # a no-op once app.py calls it itself
    return app


class WholeVideos(FakeOpenAIState):
    """The fake upstream, with videos that are whole MP4s box by box (its ``ftyp``, then
    ``moov`` and ``mdat``), so the gateway's check of a copied video passes."""

    def expected_content(self, video_id: str, variant: str = "video") -> bytes:
        data = super().expected_content(video_id, variant)
        if variant != "video" or len(data) < 48:
            return data
        rest = data[48:]  # the same length as the fake's own
        moov = (8).to_bytes(4, "big") + b"moov"
        return data[:32] + moov + (8 + len(rest)).to_bytes(4, "big") + b"mdat" + rest
