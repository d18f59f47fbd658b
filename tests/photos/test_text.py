"""Hashtags and mentions: every script, normalized once, and split back into the exact text."""

# Fullwidth and Arabic letters that look like ASCII ones are what these tests are about.
# ruff: noqa: RUF001, RUF003

import pytest

from photos.text import (
    MAX_TAG_LENGTH,
    fold_tag,
    hashtags,
    is_valid_tag,
    mentions,
    normalize_tag,
    split_entities,
)

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`


def test_latin_tags_in_order_without_the_sign() -> None:
    assert hashtags("Golden hour #Sunset at #venice_beach, #nofilter") == [
        "sunset",
        "venice_beach",
        "nofilter",
    ]


def test_accented_spellings_are_one_tag_but_accents_are_kept() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert hashtags(f"#{composed} #CAFÉ #{decomposed}") == ["café"]
    assert hashtags(f"#{composed} #cafe") == ["café", "cafe"]
    assert normalize_tag(decomposed) == normalize_tag("CAFÉ") == composed
    assert hashtags("#STRASSE #straße") == ["strasse"]


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("夕焼け #東京 きれい", "東京"),
        ("#東京タワー", "東京タワー"),
        ("صباح #مرحبا", "مرحبا"),
        ("#नमस्ते दोस्तों", "नमस्ते"),  # virama and vowel signs are marks, not word ends
        ("#สวัสดี", "สวัสดี"),  # Thai vowel and tone marks
        ("#ｔｅｓｔ", "test"),  # fullwidth letters, NFKC
        ("＃ｔｅｓｔ", "test"),  # and the fullwidth sign a Japanese keyboard types
        ("#می\u200cخواهم", "می\u200cخواهم"),  # Persian's zero-width non-joiner inside a word
        ("#Ⅻ", "xii"),
    ],
)
def test_tags_in_other_scripts_are_whole_words(text: str, tag: str) -> None:
    assert hashtags(text) == [tag]


def test_emoji_and_punctuation_end_a_tag() -> None:
    assert hashtags("#sunset🌅 #love❤️ #beach! #la, #nyc. #sf? (#bayarea) #a-b") == [
        "sunset",
        "love",
        "beach",
        "la",
        "nyc",
        "sf",
        "bayarea",
        "a",
    ]
    assert hashtags("#tag\u200d👍") == ["tag"]  # an emoji's joiner is not part of the tag


def test_a_mark_or_emoji_keycap_does_not_start_a_tag() -> None:
    assert hashtags("#\ufe0f\u20e3 #\u0301abc") == []


def test_tags_need_a_word_start_and_a_letter() -> None:
    assert hashtags("C# and F# a#b x&#39;s &#x27;") == []
    assert hashtags("issue #1, class of #2011, #___") == []
    assert hashtags("#1st #2011vibes #_x") == ["1st", "2011vibes", "_x"]


def test_chained_tags_are_each_a_tag() -> None:
    assert hashtags("#love#instagood#photooftheday") == ["love", "instagood", "photooftheday"]
    assert hashtags("##double") == ["double"]


def test_duplicates_count_once_in_first_order() -> None:
    assert hashtags("#b #a #B #A #b") == ["b", "a"]


def test_overlong_runs_are_not_tags() -> None:
    assert hashtags("#" + "a" * MAX_TAG_LENGTH) == ["a" * MAX_TAG_LENGTH]
    assert hashtags("#" + "a" * (MAX_TAG_LENGTH + 1)) == []


def test_a_run_whose_normal_form_is_no_tag_name_is_text() -> None:
    assert hashtags("#½") == []  # NFKC makes it 1⁄2
    assert split_entities("#½") == [("text", "#½")]


def test_normalize_tag_and_is_valid_tag() -> None:
    assert normalize_tag("Sunset") == "sunset"
    assert normalize_tag("ｔｅｓｔ") == "test"
    for bad in ["", "#sunset", "sun set", "2011", "a" * 101, "½", "\u0301a"]:
        assert not is_valid_tag(bad)
        with pytest.raises(ValueError, match="letters, digits or underscores"):
            normalize_tag(bad)
    assert fold_tag("2011") == "2011"  # prefix search folds without validating


def test_every_extracted_tag_round_trips_through_normalize_tag() -> None:
    text = "#CAFÉ #cafe\u0301 #ＴＥＳＴ #नमस्ते #İstanbul #ﬁsh #Ⅻ #東京"
    for tag in hashtags(text):
        assert normalize_tag(tag) == tag


def test_mentions_are_lower_cased_usernames() -> None:
    assert mentions("with @Kevin and @mike_krieger. cc @kevin, @ig.team") == [
        "kevin",
        "mike_krieger",
        "ig.team",
    ]


def test_mentions_not_in_addresses_or_longer_names() -> None:
    assert mentions("mail kevin@instagram.com or a@b") == []
    assert mentions("@josé @a@b.com") == []
    assert mentions("@" + "a" * 30) == ["a" * 30]
    assert mentions("@" + "a" * 31) == []
    assert mentions("@... @_") == ["_"]


def test_trailing_periods_end_the_sentence_not_the_name() -> None:
    assert split_entities("thanks @kevin...") == [("text", "thanks "), ("mention", "@kevin"), ("text", "...")]


def test_split_entities_marks_tags_and_mentions_with_their_spelling() -> None:
    assert split_entities("#Sunset with @Kevin🌅 C# #2011") == [
        ("tag", "#Sunset"),
        ("text", " with "),
        ("mention", "@Kevin"),
        ("text", "🌅 C# #2011"),
    ]
    assert split_entities("") == []
    assert split_entities("plain") == [("text", "plain")]


@pytest.mark.parametrize(
    "text",
    [
        "Golden hour #Sunset🌅 with @Kevin. at #東京#タワー! kevin@instagram.com C# &#39;",
        "#नमस्ते @a.b. #cafe\u0301 ＃ｔｅｓｔ ＠Mike #½ ##x #\ufe0f\u20e3 \u200d#tag\u200d",
        "@@@###",
        "",
    ],
)
def test_split_entities_joins_back_into_the_text(text: str) -> None:
    pieces = split_entities(text)
    assert "".join(piece for _, piece in pieces) == text
    assert all(piece for _, piece in pieces)
    assert [normalize_tag(piece[1:]) for kind, piece in pieces if kind == "tag"] == [
        tag for kind, piece in pieces if kind == "tag" for tag in hashtags(piece)
    ]
    assert [piece[1:].lower() for kind, piece in pieces if kind == "mention"] == [
        m for kind, piece in pieces if kind == "mention" for m in mentions(piece)
    ]
