"""The account lifecycle through nginx: password change and reset (by mail), e-mail change, deletion."""

import io
import re
import secrets
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command
from oauth2_provider.models import AccessToken

from photos.actions import do_clean_up_media
from photos.models import Media
from photos.storage import s3_client
from sandboxes.records import read
from sharding.routing import shard_for_user
from tests.conftest import Stack, wait_for
from tests.v1 import Account, error, sign_up
from users.models import AccountDeletion, DeletionStep, User

PASSWORD = "kodachrome-64"  # tests.v1.sign_up's


def log_in(stack: Stack, http: requests.Session, username: str, password: str) -> requests.Response:
    return http.post(
        f"{stack.api}/v1/accounts/login", data={"username": username, "password": password}, timeout=10
    )


def token_works(account: Account) -> bool:
    response = account.get("users/self")
    return response.status_code == 200


def igctl(*args: str) -> str:
    out = io.StringIO()
    call_command("igctl", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# ---------------------------------------------------------------- password


def test_change_password_needs_the_old_one_and_ends_every_other_token(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    kevin = signup("kevin")
    other_phone = kevin.with_token(scope="basic likes comments relationships")
    assert error(kevin.post("accounts/password", password="wrong-one", new_password="velvia-50-film")) == (
        400,
        "APIInvalidParametersError",
    )
    weak = kevin.post("accounts/password", password=PASSWORD, new_password="123")
    assert error(weak) == (400, "APIInvalidParametersError")
    assert "new_password" in weak.json()["meta"]["error_message"]
    too_long = kevin.post("accounts/password", password=PASSWORD, new_password="x" * 129)
    assert "at most 128" in too_long.json()["meta"]["error_message"]
    missing = kevin.post("accounts/password", password=PASSWORD)
    assert "new_password" in missing.json()["meta"]["error_message"]
    assert token_works(other_phone), "a refused change must change nothing"

    changed = kevin.post("accounts/password", password=PASSWORD, new_password="velvia-50-film")
    assert changed.json() == {"meta": {"code": 200}, "data": None}
    assert token_works(kevin), "the token that changed the password stays"
    assert error(other_phone.get("users/self")) == (400, "OAuthAccessTokenException")
    assert log_in(healthy_stack, http, kevin.username, PASSWORD).status_code == 400
    assert log_in(healthy_stack, http, kevin.username, "velvia-50-film").status_code == 200


def mails_to(stack: Stack, address: str) -> list[dict[str, Any]]:
    return [mail for mail in read(stack.profile.var / "sandbox", "smtp") if address in mail["rcpt_to"]]


def test_password_reset_by_mail_through_the_smtp_sandbox(
    healthy_stack: Stack, http: requests.Session
) -> None:
    address = f"{secrets.token_hex(6)}@example.com"
    kevin = sign_up(healthy_stack.api, http, prefix="kevin", email=address)
    url = f"{healthy_stack.api}/v1/accounts/password/reset"
    unknown = http.post(url, data={"login": f"nobody-{secrets.token_hex(6)}@example.com"}, timeout=10)
    known = http.post(url, data={"login": address.upper()}, timeout=10)
    assert unknown.status_code == known.status_code == 200
    assert unknown.json() == known.json() == {"meta": {"code": 200}, "data": None}
    assert error(http.post(url, data={}, timeout=10)) == (400, "APIInvalidParametersError")

    # Through a worker: one an earlier test just restarted may take a while to take the job.
    (mail,) = wait_for(lambda: mails_to(healthy_stack, address) or None, timeout=45)
    assert mail["subject"] == "Reset your Instagram password"
    assert kevin.username in mail["text"]
    uid = re.search(r"uid: (\d+)", mail["text"]).group(1)  # type: ignore[union-attr]
    token = re.search(r"token: (\S+)", mail["text"]).group(1)  # type: ignore[union-attr]
    assert uid == kevin.id

    confirm = f"{healthy_stack.api}/v1/accounts/password/reset/confirm"
    forged = http.post(
        confirm, data={"uid": uid, "token": "c0ffee-123", "new_password": "velvia-50"}, timeout=10
    )
    assert error(forged) == (400, "APIInvalidParametersError")
    weak = http.post(confirm, data={"uid": uid, "token": token, "new_password": "123"}, timeout=10)
    assert error(weak) == (400, "APIInvalidParametersError")
    assert token_works(kevin), "a refused reset changes nothing"

    done = http.post(confirm, data={"uid": uid, "token": token, "new_password": "velvia-50-film"}, timeout=10)
    assert done.json() == {"meta": {"code": 200}, "data": None}
    assert error(kevin.get("users/self")) == (400, "OAuthAccessTokenException")
    assert log_in(healthy_stack, http, kevin.username, "velvia-50-film").status_code == 200
    again = http.post(confirm, data={"uid": uid, "token": token, "new_password": "provia-100f"}, timeout=10)
    assert error(again) == (400, "APIInvalidParametersError"), "a reset token works once"


def test_change_email_needs_the_password_and_a_valid_address(signup: Any) -> None:
    kevin = signup("kevin")
    before = User.objects.get(id=int(kevin.id)).email
    for password, email, named in (
        ("wrong-one", "kevin@example.com", "password"),
        (PASSWORD, "not an address", "email"),
        (PASSWORD, "kevin@" + "x" * 260 + ".com", "email"),
    ):
        refused = kevin.post("accounts/email", password=password, email=email)
        assert error(refused) == (400, "APIInvalidParametersError")
        assert named in refused.json()["meta"]["error_message"]
    assert User.objects.get(id=int(kevin.id)).email == before
    changed = kevin.post("accounts/email", password=PASSWORD, email="kevin@EXAMPLE.com")
    assert changed.json() == {"meta": {"code": 200}, "data": {"email": "kevin@example.com"}}
    assert User.objects.get(id=int(kevin.id)).email == "kevin@example.com"


# ---------------------------------------------------------------- deletion


def build_a_life(signup: Any) -> dict[str, Any]:
    """Kevin posts, likes, comments, follows, is followed, blocks, mentions, registers a phone."""
    kevin, bob, carol, dave = signup("kevin"), signup("bob"), signup("carol"), signup("dave")
    from tests.photos.images import jpeg

    tag = f"gone{kevin.id}"
    mine = kevin.post_photo(
        jpeg(), caption=f"#{tag} with @{carol.username}", lat="37.77", lng="-122.41", location_name="Pier 39"
    )
    second = kevin.post_photo(jpeg(200, 200), caption="second")
    theirs = carol.post_photo(jpeg(), caption="carol's")
    bob.act(kevin, "follow")
    kevin.act(carol, "follow")
    kevin.act(dave, "block")
    assert bob.post(f"media/{mine['id']}/likes").status_code == 200
    assert bob.post(f"media/{mine['id']}/comments", text="nice").status_code == 200
    assert kevin.post(f"media/{theirs['id']}/likes").status_code == 200
    assert kevin.post(f"media/{theirs['id']}/comments", text=f"hi @{carol.username}").status_code == 200
    assert kevin.post("users/self/devices", token="a1" + secrets.token_hex(31)).status_code == 201
    wait_for(lambda: {mine["id"], second["id"]} <= {m["id"] for m in bob.data("users/self/feed")} or None)
    wait_for(lambda: any(e["user"]["id"] == kevin.id for e in carol.data("users/self/news/you")) or None)
    return {
        "kevin": kevin,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "tag": tag,
        "media": [mine, second],
        "theirs": theirs,
    }


def object_keys(media: list[dict[str, Any]]) -> list[str]:
    return [image["url"].split("/", 3)[3] for item in media for image in item["images"].values()]


def object_exists(key: str) -> bool:
    from django.conf import settings

    try:
        s3_client().head_object(Bucket=settings.S3_BUCKET, Key=key)
    except s3_client().exceptions.ClientError:
        return False
    return True


def deletion_step(user_id: str) -> str | None:
    record = AccountDeletion.objects.filter(user_id=int(user_id)).first()
    return None if record is None else record.step


def assert_all_gone(life: dict[str, Any], http: requests.Session, stack: Stack) -> None:
    kevin, bob, carol = life["kevin"], life["bob"], life["carol"]
    assert igctl("accounts", "verify-deleted", kevin.id).strip().endswith("nothing left")
    theirs = carol.data(f"media/{life['theirs']['id']}")
    assert theirs["likes"]["count"] == 0
    assert [c["from"]["id"] for c in theirs["comments"]["data"]] == [carol.id]  # her caption alone
    assert theirs["comments"]["count"] == 1
    assert carol.data("users/self")["counts"] == {"media": 1, "follows": 0, "followed_by": 0}
    assert bob.data("users/self")["counts"]["follows"] == 0
    assert life["dave"].data("users/self")["counts"] == {"media": 0, "follows": 0, "followed_by": 0}
    assert not {m["id"] for m in life["media"]} & {m["id"] for m in bob.data("users/self/feed")}
    assert [e for e in carol.data("users/self/news/you") if e["user"]["id"] == kevin.id] == []
    assert bob.data(f"tags/{life['tag']}")["media_count"] == 0
    for key in object_keys(life["media"]):
        assert not object_exists(key)
        assert requests.get(f"{stack.cdn}/{key}", timeout=10).status_code == 404
    assert error(bob.get(f"users/{kevin.id}")) == (404, "APINotFoundError")
    user = User.objects.get(id=int(kevin.id))
    assert (user.username, user.email, user.is_active) == (f"deleted_{kevin.id}", "", False)
    assert log_in(stack, http, kevin.username, PASSWORD).status_code == 400


def test_delete_account_removes_everything_on_every_shard_in_redis_and_on_s3(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    life = build_a_life(signup)
    kevin = life["kevin"]
    for key in object_keys(life["media"]):
        requests.get(f"{healthy_stack.cdn}/{key}", timeout=10)  # the CDN holds a copy to purge
    with pytest.raises(CommandError):
        igctl("accounts", "verify-deleted", kevin.id)

    refused = kevin.post("accounts/delete", password="wrong-one")
    assert error(refused) == (400, "APIInvalidParametersError")
    assert deletion_step(kevin.id) is None
    assert token_works(kevin)

    deleted = kevin.post("accounts/delete", password=PASSWORD)
    assert deleted.json() == {"meta": {"code": 200}, "data": None}
    assert error(kevin.get("users/self")) == (400, "OAuthAccessTokenException")
    assert error(life["bob"].get(f"users/{kevin.id}")) == (404, "APINotFoundError")
    assert AccessToken.objects.filter(user_id=int(kevin.id)).count() == 0
    wait_for(lambda: deletion_step(kevin.id) == DeletionStep.DONE or None, timeout=60)
    assert_all_gone(life, http, healthy_stack)
    assert error(life["bob"].post(f"users/{kevin.id}/relationship", action="follow"))[0] in (400, 404)
    # Its username is free again; the new account is someone else.
    again = http.post(
        f"{healthy_stack.api}/v1/accounts/signup",
        data={"username": kevin.username, "password": PASSWORD},
        timeout=10,
    )
    assert again.status_code == 200
    assert again.json()["data"]["user"]["id"] != kevin.id


def test_a_deletion_interrupted_after_a_step_resumes_from_its_record(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    """Workers stopped, the job waits; a run cut short leaves the record mid-way; the job resumes there.

    `resume-deletion --until` is a worker killed between two steps, made
    deterministic: everything before the step is committed, nothing after.
    """
    life = build_a_life(signup)
    kevin = life["kevin"]
    with healthy_stack.stopped("worker:*"):
        assert kevin.post("accounts/delete", password=PASSWORD).status_code == 200
        assert deletion_step(kevin.id) == DeletionStep.ACCESS
        assert "at step interactions" in igctl(
            "accounts", "resume-deletion", kevin.id, "--until", DeletionStep.INTERACTIONS
        )
        with shard_for_user(int(kevin.id)):
            assert not Media.objects.filter(user_id=int(kevin.id)).exists()
        assert life["carol"].data(f"media/{life['theirs']['id']}")["likes"]["count"] == 1, "not yet"
        left = igctl_failure("accounts", "verify-deleted", kevin.id)
        assert "still at step interactions" in left
        assert "1 likes it made" in left
        assert "1 comments it made" in left
        assert "its relationship edges" in left
    wait_for(lambda: deletion_step(kevin.id) == DeletionStep.DONE or None, timeout=60)
    assert_all_gone(life, http, healthy_stack)


def test_a_deletion_killed_inside_the_media_step_resumes_from_its_record(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    """The state a worker killed inside the media step leaves, built exactly; the queued job finishes it.

    The kill lands after the first media was noted in the record and its
    objects, CDN copies and index entries removed (do_clean_up_media), before
    its row was deleted; the second media is untouched.
    """
    life = build_a_life(signup)
    kevin = life["kevin"]
    first = int(life["media"][0]["id"].partition("_")[0])
    with healthy_stack.stopped("worker:*"):
        assert kevin.post("accounts/delete", password=PASSWORD).status_code == 200
        assert "at step media" in igctl(
            "accounts", "resume-deletion", kevin.id, "--until", DeletionStep.MEDIA
        )
        record = AccountDeletion.objects.get(user_id=int(kevin.id))
        with shard_for_user(int(kevin.id)):
            prefix = Media.objects.get(id=first).object_prefix
        record.media = [{"id": first, "prefix": prefix, "tags": [life["tag"]], "location_id": None}]
        record.save()
        assert do_clean_up_media(media_id=first) == prefix
        with shard_for_user(int(kevin.id)):
            assert Media.objects.filter(user_id=int(kevin.id)).count() == 2, "both rows are still there"
    wait_for(lambda: deletion_step(kevin.id) == DeletionStep.DONE or None, timeout=60)
    assert [entry["id"] for entry in AccountDeletion.objects.get(user_id=int(kevin.id)).media].count(
        first
    ) == 1
    assert_all_gone(life, http, healthy_stack)


def igctl_failure(*args: str) -> str:
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("igctl", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_deleting_twice_or_without_a_password_changes_nothing(signup: Any, http: requests.Session) -> None:
    kevin = signup("kevin")
    assert error(kevin.post("accounts/delete")) == (400, "APIInvalidParametersError")
    assert token_works(kevin)
    assert "deleted" in igctl("accounts", "delete", kevin.username)
    assert "already deleted" in igctl("accounts", "delete", kevin.id)
    igctl("accounts", "reactivate", kevin.id)
    assert User.objects.get(id=int(kevin.id)).is_active is False, "a deleted account stays deleted"


def test_operators_see_deletions_in_the_admin(healthy_stack: Stack, signup: Any) -> None:
    from tests.moderation.conftest import AdminSession, make_staff

    operator, kevin = signup("op"), signup("kevin")
    make_staff(operator)
    assert kevin.post("accounts/delete", password=PASSWORD).status_code == 200
    wait_for(lambda: deletion_step(kevin.id) == DeletionStep.DONE or None, timeout=60)
    admin = AdminSession(healthy_stack, operator)
    listing = admin.get("/users/accountdeletion/", q=kevin.id).text
    assert f"/admin/users/accountdeletion/{kevin.id}/change/" in listing
    assert "Add account deletion" not in listing, "deletions are made by their owners, not here"
