"""The admin's accounts pages through nginx: a user's photos and comments, a comment removed, staff only."""

from typing import Any

import requests
from django.contrib.admin.models import LogEntry

from tests.conftest import Stack
from tests.moderation.conftest import AdminSession
from tests.photos.images import jpeg


def test_an_operator_sees_and_removes_a_comment(signup: Any, admin: AdminSession) -> None:
    owner, troll = signup("owner"), signup("troll")
    media = owner.post_photo(jpeg(200, 200), caption="Orchard")
    media_id = media["id"].partition("_")[0]
    kept = troll.post(f"media/{media['id']}/comments", text="Copper tones").json()["data"]["id"]
    rude = troll.post(f"media/{media['id']}/comments", text="Falcon insult").json()["data"]["id"]

    owner.post(f"media/{media['id']}/comments/{rude}/report", reason="harassment", text="Summit of rudeness")
    assert (
        "Summit of rudeness" in admin.get(f"/users/user/{troll.id}/content/").text
    )  # the author's open reports

    page = admin.get(f"/users/user/{owner.id}/content/").text
    assert f'id="media-{media_id}"' in page
    assert "Orchard" in page
    assert "Copper tones" in page
    assert "Falcon insult" in page
    done = admin.post(f"/users/user/{owner.id}/content/", media=media_id, comment=rude)
    assert f"Removed comment {rude} on photo {media_id}." in done.text
    assert f'id="comment-{rude}"' not in done.text
    assert f'id="comment-{kept}"' in done.text
    shown = owner.data(f"media/{media['id']}")
    assert shown["comments"]["count"] == 2  # the caption, the owner's first comment (v1), and kept
    assert [c["id"] for c in shown["comments"]["data"]] == [media["caption"]["id"], kept]

    history = LogEntry.objects.filter(object_id=owner.id, user_id=int(admin.account.id))
    assert [entry.change_message for entry in history] == [f"Removed comment {rude} on photo {media_id}."]

    again = admin.post(f"/users/user/{owner.id}/content/", media=media_id, comment=rude)
    assert f"No comment with id {rude}." in again.text
    assert admin.get(f"/users/user/{owner.id}/change/").status_code == 200


def test_the_pages_are_for_staff_only(healthy_stack: Stack, signup: Any) -> None:
    owner = signup("owner")
    outsider = requests.Session()
    answer = outsider.get(
        f"{healthy_stack.api}/admin/users/user/{owner.id}/content/", allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/admin/login/")
