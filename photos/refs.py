"""How a media is named outside: `"<media_id>_<user_id>"` ids and base-64 shortcodes.

Instagram's v1 media id was the media's own id, an underscore, and its
owner's id; endpoints accepted that form and the bare media id alike. The
shortcode in a permalink (`/p/BUS3X/`) is the media id written in base 64
with the URL-safe alphabet, most significant digit first: 22097367 -> BUS3X.
"""

from django.conf import settings

from instagram.errors import APINotFoundError
from instagram.parameters import is_digits
from sharding.ids import InvalidIdError, decode_id

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_DIGIT = {char: value for value, char in enumerate(ALPHABET)}
MAX_SHORTCODE = 11  # 2**63 needs 11 base-64 digits


def media_ref(*, media_id: int, user_id: int) -> str:
    """Return the v1 id of a media: `"<media_id>_<user_id>"`."""
    return f"{media_id}_{user_id}"


def media_id_from_ref(ref: str) -> int:
    """Return the media id in `ref` (`"<media_id>_<user_id>"` or the bare id); APINotFoundError if malformed.

    The user part is not trusted: the media id alone names the media, and its
    owner is read from the row.
    """
    head, _, tail = ref.partition("_")
    if not is_digits(head) or len(head) > 19 or (tail and not is_digits(tail)) or not _possible(int(head)):
        raise APINotFoundError(f"No media with id {ref[:40]}.")
    return int(head)


def owner_hint(ref: str) -> int | None:
    """The user id a well-formed `"<media_id>_<user_id>"` ref names, or None.

    Only a hint, never trusted: it lets a page read the owner's profile in the
    same round trip as the card, and the card's own user id decides.
    """
    _, _, tail = ref.partition("_")
    if not is_digits(tail) or len(tail) > 18 or int(tail) < 1:
        return None
    return int(tail)


def _possible(media_id: int) -> bool:
    """Say whether some shard of this deployment could have made `media_id`."""
    try:
        decode_id(media_id, logical_shards=settings.LOGICAL_SHARDS)
    except InvalidIdError:
        return False
    return True


def shortcode(media_id: int) -> str:
    """Return the permalink shortcode of `media_id`."""
    if media_id <= 0:
        raise ValueError("media ids are positive")
    digits = []
    while media_id:
        media_id, digit = divmod(media_id, 64)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def media_id_from_shortcode(code: str) -> int:
    """Return the media id `code` names; APINotFoundError if it cannot be one."""
    if not code or len(code) > MAX_SHORTCODE or any(char not in _DIGIT for char in code):
        raise APINotFoundError(f"No media with shortcode {code[:20]}.")
    value = 0
    for char in code:
        value = value * 64 + _DIGIT[char]
    if not _possible(value):
        raise APINotFoundError(f"No media with shortcode {code[:20]}.")
    return value
