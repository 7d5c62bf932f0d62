"""Azure OpenAI's v1 Videos API (spec §9, providers.md §4.2): the OpenAI shape under
``https://{resource}.openai.azure.com/openai/v1``, an ``api-key`` header, and the deployment
name in ``model``."""

from __future__ import annotations

from typing import ClassVar

from .._exceptions import BadRequestError
from ..types.capabilities import OPENAI_SIZES, ModelCapabilities
from .openai import OpenAIProvider

# AZ concepts doc (f055922f): Sora 2 on Azure takes 720x1280 / 1280x720 and 4, 8 or 12 s.
AZURE_SORA_2 = ModelCapabilities(seconds=("4", "8", "12"), sizes=OPENAI_SIZES[:2], remix=True)
AZURE_SORA_2_PRO = ModelCapabilities(seconds=("4", "8", "12"), sizes=OPENAI_SIZES, remix=True)


class AzureProvider(OpenAIProvider):
    """Model ids are ``azure/<deployment>``; a deployment whose name contains ``pro`` is taken
    to be Sora 2 Pro, any other Sora 2."""

    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure OpenAI"
    env_api_key: ClassVar[tuple[str, ...]] = ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY")
    env_api_base: ClassVar[tuple[str, ...]] = ("AZURE_OPENAI_ENDPOINT", "AZURE_API_BASE")
    default_api_base = ""
    poll_interval = 5.0
    models: ClassVar[dict[str, ModelCapabilities]] = {
        "sora-2": AZURE_SORA_2,
        "sora-2-pro": AZURE_SORA_2_PRO,
    }
    default_capabilities: ClassVar[ModelCapabilities | None] = AZURE_SORA_2
    # The OpenAI body (providers.md §4.2, extra_body at its top level), plus the names the same
    # Azure resource reads for size, length and count in its Sora 1 jobs API (§4.1: ``width``,
    # ``height``, ``n_seconds``, ``n_variants``).
    reserved_fields: ClassVar[frozenset[str]] = OpenAIProvider.reserved_fields | frozenset(
        {"width", "height", "n_seconds", "n_variants"}
    )

    def capabilities(self, model: str) -> ModelCapabilities:
        if model not in self.models and "pro" in model.lower():
            return AZURE_SORA_2_PRO
        return super().capabilities(model)

    @property
    def api_base(self) -> str:
        base = (self.credentials.api_base or "").rstrip("/")
        if not base:
            raise BadRequestError(
                "Azure needs an endpoint: pass api_base='https://<resource>.openai.azure.com' "
                "or set AZURE_OPENAI_ENDPOINT.",
                param="api_base",
                code="missing_api_base",
            )
        # Accept the resource endpoint as the portal shows it and add the v1 path.
        if not base.endswith("/openai/v1"):
            base = base.removesuffix("/openai") + "/openai/v1"
        return base

    def auth_headers(self) -> dict[str, str]:
        # §4.2: the key goes in ``api-key``, with no bearer token and no OpenAI organization.
        key = self.credentials.api_key
        return {"api-key": key} if key else {}
