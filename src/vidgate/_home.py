"""Where vidgate keeps its files: ``$VIDGATE_HOME``, else ``~/.vidgate``."""

from __future__ import annotations

import os
from pathlib import Path


def vidgate_home() -> Path:
    return Path(os.environ.get("VIDGATE_HOME") or Path.home() / ".vidgate")
