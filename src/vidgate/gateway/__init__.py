"""The vidgate HTTP gateway: OpenAI's ``/v1/videos`` for many keys, on any provider.

``create_app(settings)`` builds the FastAPI app; ``load_settings(path)`` reads a YAML config;
``vidgate serve`` runs it on uvicorn.
"""

from .app import create_app
from .config import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "create_app", "load_settings"]
