"""WSGI entry point that gunicorn serves."""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instagram.settings")

FORM = "application/x-www-form-urlencoded"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def untyped_bodies_are_forms(app: WSGIApp) -> WSGIApp:
    """Read a request body sent without a Content-Type as a form, as v1 did.

    Clients of the era post their parameters form-encoded and some never say
    so: python-instagram's token exchange (httplib2) sends `client_id=...&...`
    with no Content-Type at all, which Django would leave unparsed.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") in BODY_METHODS
            and not environ.get("CONTENT_TYPE")
            and environ.get("CONTENT_LENGTH", "0") not in ("", "0")
        ):
            environ["CONTENT_TYPE"] = FORM
        return app(environ, start_response)

    return wrapped


application = untyped_bodies_are_forms(get_wsgi_application())
