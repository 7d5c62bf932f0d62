"""What a create sends, decided in one place for every entry point: the seed functions, the
client and the gateway all turn their input into :class:`CreateParams` here, so the same input
gives the same request wherever it comes from.

Sans-IO: it checks, defaults and loads, and never sends. The steps, in order: credentials
(arguments, then the provider's environment variables), the model's capabilities, the prompt,
``seconds`` and ``size`` (an omitted value is the model's default), the reference image,
``extra_body`` (no field that changes what is made or billed; a tenant may not choose the
account), and the price estimate.

The seed's signature says ``seconds="4", size="720x1280"``; those defaults are
:data:`SEED_SECONDS` and :data:`SEED_SIZE`, strings that compare equal to ``"4"`` and
``"720x1280"`` but mean "not given", so a seed call that leaves them out gets the model's
default exactly as a client call or an HTTP request that leaves them out does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import _pricing
from ._exceptions import AuthenticationError, BadRequestError
from ._models import Credentials
from ._validation import (
    check_extra_body,
    check_prompt,
    check_seconds,
    check_size,
    load_input_reference,
)
from .providers import Provider
from .types.params import CreateParams

_ORGANIZATION_ENV = ("OPENAI_ORGANIZATION",)


class _NotGiven(str):
    """A seed default: equal to its text, but marks the argument as left out."""

    __slots__ = ()


SEED_SECONDS: str = _NotGiven("4")
SEED_SIZE: str = _NotGiven("720x1280")


def given(value: Any) -> bool:
    """Whether the caller chose ``value`` (``None`` and the seed's defaults are not chosen)."""
    return value is not None and not isinstance(value, _NotGiven)


def env_value(names: tuple[str, ...], env: Mapping[str, str] | None = None) -> str | None:
    """The first of ``names`` set (and not empty) in the environment."""
    source = os.environ if env is None else env
    return next((source[n] for n in names if source.get(n)), None)


def resolve_credentials(
    provider: type[Provider],
    *,
    api_key: str | None = None,
    api_base: str | None = None,
    organization: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Credentials for ``provider``: what is given, else the provider's usual environment
    variables (``OPENAI_API_KEY``, ``RUNWAYML_API_SECRET`` ...). A key that names a key file
    is read here, so adapters get its text and read no files. An ``Idempotency-Key`` is never
    a standing header: it belongs to one create."""
    headers = {k: v for k, v in (extra_headers or {}).items() if k.lower() != "idempotency-key"}
    key = api_key or env_value(provider.env_api_key, env)
    if key and provider.names_credential_file(key):
        key = read_key_file(key)
    return Credentials(
        api_key=key,
        api_base=api_base or env_value(provider.env_api_base, env),
        organization=organization or env_value(_ORGANIZATION_ENV, env),
        extra_headers=headers,
    )


def read_key_file(path: str) -> str:
    """The text of a credentials file named by ``api_key`` (a service-account key). The SDK's
    user or the gateway's operator named it: callers of a gateway never reach this.

    Raises:
        AuthenticationError: the file cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise AuthenticationError(
            f"Cannot read the credentials file '{path}': {exc.strerror or exc}.",
            code="invalid_credentials_file",
        ) from exc


def create_params(
    provider: Provider,
    *,
    model: str,
    upstream_model: str,
    prompt: Any,
    seconds: Any = None,
    size: Any = None,
    input_reference: Any = None,
    extra_body: Any = None,
    defaults: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    local_caller: bool,
) -> CreateParams:
    """Check and complete one create for ``provider``'s ``upstream_model`` (``model`` is the
    name the caller used, for messages).

    ``local_caller`` is the SDK's user, who holds the account and runs on this machine: paths
    as references and the account-choosing provider options are theirs. A gateway's caller is
    a tenant: neither. ``defaults`` are options the operator set for the deployment; the
    caller's ``extra_body`` goes on top.

    Raises:
        BadRequestError: any value the model cannot take, with ``param`` set.
    """
    caps = provider.capabilities(upstream_model)
    return CreateParams(
        prompt=check_prompt(prompt, caps),
        model=upstream_model,
        seconds=check_seconds(seconds if given(seconds) else caps.default_seconds, caps, model),
        size=check_size(size if given(size) else caps.default_size, caps, model),
        input_reference=load_input_reference(
            input_reference, caps, model, allow_paths=local_caller
        ),
        extra_body={
            **(defaults or {}),
            **check_extra_body(extra_body, provider, model, operator=local_caller),
        },
        idempotency_key=idempotency_key,
    )


def remix_prompt(provider: Provider, upstream_model: str, model: str, prompt: Any) -> str:
    """The checked prompt of a remix of a video made by ``upstream_model`` (``model`` is the
    name the caller knows it by; an empty ``upstream_model`` means unknown: any model).

    Raises:
        BadRequestError: the model cannot remix (``unsupported_operation``), or a bad prompt.
    """
    if not upstream_model:
        return check_prompt(prompt)
    caps = provider.capabilities(upstream_model)
    if not caps.remix:
        raise BadRequestError(
            f"The model '{model}' cannot remix videos.",
            param="video_id",
            code="unsupported_operation",
        )
    return check_prompt(prompt, caps)


def estimate(
    provider: Provider,
    upstream_model: str,
    size: str,
    seconds: str,
    extra_body: Mapping[str, Any] | None = None,
    *,
    price_per_second: float | None = None,
) -> float | None:
    """What a job of this shape costs in USD, or ``None`` when no price is known. A
    deployment's ``price_per_second`` overrides the table; otherwise the table's price, at
    the silent rate where the options turn sound off and that changes the price."""
    if price_per_second is not None:
        return round(price_per_second * float(seconds), 4)
    audio = provider.audio(extra_body or {})
    return _pricing.cost_usd(provider.name, upstream_model, size, seconds, audio=audio)
