"""``vidgate keys`` and ``vidgate spend`` against a real gateway, through the SDK's
``GatewayAdmin`` (the CLI makes no HTTP call of its own)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.gateway.conftest import Gateway, standard_config

from .conftest import Cli, assert_one_error_line

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gw-cli-keys")
    gw = Gateway(home, standard_config(home)).start()
    try:
        yield gw
    finally:
        gw.stop()


def test_keys_create_list_revoke_and_spend(cli: Cli, gateway: Gateway) -> None:
    where = ("--gateway", gateway.url, "--master-key", str(gateway.master_key))
    created = cli("keys", "create", *where, "--alias", "cli-team", "--max-budget", "2", "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert key["key"].startswith("sk-vg-") and key["key_alias"] == "cli-team"

    listed = cli("keys", "list", *where, "--json")
    assert listed.exit_code == 0, listed.output
    assert [k["key_id"] for k in json.loads(listed.stdout)].count(key["key_id"]) == 1

    client = gateway.openai(key["key"])
    client.videos.create(model="sora-2", prompt="spent", seconds="4")
    spend = cli("spend", *where, "--key-id", key["key_id"], "--json")
    assert spend.exit_code == 0, spend.output
    [entry] = json.loads(spend.stdout)
    assert entry["key_id"] == key["key_id"] and entry["spend"] == pytest.approx(0.4)

    revoked = cli("keys", "revoke", key["key_id"], *where)
    assert revoked.exit_code == 0 and key["key_id"] in revoked.stdout
    with gateway.http(key["key"]) as http:
        assert http.get("/v1/videos").status_code == 401


def test_a_wrong_master_key_is_one_error_line(cli: Cli, gateway: Gateway) -> None:
    result = cli("keys", "list", "--gateway", gateway.url, "--master-key", "sk-wrong-0000000000")
    assert_one_error_line(result, exit_code=1, contains="Incorrect API key")
