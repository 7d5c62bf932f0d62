"""Gateway settings: a pydantic model, loaded from YAML (``vidgate serve --config FILE``).

The file may hold the seed's ``videos_settings`` list, a ``model_list`` of deployments
(``params`` or LiteLLM's ``litellm_params``) and ``general_settings``. Any string value
``os.environ/NAME`` is replaced by that environment variable. A bad file raises
:class:`ConfigError` naming the file, the key and what is wrong, so ``serve`` fails at start.

Example::

    model_list:
      - model_name: sora-2
        params: {model: openai/sora-2, api_key: os.environ/OPENAI_API_KEY}
    general_settings:
      master_key: os.environ/VIDGATE_MASTER_KEY
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .._home import vidgate_home
from ..local.store import LocalSettings
from .durations import MAX_DURATION_SECONDS, parse_duration
from .webhooks import WebhookTarget

ENV_PREFIX = "os.environ/"
DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # a 20 MiB reference image, base64-encoded, fits
# The model served when no config names any: the built-in offline engine.
LOCAL_MODEL = "local/preview"


class ConfigError(Exception):
    """The config cannot be used; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentParams(BaseModel):
    """How to reach one deployment: ``model`` is ``provider/model`` (bare = ``openai``)."""

    model_config = ConfigDict(extra="allow")

    model: str
    api_key: str | None = None
    api_base: str | None = None
    organization: str | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)
    # Provider options sent with every create on this deployment (the operator's, so they may
    # include what a caller may not set, such as ``vertex_project`` or ``storage_uri``).
    extra_body: dict[str, Any] = Field(default_factory=dict)
    # Overrides the price table (USD per second of output) for this deployment.
    price_per_second: float | None = Field(default=None, ge=0)
    weight: float = Field(default=1.0, gt=0)
    timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    poll_interval: float | None = Field(default=None, gt=0)


class Deployment(BaseModel):
    """One ``model_list`` entry: the public ``model_name`` callers send, and its ``params``."""

    model_config = ConfigDict(extra="allow")

    model_name: str = Field(min_length=1)
    params: DeploymentParams
    id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _litellm_synonym(cls, data: Any) -> Any:
        # LiteLLM configs spell it ``litellm_params``; both load unchanged.
        if isinstance(data, dict) and "params" not in data and "litellm_params" in data:
            data = {**data, "params": data["litellm_params"]}
            data.pop("litellm_params")
        return data

    @property
    def deployment_id(self) -> str:
        """Stable across restarts and config reordering, so job records keep their route."""
        if self.id:
            return self.id
        raw = f"{self.model_name}|{self.params.model}|{self.params.api_base or ''}"
        return f"{self.model_name}#{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


class ProviderSettings(BaseModel):
    """A seed ``videos_settings`` entry: credentials for every model of one provider."""

    model_config = ConfigDict(extra="allow")

    custom_llm_provider: str = Field(min_length=1)
    api_key: str | None = None
    api_base: str | None = None
    organization: str | None = None


class GeneralSettings(_Strict):
    """``general_settings``: who may call, where state lives, and limits."""

    master_key: str | None = None
    database_url: str | None = None
    storage_dir: Path | None = None
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, gt=0)
    default_model: str | None = None
    # The ``openai-poll-after-ms`` hint sent with unfinished videos (spec §6).
    poll_after_ms: int = Field(default=500, ge=10)
    # How many jobs the poller checks at once.
    poll_concurrency: int = Field(default=8, ge=1)
    # What this replica does: ``all`` (the default), ``api`` (answers clients, never polls
    # providers) or ``worker`` (polls providers, copies videos, sweeps; serves only health
    # and metrics). Client traffic on api replicas cannot slow a worker's polling.
    role: Literal["all", "api", "worker"] = "all"
    host: str | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    # Rate limits and poller wake-ups shared by all replicas (gateway/redis_state.py); without
    # it they stay in process.
    redis_url: str | None = None
    # Where ``video.completed`` / ``video.failed`` events are POSTed (signed).
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    # ``input_reference: {"image_url": ...}``: the gateway fetches the image itself (through
    # the outbound URL guard), so it is checked at create and a restart can resend it.
    # ``http:`` URLs are refused unless allowed; hosts listed here may be private addresses
    # (an image server on the operator's own network).
    # The built-in engine: where its jobs live (default ``$VIDGATE_HOME/local``) and how many
    # renders run at once (default: VIDGATE_LOCAL_WORKERS, else one per CPU core).
    local_dir: Path | None = None
    local_workers: int | None = Field(default=None, ge=1, le=256)
    allow_http_references: bool = False
    reference_hosts: list[str] = Field(default_factory=list)
    reference_timeout: float = Field(default=15.0, gt=0, le=300)
    # How long finished videos' content is kept: a duration (``30d``, ``12h``) or seconds;
    # a key's own ``retention`` overrides it. None: kept forever (``expires_at`` stays null).
    retention: int | None = None
    # The sweeper that deletes expired content: seconds between sweeps, jobs per pass.
    sweep_interval: float = Field(default=60.0, gt=0)
    sweep_batch: int = Field(default=100, ge=1, le=10_000)

    @field_validator("retention", mode="before")
    @classmethod
    def _retention_seconds(cls, value: Any) -> Any:
        return retention_seconds(value)


class Settings(_Strict):
    """Everything the gateway needs. Built from a config file, or with defaults for no file."""

    model_list: list[Deployment] = Field(default_factory=list)
    videos_settings: list[ProviderSettings] = Field(default_factory=list)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    # Where the config came from (for messages); not a config key.
    source: str | None = Field(default=None, exclude=True)

    @property
    def master_key(self) -> str | None:
        return self.general_settings.master_key or os.environ.get("VIDGATE_MASTER_KEY") or None

    @property
    def database_url(self) -> str:
        url = self.general_settings.database_url
        return url or f"sqlite:///{vidgate_home() / 'gateway.db'}"

    @property
    def storage_dir(self) -> Path:
        return self.general_settings.storage_dir or vidgate_home() / "storage"

    @property
    def local(self) -> LocalSettings:
        """The built-in engine's settings, from ``general_settings`` and the defaults."""
        defaults = LocalSettings.from_env()
        general = self.general_settings
        return LocalSettings(
            root=general.local_dir or defaults.root,
            workers=general.local_workers or defaults.workers,
        )

    @property
    def uses_local_default(self) -> bool:
        """No deployment and no provider settings: serve the offline ``local`` engine."""
        return not self.model_list and not self.videos_settings


def retention_seconds(value: Any) -> Any:
    """A retention period as seconds: ``30d``, ``12h``, ... or a whole number of seconds.

    Raises:
        ValueError: not a duration, or not more than 0 s and at most 100 years.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a duration (30d, 12h, ...) or a number of seconds")
    if isinstance(value, str) and not value.strip().isdigit():
        try:
            return parse_duration(value)
        except Exception:
            raise ValueError(
                f"'{value[:40]}' is not a duration: use a number and a unit (30s, 15m, 12h, "
                "30d, 2w) or a number of seconds"
            ) from None
    seconds = int(value) if isinstance(value, str) else value
    if isinstance(seconds, int) and not 0 < seconds <= MAX_DURATION_SECONDS:
        raise ValueError("must be more than 0 s and at most 100 years")
    return seconds


def resolve_env(value: Any, path: str = "") -> Any:
    """Replace every ``os.environ/NAME`` string with the variable's value.

    Raises:
        ConfigError: a referenced variable is not set (``path`` names the key).
    """
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(f"{path}: environment variable {name} is not set")
        return found
    return value


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Settings from a YAML file, or the zero-config defaults when ``path`` is ``None``.

    Raises:
        ConfigError: the file is missing, not YAML, or has a wrong or unknown key.
    """
    if path is None:
        return Settings()
    where = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the config: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping, not {type(raw).__name__}")
    try:
        settings = Settings.model_validate(resolve_env(raw))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{_loc(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"{where}: {problems}") from None
    settings.source = where
    return settings


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
