"""``vidgate create | get | list | download | delete`` on the local engine: real renders,
offline, small jobs (1 s at 720x1280)."""

from __future__ import annotations

import json
from pathlib import Path

from vidgate._ids import decode_video_id
from vidgate.local.store import LocalSettings, LocalStore

from .conftest import SMALL, Cli, probe, video_json, wait_completed


def _fields(stdout: str) -> dict[str, str]:
    """``key  value`` lines of ``create`` / ``get`` as a dict."""
    pairs = (line.split(None, 1) for line in stdout.splitlines() if line.strip())
    return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}


def test_create_waits_and_writes_a_real_mp4(cli: Cli, workdir: Path) -> None:
    result = cli("create", "A red fox in the snow", *SMALL, "--out", "fox.mp4")

    assert result.exit_code == 0, result.output
    fields = _fields(result.stdout)
    assert fields["id"].startswith("video_local.")
    assert fields["status"] == "completed"
    assert fields["model"] == "local/preview"
    assert (fields["size"], fields["seconds"], fields["cost"]) == ("720x1280", "1", "$0.00")
    assert fields["saved"].startswith("fox.mp4 (")
    width, height, duration = probe(workdir / "fox.mp4")
    assert (width, height) == (720, 1280)
    assert abs(duration - 1.0) < 0.1
    # Off a terminal, progress is one stderr line per status, ending at completed.
    assert result.stderr.strip().splitlines()[-1] == "completed 100%"
    assert not list(workdir.glob("*.part"))


def test_create_without_out_saves_to_the_prompt_slug_without_overwriting(
    cli: Cli, workdir: Path
) -> None:
    earlier = workdir / "a-red-fox.mp4"
    earlier.write_bytes(b"an earlier video")

    result = cli("create", "A red fox!", *SMALL)

    assert result.exit_code == 0, result.output
    saved = workdir / "a-red-fox-2.mp4"
    assert _fields(result.stdout)["saved"].startswith("a-red-fox-2.mp4 (")
    assert probe(saved)[:2] == (720, 1280)
    assert earlier.read_bytes() == b"an earlier video"


def test_create_json_prints_only_the_video(cli: Cli, workdir: Path) -> None:
    result = cli("create", "A lighthouse", *SMALL, "--out", "light.mp4", "--json")

    video = video_json(result)  # the whole of stdout is one JSON document
    assert video["object"] == "video"
    assert video["id"].startswith("video_local.")
    assert (video["status"], video["progress"]) == ("completed", 100)
    assert (video["model"], video["size"], video["seconds"]) == ("local/preview", "720x1280", "1")
    assert video["usage"] == {"seconds": 1.0, "cost_usd": 0.0}
    assert video["prompt"] == "A lighthouse"
    assert (workdir / "light.mp4").stat().st_size > 0
    assert "completed 100%" not in result.stderr  # --json: no progress lines off a terminal


def test_no_wait_then_get_then_download_every_variant(cli: Cli, workdir: Path) -> None:
    created = video_json(cli("create", "A windmill", *SMALL, "--no-wait", "--json"))
    assert created["status"] in ("queued", "in_progress")
    video_id = created["id"]

    done = wait_completed(cli, video_id)
    assert done["id"] == video_id and done["completed_at"] is not None

    shown = cli("get", video_id)
    assert shown.exit_code == 0, shown.output
    assert _fields(shown.stdout)["status"] == "completed"

    result = cli("download", video_id)
    assert result.exit_code == 0, result.output
    default = workdir / f"{video_id}.mp4"
    assert result.stdout.startswith(f"saved {default.name} (")
    assert probe(default)[:2] == (720, 1280)

    result = cli("download", video_id, "--variant", "thumbnail", "--out", "thumb.webp")
    assert result.exit_code == 0, result.output
    assert (workdir / "thumb.webp").read_bytes()[8:12] == b"WEBP"

    result = cli("download", video_id, "--variant", "spritesheet")
    assert result.exit_code == 0, result.output
    assert (workdir / f"{video_id}.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_list_shows_created_ids_and_pages(cli: Cli) -> None:
    first = video_json(cli("create", "First", *SMALL, "--no-wait", "--json"))["id"]
    second = video_json(cli("create", "Second", *SMALL, "--no-wait", "--json"))["id"]
    try:
        table = cli("list")
        assert table.exit_code == 0, table.output
        assert first in table.stdout and second in table.stdout
        assert table.stdout.index(second) < table.stdout.index(first)  # newest first

        page = json.loads(cli("list", "--json").stdout)
        assert [v["id"] for v in page["data"]] == [second, first]

        oldest = cli("list", "--limit", "1", "--order", "asc")
        assert oldest.exit_code == 0, oldest.output
        assert first in oldest.stdout and second not in oldest.stdout
        assert f"vidgate list --after {first}" in oldest.stderr

        rest = json.loads(cli("list", "--after", first, "--order", "asc", "--json").stdout)
        assert [v["id"] for v in rest["data"]] == [second]
    finally:
        for video_id in (first, second):
            cli("delete", video_id)


def test_delete_then_get_is_a_one_line_error(cli: Cli) -> None:
    from .conftest import assert_one_error_line

    video_id = video_json(cli("create", "Short lived", *SMALL, "--no-wait", "--json"))["id"]

    deleted = cli("delete", video_id)
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.strip() == f"deleted {video_id}"

    assert_one_error_line(cli("get", video_id), exit_code=1, contains="No video found")
    assert video_id not in cli("list").stdout


def test_seed_and_input_reference_reach_the_job(cli: Cli, workdir: Path) -> None:
    png = workdir / "start.png"
    png.write_bytes(_tiny_png())

    created = video_json(
        cli(
            "create", "From a picture", *SMALL, "-i", str(png), "--seed", "7", "--no-wait", "--json"
        )
    )
    try:
        job = _store().read_job(decode_video_id(created["id"]).upstream_id)
        assert job is not None and job["seed"] == 7
        assert (_store().job_dir(job["id"]) / "reference.bin").read_bytes() == png.read_bytes()
    finally:
        cli("delete", created["id"])


def _tiny_png() -> bytes:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (8).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 8x8 RGB
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80\x20\x20" * 8 for _ in range(8)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _store() -> LocalStore:
    """The local engine's jobs where the SDK keeps them (this test's ``VIDGATE_HOME``)."""
    return LocalStore(LocalSettings.from_env().root)
