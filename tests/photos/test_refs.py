"""Media ids as clients write them: `<media>_<user>`, bare ids, and permalink shortcodes."""

import pytest
from django.conf import settings

from instagram.errors import APINotFoundError
from photos.refs import media_id_from_ref, media_id_from_shortcode, media_ref, owner_hint, shortcode
from sharding.ids import SEQUENCE_BITS

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`


def test_shortcodes_are_instagrams() -> None:
    assert shortcode(22097367) == "BUS3X"
    # Instagram's example id names logical shard 5195, which this deployment lacks.
    with pytest.raises(APINotFoundError):
        media_id_from_shortcode("BUS3X")


@pytest.mark.parametrize("media_id", [1, 63, 64, 4206275457278066688, 2**63 - 1 - (8191 << SEQUENCE_BITS)])
def test_shortcodes_round_trip(media_id: int) -> None:
    code = shortcode(media_id)
    assert len(code) <= 11
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert media_id_from_shortcode(code) == media_id


def test_v1_ids_and_bare_ids_name_the_same_media() -> None:
    ref = media_ref(media_id=4206275457278066688, user_id=880)
    assert ref == "4206275457278066688_880"
    assert media_id_from_ref(ref) == media_id_from_ref("4206275457278066688") == 4206275457278066688


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "abc",
        "0",
        "-1",
        "12_x",
        "1_2_3",
        "9" * 20,
        str(2**63),
        "٣",
        str(settings.LOGICAL_SHARDS << SEQUENCE_BITS),
    ],
)
def test_impossible_ids_are_not_found(ref: str) -> None:
    with pytest.raises(APINotFoundError):
        media_id_from_ref(ref)


@pytest.mark.parametrize("code", ["", "zzzzzzzzzzzz", "BUS3X!", "BUS 3X", "é", "_" * 11])
def test_impossible_shortcodes_are_not_found(code: str) -> None:
    with pytest.raises(APINotFoundError):
        media_id_from_shortcode(code)


def test_the_owner_hint_is_a_user_id_or_nothing() -> None:
    assert owner_hint("4206275457278066688_1234") == 1234
    bad = ("4206275457278066688", "4206275457278066688_", "1_x", "1_0", "1_-5", "1_" + "9" * 19, "1_1_2")
    for ref in bad:
        assert owner_hint(ref) is None, ref
