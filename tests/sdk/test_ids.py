"""Model ids and SDK video ids are parsed in one place (``vidgate._ids``)."""

from __future__ import annotations

import pytest

from vidgate import BadRequestError
from vidgate._ids import decode_video_id, encode_video_id, parse_model


def test_bare_names_are_openai() -> None:
    ref = parse_model("sora-2")
    assert (ref.provider, ref.model, ref.public) == ("openai", "sora-2", "sora-2")


def test_provider_prefix_is_split_on_the_first_slash() -> None:
    ref = parse_model("local/preview")
    assert (ref.provider, ref.model, ref.public) == ("local", "preview", "local/preview")
    nested = parse_model("openai/local/preview")
    assert (nested.provider, nested.model) == ("openai", "local/preview")


@pytest.mark.parametrize("bad", ["", "   ", "runwy/gen4", "local/"])
def test_bad_model_ids_are_clear_errors(bad: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_model(bad)
    assert info.value.param == "model"


def test_openai_ids_pass_through_unchanged() -> None:
    assert encode_video_id("openai", "sora-2", "video_abc123") == "video_abc123"
    ref = decode_video_id("video_abc123")
    assert (ref.provider, ref.model, ref.upstream_id) == ("openai", "", "video_abc123")


def test_other_providers_round_trip() -> None:
    upstream = "task/with:odd-chars_and.dots"
    encoded = encode_video_id("local", "preview", upstream)
    assert encoded.startswith("video_local.")
    ref = decode_video_id(encoded)
    assert (ref.provider, ref.model, ref.upstream_id) == ("local", "preview", upstream)
    assert (ref.size, ref.seconds) == ("", "")
    shaped = decode_video_id(
        encode_video_id("local", "gen4_turbo", "t-1", size="1280x720", seconds="5")
    )
    assert (shaped.model, shaped.upstream_id, shaped.size, shaped.seconds) == (
        "gen4_turbo",
        "t-1",
        "1280x720",
        "5",
    )


@pytest.mark.parametrize(
    "bad",
    ["", "video_local.!!!", "video_local.AAAA", "video_nope.cHJldmlldwB4", "a/b", "x" * 300],
)
def test_malformed_ids_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequestError) as info:
        decode_video_id(bad)
    assert info.value.param == "video_id"
