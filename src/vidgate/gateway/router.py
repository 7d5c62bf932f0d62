"""Public model name → deployment (provider adapter, credentials, upstream model, price).

Built once from the settings at start. ``model_list`` entries are matched by ``model_name``
(several entries with one name are load-balanced by ``weight``); a name that no entry has is
routed through the seed's ``videos_settings`` when one names its provider. With no config at
all the only model is ``local/preview``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import _ids, _prepare, providers
from .._exceptions import APIError, BadRequestError
from .._models import Credentials
from .._prepare import resolve_credentials
from .._validation import check_extra_body
from ..providers import Provider
from ..types.capabilities import ModelCapabilities
from .config import LOCAL_MODEL, ConfigError, Deployment, DeploymentParams, Settings


@dataclass(frozen=True)
class Route:
    """Where one public model name goes."""

    deployment_id: str
    public_model: str
    provider: Provider
    upstream_model: str
    price_per_second: float | None
    weight: float = 1.0
    timeout: float | None = None
    max_retries: int | None = None
    poll_interval: float | None = None
    # Provider options the operator set for this deployment (``vertex_project``, ...): sent
    # with every create, under whatever the caller may add.
    default_extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def provider_name(self) -> str:
        return self.provider.name

    def capabilities(self) -> ModelCapabilities:
        return self.provider.capabilities(self.upstream_model)

    def estimate(
        self, size: str, seconds: str, extra_body: Mapping[str, Any] | None = None
    ) -> float:
        """What a job at ``size`` and ``seconds`` costs (with these provider options, where
        sound changes the price); unknown prices count as free."""
        return self._price(size, seconds, extra_body) or 0.0

    def priced(self, size: str, seconds: str) -> bool:
        """Whether vidgate knows what such a job costs (else its ``cost_usd`` is null)."""
        return self._price(size, seconds, None) is not None

    def _price(self, size: str, seconds: str, extra_body: Mapping[str, Any] | None) -> float | None:
        return _prepare.estimate(
            self.provider,
            self.upstream_model,
            size,
            seconds,
            extra_body,
            price_per_second=self.price_per_second,
        )

    def poll_every(self) -> float:
        return self.poll_interval or self.provider.poll_interval


class ModelRouter:
    """Resolves public model names to routes; ``pick`` chooses among equal names."""

    def __init__(self, settings: Settings, *, rand: Callable[[], float] = random.random) -> None:
        self._rand = rand
        try:
            self._load(settings)
        except ConfigError as exc:
            # Name the file, as load_settings does for the keys it checks itself.
            raise ConfigError(
                f"{settings.source}: {exc}" if settings.source else str(exc)
            ) from None

    def _load(self, settings: Settings) -> None:
        self._by_name: dict[str, list[Route]] = {}
        self._by_id: dict[str, Route] = {}
        self._fallback: dict[str, ProviderSettingsRoute] = {}
        deployments = list(settings.model_list)
        if settings.uses_local_default:
            deployments = [
                Deployment(model_name=LOCAL_MODEL, params=DeploymentParams(model=LOCAL_MODEL))
            ]
        for index, dep in enumerate(deployments):
            route = _route(dep, f"model_list[{index}]")
            self._by_name.setdefault(dep.model_name, []).append(route)
            self._by_id[route.deployment_id] = route
        for index, entry in enumerate(settings.videos_settings):
            name = entry.custom_llm_provider
            if providers.get(name) is None:
                raise ConfigError(
                    f"videos_settings[{index}].custom_llm_provider: unknown provider '{name}' "
                    f"(known: {', '.join(providers.names())})"
                )
            cls = providers.get(name)
            assert cls is not None
            creds = resolve_credentials(
                cls, api_key=entry.api_key, api_base=entry.api_base, organization=entry.organization
            )
            self._fallback[name] = ProviderSettingsRoute(name, creds)
        self.default_model = settings.general_settings.default_model or (
            "sora-2" if "sora-2" in self._by_name or "openai" in self._fallback else None
        )
        if self.default_model is None and self._by_name:
            self.default_model = next(iter(self._by_name))

    def names(self) -> list[str]:
        """Public model names from ``model_list`` (the ones ``GET /models`` lists)."""
        return list(self._by_name)

    def pick(self, model: str) -> Route:
        """The route for ``model``.

        Raises:
            BadRequestError: no deployment serves that name (``code=model_not_found``).
        """
        routes = self._by_name.get(model)
        if routes:
            return routes[0] if len(routes) == 1 else self._weighted(routes)
        try:
            ref = _ids.parse_model(model)
        except APIError:
            ref = None
        if ref is not None and ref.provider in self._fallback:
            return self._fallback[ref.provider].route(model, ref.model)
        served = ", ".join(self.names() + [f"{p}/*" for p in self._fallback]) or "none"
        raise BadRequestError(
            f"The model '{model}' is not served by this gateway. Models available: {served}.",
            param="model",
            code="model_not_found",
        )

    def by_id(self, deployment_id: str, *, provider: str, upstream_model: str) -> Route | None:
        """The route a job record names; after a config change, any route to the same
        provider and upstream model (so accepted jobs still finish)."""
        route = self._by_id.get(deployment_id)
        if route is not None:
            return route
        for candidates in self._by_name.values():
            for candidate in candidates:
                if (candidate.provider_name, candidate.upstream_model) == (
                    provider,
                    upstream_model,
                ):
                    return candidate
        fallback = self._fallback.get(provider)
        return fallback.route(deployment_id, upstream_model) if fallback else None

    def _weighted(self, routes: list[Route]) -> Route:
        point = self._rand() * sum(r.weight for r in routes)
        for route in routes:
            point -= route.weight
            if point < 0:
                return route
        return routes[-1]


@dataclass(frozen=True)
class ProviderSettingsRoute:
    """A ``videos_settings`` entry: any model of its provider, with its credentials."""

    provider: str
    credentials: Credentials

    def route(self, public_model: str, upstream_model: str) -> Route:
        cls = providers.get(self.provider)
        assert cls is not None  # checked when the settings were loaded
        return Route(
            deployment_id=f"videos_settings:{self.provider}",
            public_model=public_model,
            provider=cls(self.credentials),
            upstream_model=upstream_model,
            price_per_second=None,
        )


def _route(dep: Deployment, where: str) -> Route:
    params = dep.params
    try:
        ref = _ids.parse_model(params.model)
    except APIError as exc:
        raise ConfigError(f"{where}.params.model: {exc.message}") from None
    cls = providers.get(ref.provider)
    if cls is None:  # parse_model checked the prefix; a bare name is ``openai``
        raise ConfigError(f"{where}.params.model: unknown provider '{ref.provider}'")
    provider = cls(
        resolve_credentials(
            cls,
            api_key=params.api_key,
            api_base=params.api_base,
            organization=params.organization,
            extra_headers=params.extra_headers,
        )
    )
    try:
        provider.capabilities(ref.model)
    except APIError as exc:
        raise ConfigError(f"{where}.params.model: {exc.message}") from None
    try:
        check_extra_body(params.extra_body, provider, params.model, operator=True)
    except APIError as exc:
        raise ConfigError(f"{where}.params.extra_body: {exc.message}") from None
    return Route(
        deployment_id=dep.deployment_id,
        public_model=dep.model_name,
        provider=provider,
        upstream_model=ref.model,
        price_per_second=params.price_per_second,
        weight=params.weight,
        timeout=params.timeout,
        max_retries=params.max_retries,
        poll_interval=params.poll_interval,
        default_extra={
            **{k: v for k, v in (params.model_extra or {}).items() if k in cls.operator_fields},
            **params.extra_body,
        },
    )
