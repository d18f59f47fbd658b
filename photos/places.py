"""Locations named by other services' place ids: foursquare (v1 and v2 venues) and Facebook Places.

v1 let a client that knew a place from foursquare or Facebook find
Instagram's location for it (`/v1/locations/search?foursquare_v2_id=...`),
and the mobile app tagged a photo with the venue it picked. One parser for
the three parameters, used by the search and by the upload, so both refuse
the same bad values with the same message.
"""

from django.core.exceptions import ValidationError
from django.db.models import Q

from instagram.errors import APIInvalidParametersError
from photos.models import EXTERNAL_IDS, Location


def external_ids(values: dict[str, str]) -> dict[str, str]:
    """Return the external place ids among `values`, validated; raise naming the first bad one.

    foursquare v2 ids are hexadecimal and compared in lower case, as
    foursquare prints them.
    """
    found: dict[str, str] = {}
    for name, validator in EXTERNAL_IDS.items():
        raw = values.get(name, "").strip()
        if not raw:
            continue
        value = raw.lower() if name == "foursquare_v2_id" else raw
        try:
            validator(value)
        except ValidationError as exc:
            raise APIInvalidParametersError(f"{name}: {exc.messages[0]}") from None
        found[name] = value
    return found


def locations_with(ids: dict[str, str]) -> list[Location]:
    """Return the locations carrying every one of `ids` (at most one: each id names one place)."""
    if not ids:
        return []
    return list(Location.objects.filter(**ids).order_by("id"))


def locations_with_any(ids: dict[str, str]) -> list[Location]:
    """Return the locations carrying any of `ids` (more than one: the ids disagree)."""
    if not ids:
        return []
    anyone = Q()
    for name, value in ids.items():
        anyone |= Q(**{name: value})
    return list(Location.objects.filter(anyone).order_by("id"))
