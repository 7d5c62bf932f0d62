"""Config loading, start-up refusals, the zero-config default, migrations and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from vidgate.cli import keys as keys_cli
from vidgate.gateway import ConfigError, create_app, load_settings
from vidgate.gateway.policy import bind_refusal, is_loopback
from vidgate.gateway.router import ModelRouter
from vidgate.gateway.store import Database, schema
from vidgate.gateway.store.migrations import MIGRATIONS

from .conftest import MASTER_KEY, Gateway


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_full_config_with_env_refs_and_litellm_synonym(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-upstream")
    monkeypatch.setenv("GW_MASTER", "sk-" + "m" * 30)
    path = _write(
        tmp_path,
        """
videos_settings:
  - custom_llm_provider: openai
    api_key: os.environ/UPSTREAM_KEY
model_list:
  - model_name: sora-2
    litellm_params: {model: openai/sora-2, api_key: os.environ/UPSTREAM_KEY,
                     api_base: "http://127.0.0.1:9/v1"}
  - model_name: fast
    params: {model: local/preview, price_per_second: 0.05}
general_settings:
  master_key: os.environ/GW_MASTER
  storage_dir: /tmp/somewhere
  max_upload_bytes: 1000
""",
    )
    settings = load_settings(path)
    assert settings.master_key == "sk-" + "m" * 30
    assert settings.model_list[0].params.api_key == "sk-upstream"
    assert settings.general_settings.max_upload_bytes == 1000
    router = ModelRouter(settings)
    assert router.names() == ["sora-2", "fast"]
    assert router.pick("fast").estimate("720x1280", "4") == pytest.approx(0.2)
    # Through videos_settings: any openai model by its bare name, with those credentials.
    routed = router.pick("sora-2-pro")
    assert (routed.provider_name, routed.upstream_model) == ("openai", "sora-2-pro")
    assert routed.provider.credentials.api_key == "sk-upstream"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model_list: [{model_name: x}]", "model_list[0].params: Field required"),
        ("model_list: [{model_name: x, params: {model: nope/x}}]", "model_list[0].params.model"),
        ("model_list: [{model_name: x, params: {model: local/unknown}}]", "local/unknown"),
        ("general_settings: {master_key: os.environ/NOT_SET_ANYWHERE}", "NOT_SET_ANYWHERE"),
        ("general_settings: {max_upload_bytes: -1}", "general_settings.max_upload_bytes"),
        ("general_settings: {mystery: 1}", "general_settings.mystery"),
        ("videos_settings: [{custom_llm_provider: martian}]", "unknown provider 'martian'"),
        ("- a list", "top level must be a mapping"),
        ("model_list: [", "not valid YAML"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        create_app(load_settings(path))
    message = str(caught.value)
    assert expected in message
    assert message.startswith(f"{path}: ")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")


def test_zero_config_serves_local_and_refuses_sora(tmp_path: Path) -> None:
    settings = load_settings(None)
    assert settings.database_url.endswith("gateway.db")
    router = ModelRouter(settings)
    assert router.names() == ["local/preview"] and router.default_model == "local/preview"
    from vidgate import BadRequestError

    with pytest.raises(BadRequestError) as caught:
        router.pick("sora-2")
    assert caught.value.code == "model_not_found"


def test_no_config_gateway_runs_open_on_loopback(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "zero", None).start()
    try:
        client = gw.openai("any-key-at-all")
        video = client.videos.create_and_poll(prompt="hello", seconds="1")
        assert (video.status, video.model) == ("completed", "local/preview")
        with gw.http() as http:  # no key at all is fine too
            assert http.get(f"/v1/videos/{video.id}").status_code == 200
            # a made-up virtual key is still refused
            bad = http.get("/v1/videos", headers={"Authorization": "Bearer sk-vg-made-up"})
            assert bad.status_code == 401
    finally:
        gw.stop()
    assert (tmp_path / "zero" / "gateway.db").exists()
    assert (tmp_path / "zero" / "storage" / "videos" / video.id / "video.mp4").exists()


@pytest.mark.parametrize(
    ("host", "key", "refused"),
    [
        ("127.0.0.1", None, False),
        ("localhost", "sk-1234", False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("0.0.0.0", "sk-1234", True),
        ("0.0.0.0", "changeme", True),
        ("192.0.2.7", "short", True),
        ("0.0.0.0", MASTER_KEY, False),
    ],
)
def test_bind_refusal(host: str, key: str | None, refused: bool) -> None:
    assert is_loopback(host) == (host in ("127.0.0.1", "localhost", "::1"))
    assert (bind_refusal(host, key) is not None) == refused


@pytest.mark.parametrize("module", ["vidgate.cli.serve", "vidgate.gateway"])
def test_serve_refuses_public_bind_with_known_key(tmp_path: Path, module: str) -> None:
    path = _write(tmp_path, "general_settings: {master_key: sk-1234}")
    result = subprocess.run(
        [sys.executable, "-m", module, "--config", str(path), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"VIDGATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in result.stderr
    assert "publicly known" in result.stderr


def test_serve_reports_bad_config(tmp_path: Path) -> None:
    path = _write(tmp_path, "general_settings: {mystery: 1}")
    result = subprocess.run(
        [sys.executable, "-m", "vidgate.cli.serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}: general_settings.mystery" in result.stderr


def test_migrations_are_numbered_idempotent_and_match_the_schema(tmp_path: Path) -> None:
    numbers = [n for n, _, _ in MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    assert db.migrate() == len(numbers)
    assert db.migrate() == len(numbers)  # a second start changes nothing
    inspector = sqlalchemy.inspect(db.engine)
    for table in schema.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
    with db.engine.connect() as conn:
        mode = conn.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar()
        versions = conn.execute(sqlalchemy.text("SELECT version FROM schema_version")).all()
    assert mode == "wal"
    assert [v for (v,) in versions] == numbers
    db.close()


# -- the CLI against a running gateway -------------------------------------------------------


def test_keys_and_spend_cli(tmp_path: Path) -> None:
    import typer

    from vidgate.cli.spend import spend

    home = tmp_path / "cli"
    from .conftest import standard_config

    gw = Gateway(home, standard_config(home)).start()
    runner = CliRunner()
    common = ["--gateway", f"{gw.url}/v1", "--master-key", MASTER_KEY]
    try:
        made = runner.invoke(
            keys_cli.app,
            [
                "create",
                *common,
                "--alias",
                "ci",
                "--model",
                "sora-2",
                "--max-budget",
                "5",
                "--json",
            ],
        )
        assert made.exit_code == 0, made.output
        created = json.loads(made.stdout)
        secret = created["key"]
        listed = runner.invoke(keys_cli.app, ["list", *common])
        assert listed.exit_code == 0 and created["key_id"] in listed.stdout
        assert secret not in listed.stdout
        gw.openai(secret).videos.create(prompt="billed", model="sora-2", seconds="3")
        spend_app = typer.Typer()
        spend_app.command()(spend)
        shown = runner.invoke(spend_app, [*common, "--key-id", created["key_id"]])
        assert shown.exit_code == 0, shown.output
        assert "sora-2" in shown.stdout and "$0.30" in shown.stdout
        revoked = runner.invoke(keys_cli.app, ["revoke", created["key_id"], *common])
        assert revoked.exit_code == 0 and created["key_id"] in revoked.stdout
        denied = runner.invoke(keys_cli.app, ["list", "--gateway", gw.url, "--master-key", "bad"])
        assert denied.exit_code != 0
    finally:
        gw.stop()


def test_a_version_1_database_upgrades_and_keeps_its_jobs(tmp_path: Path) -> None:
    """A database written by the first release gains ``jobs.priced`` (true for old rows)."""
    import time

    from sqlalchemy import create_engine, text

    from vidgate.gateway.store.migrations import _0001_initial, migrate, schema_version

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        schema_version.metadata.create_all(conn)
        _0001_initial(conn)
        conn.execute(schema_version.insert().values(version=1, name="initial", applied_at=0))
        conn.execute(
            text(
                "INSERT INTO jobs (id, owner_key_id, model, deployment, provider, upstream_model, "
                "request_json, size, seconds, status, progress, created_at, updated_at, "
                "estimated_cost, next_poll_at, attempts) VALUES ('video_old', 'k', 'sora-2', "
                f"'d', 'local', 'preview', '{{}}', '720x1280', '4', 'completed', 100, "
                f"{int(time.time())}, 0, 0.4, 0, 0)"
            )
        )
    assert migrate(engine) == len(MIGRATIONS)
    with engine.connect() as conn:
        priced = conn.execute(text("SELECT priced FROM jobs WHERE id = 'video_old'")).scalar()
    assert priced in (1, True)


def test_python_m_vidgate_gateway_does_not_load_the_cli(tmp_path: Path) -> None:
    path = _write(tmp_path, "general_settings: {mystery: 1}")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vidgate.gateway", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "general_settings.mystery" in result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "vidgate.gateway.app" in imported
    # (click and rich may still arrive through httpx's own optional CLI module.)
    assert not {"typer", "vidgate.cli"} & imported


@pytest.mark.parametrize(
    ("master_key", "client", "server", "status"),
    [
        (None, "203.0.113.5", "192.0.2.10", 403),
        ("sk-1234", "203.0.113.5", "192.0.2.10", 403),
        (None, "127.0.0.1", "192.0.2.10", 403),  # arrived on a public address
        (None, "127.0.0.1", "127.0.0.1", 200),
        ("sk-" + "x" * 40, "203.0.113.5", "192.0.2.10", 200),
    ],
)
async def test_the_app_itself_answers_only_loopback_without_a_strong_master_key(
    master_key: str | None, client: str, server: str, status: int
) -> None:
    """``uvicorn vidgate.gateway:create_app --factory --host 0.0.0.0`` never runs the CLI's
    check: the app refuses such requests itself."""
    import httpx

    from vidgate.gateway import Settings, create_app

    app = create_app(Settings.model_validate({"general_settings": {"master_key": master_key}}))
    transport = httpx.ASGITransport(app=app, client=(client, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{server}") as http:
        reply = await http.get("/openapi.json")
    assert reply.status_code == status, reply.text
    if status == 403:
        assert reply.json()["error"]["code"] == "loopback_only"
