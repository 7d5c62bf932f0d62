"""``python -m vidgate.gateway [--config FILE] [--host H] [--port P] [--log-level L]``: run
the gateway on uvicorn without loading the CLI (no typer, no rich)."""

from __future__ import annotations

import argparse
import sys

from .server import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidgate.gateway", description=__doc__)
    parser.add_argument("--config", "-c", help="YAML config (model_list, general_settings, ...)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 4000)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    parser.add_argument(
        "--role", choices=("all", "api", "worker"), help="what this replica does (default all)"
    )
    args = parser.parse_args(argv)
    return run(
        config=args.config,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        role=args.role,
    )


if __name__ == "__main__":
    sys.exit(main())
