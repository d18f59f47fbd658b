"""What a shared photo says: the tweet (caption trimmed to fit, then the permalink), the Facebook message."""

import unicodedata

from sharing.clients import ELLIPSIS, TWEET_LENGTH, Post, facebook_message, tweet_text

LINK = "http://localhost:8000/p/BUS3X/"


def post(caption: str) -> Post:
    return Post(caption=caption, link=LINK, image_url="http://localhost:8001/m/x/standard_resolution.jpg")


def test_a_short_caption_is_kept_whole_before_the_link() -> None:
    assert tweet_text(post("Pier at dusk #sf")) == f"Pier at dusk #sf {LINK}"


def test_no_caption_is_the_link_alone() -> None:
    assert tweet_text(post("")) == LINK
    assert tweet_text(post("  \n ")) == LINK


def test_a_long_caption_is_trimmed_on_a_word_to_fit_140_characters() -> None:
    text = tweet_text(post("golden gate " * 30))
    assert len(text) <= TWEET_LENGTH
    caption, _, link = text.rpartition(" ")
    assert link == LINK
    assert caption.endswith((f"gate{ELLIPSIS}", f"golden{ELLIPSIS}"))


def test_one_long_word_is_cut_where_it_must_be() -> None:
    text = tweet_text(post("a" * 500))
    assert len(text) == TWEET_LENGTH
    assert text == "a" * (TWEET_LENGTH - len(LINK) - 2) + f"{ELLIPSIS} {LINK}"


def test_a_caption_that_just_fits_is_not_trimmed() -> None:
    caption = "b" * (TWEET_LENGTH - len(LINK) - 1)
    assert tweet_text(post(caption)) == f"{caption} {LINK}"
    assert ELLIPSIS not in tweet_text(post(caption))


def test_characters_are_counted_as_twitter_counts_them() -> None:
    # "é" sent as e + combining accent is one character once NFC-normalized, as Twitter counts it.
    decomposed = unicodedata.normalize("NFD", "é") * (TWEET_LENGTH - len(LINK) - 1)
    text = tweet_text(post(decomposed))
    assert ELLIPSIS not in text
    assert len(text) == TWEET_LENGTH
    # Line breaks and runs of spaces fold into one space, as a tweet shows them.
    assert tweet_text(post("one\n\ntwo   three")) == f"one two three {LINK}"


def test_facebook_gets_the_whole_caption_and_the_link() -> None:
    caption = "golden gate " * 30
    assert facebook_message(post(caption)) == f"{caption}\n{LINK}"
    assert facebook_message(post("")) == LINK
