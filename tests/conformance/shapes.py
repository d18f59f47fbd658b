"""The objects of Instagram's API v1 as its documentation (2011-2015) printed them.

Written from the published endpoint pages (instagram.com/developer/endpoints/...)
and from what the client libraries of the era read (python-instagram's
`models.py`, instagram-node's callbacks), not from our own OpenAPI document:
the point is a second, independent description to hold the server to.

A shape is a type (`str`, `int`, `NUMBER`, `bool`, `NULL`), a dict of exactly
these keys (`Obj`), a list of one shape (`[shape]`), a set of allowed literal
values (`Enum`), or alternatives (`Either`). `check(value, shape)` fails with the
path of the first difference, e.g. `data[0].images.thumbnail.width: expected int`.
"""

import re
from dataclasses import dataclass, field
from typing import Any

NULL = type(None)
NUMBER = (int, float)
DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Obj:
    """A JSON object with exactly `keys` (and, if given, any of `optional`)."""

    keys: dict[str, Any]
    optional: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Either:
    choices: tuple[Any, ...]


@dataclass(frozen=True)
class Enum:
    values: frozenset[Any]


@dataclass(frozen=True)
class Matches:
    """A string matching `pattern` (ids are strings of digits, times epoch seconds)."""

    pattern: re.Pattern[str]


def nullable(shape: Any) -> Either:
    return Either((shape, NULL))


ID = Matches(DIGITS)
EPOCH = Matches(DIGITS)  # "created_time": "1296748524", seconds as a string
MEDIA_ID = Matches(re.compile(r"^[0-9]+_[0-9]+$"))  # "22987123_3": media id and owner id
URL = Matches(re.compile(r"^https?://[^\s]+$"))
# v1 always gave a picture's URL: the user's own, or a default anonymous one.
PICTURE = URL

COUNTS = Obj({"media": int, "follows": int, "followed_by": int})
# GET /users/{id}: the full user.
USER = Obj(
    {
        "id": ID,
        "username": str,
        "full_name": str,
        "profile_picture": PICTURE,
        "bio": str,
        "website": str,
        "counts": COUNTS,
    }
)
# The user inside a media object, a caption, a comment's "from" and the likes list.
SHORT_USER = Obj({"id": ID, "username": str, "full_name": str, "profile_picture": PICTURE})
# follows, followed-by, requested-by and users/search list the documented short
# user; we send the full user (bio, website, counts) there, which the clients of
# the era read the same way (they take the keys they know).
LISTED_USER = Obj(
    {"id": ID, "username": str, "full_name": str, "profile_picture": PICTURE},
    optional={"bio": str, "website": str, "counts": COUNTS},
)
COMMENT = Obj({"id": ID, "created_time": EPOCH, "text": str, "from": SHORT_USER})
IMAGE = Obj({"url": URL, "width": int, "height": int})
IMAGES = Obj({"low_resolution": IMAGE, "thumbnail": IMAGE, "standard_resolution": IMAGE})
LOCATION = Obj({"id": nullable(ID), "name": str, "latitude": NUMBER, "longitude": NUMBER})
POSITION = Obj({"x": NUMBER, "y": NUMBER})
USER_IN_PHOTO = Obj({"user": SHORT_USER, "position": POSITION})
MEDIA = Obj(
    {
        "id": MEDIA_ID,
        "type": Enum(frozenset({"image", "video"})),
        "created_time": EPOCH,
        "link": URL,
        "filter": str,
        "images": IMAGES,
        "caption": nullable(COMMENT),
        "likes": Obj({"count": int, "data": [SHORT_USER]}),
        "comments": Obj({"count": int, "data": [COMMENT]}),
        "user_has_liked": bool,
        "tags": [str],
        "location": nullable(LOCATION),
        "users_in_photo": [USER_IN_PHOTO],
        "attribution": NULL,
        "user": SHORT_USER,
    },
    optional={"videos": Obj({"low_resolution": IMAGE, "standard_resolution": IMAGE})},
)
# media/search's items: the media and how far they are from the point searched, in meters.
SEARCHED_MEDIA = Obj({**MEDIA.keys, "distance": NUMBER}, optional=MEDIA.optional)
TAG = Obj({"name": str, "media_count": int})
RELATIONSHIP = Obj(
    {
        "outgoing_status": Enum(frozenset({"none", "follows", "requested"})),
        "incoming_status": Enum(frozenset({"none", "followed_by", "requested_by", "blocked_by_you"})),
        "target_user_is_private": bool,
    }
)
SUBSCRIPTION = Obj(
    {
        "id": ID,
        "type": Enum(frozenset({"subscription"})),
        "object": Enum(frozenset({"user", "tag", "location", "geography"})),
        "object_id": nullable(str),
        "aspect": Enum(frozenset({"media"})),
        "callback_url": URL,
    }
)
OK_META = Obj({"code": Enum(frozenset({200}))})
ERROR_META = Obj({"code": int, "error_type": str, "error_message": str})


def envelope(data: Any, *, pagination: Any = None) -> Obj:
    """{"meta": {"code": 200}, "data": ...} and, for lists that page, "pagination".

    A list that does not page (popular, search, requested-by) may still carry
    an empty "pagination": {}, as v1's did on most list answers.
    """
    if pagination is not None:
        return Obj({"meta": OK_META, "data": data, "pagination": pagination})
    optional = {"pagination": Obj({})} if isinstance(data, list) else {}
    return Obj({"meta": OK_META, "data": data}, optional=optional)


def paging(cursor: str) -> Either:
    """v1's pagination: empty on the last page, else next_url and the cursor under its own name."""
    return Either((Obj({}), Obj({"next_url": URL, cursor: str})))


def check(value: Any, shape: Any, path: str = "$") -> None:
    """Fail with the path of the first place where `value` is not of `shape`."""
    if isinstance(shape, Obj):
        assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
        missing = set(shape.keys) - set(value)
        unexpected = set(value) - set(shape.keys) - set(shape.optional)
        assert not missing, f"{path}: missing {sorted(missing)}"
        assert not unexpected, f"{path}: not in v1: {sorted(unexpected)}"
        for key, item in value.items():
            check(item, shape.keys.get(key, shape.optional.get(key)), f"{path}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list), f"{path}: expected a list, got {value!r}"
        for index, item in enumerate(value):
            check(item, shape[0], f"{path}[{index}]")
    elif isinstance(shape, Either):
        failures = []
        for choice in shape.choices:
            try:
                check(value, choice, path)
                return
            except AssertionError as failure:
                failures.append(str(failure))
        raise AssertionError(" / ".join(failures))
    elif isinstance(shape, Enum):
        assert value in shape.values, f"{path}: {value!r} is not one of {sorted(map(str, shape.values))}"
    elif isinstance(shape, Matches):
        assert isinstance(value, str), f"{path}: expected a string, got {value!r}"
        assert shape.pattern.match(value), f"{path}: {value!r} does not match {shape.pattern.pattern}"
    elif shape is NUMBER:
        assert isinstance(value, NUMBER), f"{path}: expected a number, got {value!r}"
        assert not isinstance(value, bool), f"{path}: expected a number, got {value!r}"
    elif shape is int:
        assert isinstance(value, int), f"{path}: expected int, got {value!r}"
        assert not isinstance(value, bool), f"{path}: expected int, got {value!r}"
    else:
        assert isinstance(value, shape), f"{path}: expected {shape.__name__}, got {value!r}"
