"""A small v1 API client for tests: accounts made through the real sign-up endpoint."""

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import requests


def new_username(prefix: str = "u") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Account:
    """A signed-up user and their token, calling the API through nginx."""

    base: str
    http: requests.Session
    token: str
    id: str
    username: str

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(
            f"{self.base}/v1/{path}", params={"access_token": self.token, **params}, timeout=15
        )

    def post(self, path: str, **data: Any) -> requests.Response:
        return self.http.post(
            f"{self.base}/v1/{path}", params={"access_token": self.token}, data=data, timeout=15
        )

    def delete(self, path: str) -> requests.Response:
        return self.http.delete(f"{self.base}/v1/{path}", params={"access_token": self.token}, timeout=15)

    def upload(
        self, photo: bytes | None, *, filename: str = "photo.jpg", key: str | None = None, **fields: Any
    ) -> requests.Response:
        """POST /v1/media/upload as the app does: multipart, `photo`, `key` sent as Idempotency-Key."""
        files = {"photo": (filename, photo, "image/jpeg")} if photo is not None else {"none": ("", b"")}
        return self.http.post(
            f"{self.base}/v1/media/upload",
            params={"access_token": self.token},
            data=fields,
            files=files,
            headers={"Idempotency-Key": key} if key else {},
            timeout=60,
        )

    def set_profile_picture(self, photo: bytes | None, *, filename: str = "me.jpg") -> requests.Response:
        """POST /v1/accounts/profile_picture as the app does: multipart, the picture in `photo`."""
        files = {"photo": (filename, photo, "image/jpeg")} if photo is not None else {"none": ("", b"")}
        return self.http.post(
            f"{self.base}/v1/accounts/profile_picture",
            params={"access_token": self.token},
            files=files,
            timeout=60,
        )

    def upload_video(
        self, video: bytes | None, *, filename: str = "clip.mp4", key: str | None = None, **fields: Any
    ) -> requests.Response:
        """POST /v1/media/upload/video as the app would: multipart, the clip in `video`."""
        files = {"video": (filename, video, "video/mp4")} if video is not None else {"none": ("", b"")}
        return self.http.post(
            f"{self.base}/v1/media/upload/video",
            params={"access_token": self.token},
            data=fields,
            files=files,
            headers={"Idempotency-Key": key} if key else {},
            timeout=90,
        )

    def post_photo(self, photo: bytes, **fields: Any) -> dict[str, Any]:
        """Upload `photo` and return the new media object, failing on anything but 201."""
        response = self.upload(photo, **fields)
        assert response.status_code == 201, response.text
        media: dict[str, Any] = response.json()["data"]
        return media

    def data(self, path: str, **params: Any) -> Any:
        """GET `path` and return its envelope's data, failing on anything but 200."""
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def with_token(self, *, scope: str, application: Any = None) -> "Account":
        """The same user calling with a new token of `scope` (for `application`, default the mobile app's)."""
        from django.conf import settings
        from django.utils import timezone
        from oauth2_provider.models import AccessToken, Application

        from oauth.tokens import v1_access_token
        from users.models import User

        app = application or Application.objects.get(client_id=settings.MOBILE_CLIENT_ID)
        token = AccessToken.objects.create(
            user=User.objects.get(id=int(self.id)),
            application=app,
            token=v1_access_token(user_id=int(self.id), client_id=app.client_id),
            expires=timezone.now() + timedelta(hours=1),
            scope=scope,
        )
        return replace(self, token=token.token)

    def act(self, other: "Account", action: str) -> dict[str, Any]:
        """POST a relationship action on `other`; return the new relationship."""
        response = self.post(f"users/{other.id}/relationship", action=action)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["data"]
        return result


def sign_up(base: str, http: requests.Session, *, prefix: str = "u", **fields: str) -> Account:
    username = new_username(prefix)
    response = http.post(
        f"{base}/v1/accounts/signup",
        data={"username": username, "password": "kodachrome-64", **fields},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return Account(base=base, http=http, token=data["access_token"], id=data["user"]["id"], username=username)


def error(response: requests.Response) -> tuple[int, str]:
    """Return (HTTP status, v1 error_type) of an enveloped error, checking the envelope agrees."""
    meta = response.json()["meta"]
    assert meta["code"] == response.status_code, response.text
    return response.status_code, str(meta["error_type"])
