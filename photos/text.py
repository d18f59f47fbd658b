"""Hashtags and @mentions in captions and comments, in every script.

One scanner reads the text, so `hashtags`, `mentions` and the permalink
page's `split_entities` always agree on what is a tag. The rules, and why:

- A hashtag is `#` (or the fullwidth U+FF03 Japanese keyboards type) and
  a run of word characters: letters and digits of any script, `_`, and the
  combining marks (Unicode Mn and Mc) that Devanagari, Thai, Arabic
  vowelling and decomposed accents need, so `#नमस्ते` is one tag, not
  `#नमस`. Python's `\\w` alone stops at the virama. A mark cannot begin a
  tag, and the joiners ZWNJ/ZWJ (Persian, Indic scripts) count only between
  two word characters. Variation selectors and the keycap mark are not word
  characters, so emoji end a tag (`#sunset🌅` is `sunset`) and the keycap
  emoji `#️⃣` is not a tag.
- The `#` must not follow a word character (`C#`, `a#b`, URL fragments such
  as `page#top`) nor `&` (`&#39;`, an HTML entity), except directly after
  another hashtag: `#love#instagood` is two tags, as Instagram links it.
- A tag needs at least one letter or mark: `#2011` and `#1` are not tags
  ("issue #1" names no topic; Instagram does not link them either), `#1st`
  and `#2011vibes` are. Its name is at most MAX_TAG_LENGTH characters once
  normalized; a longer run is left as text rather than cut into a tag the
  author did not write.
- Tag names are NFKC then case-folded, the normalization Unicode recommends
  for caseless identifiers: `#CAFÉ`, `#café` and `#cafe` + U+0301 (NFKC
  composes it) are one tag, fullwidth `#test` is `test`, `#STRASSE` and
  `#straße` are `strasse`. Accents are not stripped: `#cafe` and `#café`
  stay two tags, as they are two words. A run whose normalized form is not
  a valid name (`#½` becomes 1, U+2044 FRACTION SLASH, 2) is not a tag, so
  every tag found round-trips through `normalize_tag`.
- A mention is `@` (or U+FF20) and a username by the rules of users.models
  (1 to 30 ASCII letters, digits, `.` and `_`), lower-cased since usernames
  are unique whatever their case. It must not follow a word character
  (`kevin@instagram.com` is an address) and trailing periods end the
  sentence, not the name (`thanks @kevin.`). A run followed by a letter of
  another script or another `@` (`@josé`, `@a@b.com`), or longer than 30,
  names no account and stays text.
"""

import re
import string
import unicodedata
from collections.abc import Iterator
from typing import Literal

MAX_CAPTION = 2200  # characters, as Instagram
MAX_TAGS = 30  # hashtags per caption or comment, as Instagram; the caller refuses more
MAX_TAG_LENGTH = 100
MAX_USERNAME_LENGTH = 30

EntityKind = Literal["text", "tag", "mention"]

_TAG_SIGILS = frozenset("#\uff03")  # and FULLWIDTH NUMBER SIGN
_MENTION_SIGILS = frozenset("@\uff20")  # and FULLWIDTH COMMERCIAL AT
_SIGIL = re.compile("[#\uff03@\uff20]")
_JOINERS = frozenset("\u200c\u200d")
_USERNAME_CHARS = frozenset(string.ascii_letters + string.digits + "._")  # users.models.USERNAME_RE


def _is_mark(ch: str) -> bool:
    """Say whether `ch` is a combining mark that belongs inside a word (not a variation selector)."""
    if unicodedata.category(ch) not in ("Mn", "Mc"):
        return False
    code = ord(ch)
    return not (0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or _is_mark(ch)


def _tag_run_end(text: str, start: int) -> int:
    """Return where the run of tag characters starting at `start` ends (`start` if there is none)."""
    if start >= len(text) or not (text[start].isalnum() or text[start] == "_"):
        return start
    end = start + 1
    while end < len(text):
        ch = text[end]
        if _is_word_char(ch):
            end += 1
        elif ch in _JOINERS and end + 1 < len(text) and _is_word_char(text[end + 1]):
            end += 2
        else:
            break
    return end


def fold_tag(text: str) -> str:
    """Normalize `text` the way tag names are (NFKC, case-fold, NFKC again), without validating it.

    For prefix search, where `20` must still find `2011vibes`. NFKC is
    applied again after case folding because folding can undo it (Unicode's
    NFKC_Casefold is idempotent; this makes ours so too).
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _is_tag_name(name: str) -> bool:
    """Say whether an already normalized `name` is a tag name."""
    return (
        0 < len(name) <= MAX_TAG_LENGTH
        and _tag_run_end(name, 0) == len(name)
        and any(ch.isalpha() or _is_mark(ch) for ch in name)
    )


def normalize_tag(name: str) -> str:
    """Return the stored spelling of the tag `name` (given without `#`); raise ValueError if it is none."""
    folded = fold_tag(name)
    if not _is_tag_name(folded):
        raise ValueError(
            f"A tag name has 1 to {MAX_TAG_LENGTH} letters, digits or underscores, "
            "at least one of them a letter."
        )
    return folded


def is_valid_tag(name: str) -> bool:
    """Say whether `name` (without `#`) is a tag name in some spelling, i.e. `normalize_tag` accepts it."""
    return _is_tag_name(fold_tag(name))


def _scan(text: str) -> Iterator[tuple[EntityKind, int, int, str]]:
    """Yield each tag and mention as (kind, start, end, normalized value); start..end includes the sigil."""
    after_tag = -1  # where the last hashtag ended: a '#' there starts a chained tag
    position = 0
    while (sigil := _SIGIL.search(text, position)) is not None:
        i = sigil.start()
        position = i + 1
        before = text[i - 1] if i else " "
        free = not (_is_word_char(before) or before == "&")
        if text[i] in _TAG_SIGILS:
            if not (free or i == after_tag):
                continue
            end = _tag_run_end(text, i + 1)
            name = fold_tag(text[i + 1 : end])
            if _is_tag_name(name):
                yield "tag", i, end, name
                after_tag = position = end
        elif free:
            end = i + 1
            while end < len(text) and text[end] in _USERNAME_CHARS:
                end += 1
            follows = text[end] if end < len(text) else " "
            name = text[i + 1 : end].rstrip(".")
            if (
                name
                and len(name) <= MAX_USERNAME_LENGTH
                and not (_is_word_char(follows) or follows in _MENTION_SIGILS)
            ):
                position = i + 1 + len(name)
                yield "mention", i, position, name.lower()


def hashtags(text: str) -> list[str]:
    """Return the normalized names of the hashtags in `text`, each once, in order of first appearance."""
    return list(dict.fromkeys(value for kind, _, _, value in _scan(text) if kind == "tag"))


def mentions(text: str) -> list[str]:
    """Return the lower-cased usernames mentioned in `text`, each once, in order of first appearance."""
    return list(dict.fromkeys(value for kind, _, _, value in _scan(text) if kind == "mention"))


def split_entities(text: str) -> list[tuple[EntityKind, str]]:
    """Cut `text` into ("text" | "tag" | "mention", original text) pieces that join back into `text`.

    A tag or mention piece keeps its sigil and the author's spelling
    (`("tag", "#Café")`, `("mention", "@Kevin")`) for the link label; the
    caller links to `normalize_tag(piece[1:])` or the lower-cased username.
    Adjacent plain text is one piece, and no piece is empty.
    """
    pieces: list[tuple[EntityKind, str]] = []
    position = 0
    for kind, start, end, _ in _scan(text):
        if start > position:
            pieces.append(("text", text[position:start]))
        pieces.append((kind, text[start:end]))
        position = end
    if position < len(text):
        pieces.append(("text", text[position:]))
    return pieces
