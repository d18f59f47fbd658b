"""PUSH jobs end to end: a worker pushes to the APNS sandbox over HTTP/2, as the recipient's settings allow.

The actions push too (a follow, a like): assertions about a job the test
submitted look at that job's pushes only (tests.push.conftest.pushes_to).
"""

import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from instagram import rediskeys
from instagram.redis_client import redis_primary
from push.jobs import PushNotification
from push.models import Device
from tests.conftest import Stack
from tests.photos.images import jpeg
from tests.push.conftest import device_token, job_attempt_ended, pushes_to, register, wait_for_pushes
from tests.v1 import Account
from workers.submit import submit_job_rollback_unsafe


def push(recipient: Account, kind: str, actor: Account, **extra: Any) -> str:
    """Submit a PUSH job as the actions' handlers do; return its id."""
    job = PushNotification(recipient_id=int(recipient.id), kind=kind, actor_id=int(actor.id), **extra)
    return submit_job_rollback_unsafe(job)


def nothing_pushed(stack: Stack, job_id: str, *tokens: str) -> bool:
    """Wait until job `job_id` is done; say whether it pushed nothing to `tokens`."""
    assert "done in" in job_attempt_ended(stack, job_id)
    return all(not pushes_to(stack, token, job_id=job_id) for token in tokens)


def test_a_push_reaches_the_phone_as_apns_wants_it(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    token = device_token()
    register(mike, token)
    media = mike.post_photo(jpeg(200, 200))
    started = time.time()
    job_id = push(mike, "like", kevin, media_id=media["id"].partition("_")[0])
    (request,) = wait_for_pushes(stack, token, job_id=job_id)

    assert request["path"] == f"/3/device/{token}"
    assert request["status"] == 200
    headers = request["headers"]
    assert headers["apns-topic"] == settings.APNS_TOPIC
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert 23 * 3600 < int(headers["apns-expiration"]) - started < 25 * 3600
    assert request["payload"] == {
        "aps": {"alert": f"{kevin.username} liked your photo.", "sound": "default"},
        "kind": "like",
        "media_id": media["id"],
        "user_id": kevin.id,
    }
    # The provider token verifies with the key's public half, and names the key and the team.
    provider_token = headers["authorization"].removeprefix("bearer ")
    key = serialization.load_pem_private_key(Path(settings.APNS_KEY_FILE).read_bytes(), password=None)
    claims = jwt.decode(provider_token, key.public_key(), algorithms=["ES256"])  # type: ignore[arg-type]
    assert jwt.get_unverified_header(provider_token)["kid"] == settings.APNS_KEY_ID
    assert claims["iss"] == settings.APNS_TEAM_ID
    assert time.time() - claims["iat"] < 50 * 60 + 60
    assert "done in" in job_attempt_ended(stack, job_id)


def test_a_like_through_the_api_pushes_to_the_owner(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    token = device_token()
    register(mike, token)
    media = mike.post_photo(jpeg(200, 200))
    assert kevin.post(f"media/{media['id']}/likes").status_code == 200
    (request,) = wait_for_pushes(stack, token)
    assert request["status"] == 200
    assert request["payload"] == {
        "aps": {"alert": f"{kevin.username} liked your photo.", "sound": "default"},
        "kind": "like",
        "media_id": media["id"],
        "user_id": kevin.id,
    }
    # Liking one's own photo pushes nothing.
    assert mike.post(f"media/{media['id']}/likes").status_code == 200
    time.sleep(1)
    assert len(pushes_to(stack, token)) == 1


def test_every_active_device_gets_it_and_a_dead_one_is_deactivated(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike", private=True)
    phone, ipad, dead, logged_out = device_token(), device_token(), device_token("dead"), device_token()
    for token in (phone, ipad, dead, logged_out):
        register(mike, token)
    assert mike.delete(f"users/self/devices/{logged_out}").status_code == 200
    job_id = push(mike, "follow_request", kevin)
    assert nothing_pushed(stack, job_id, phone, ipad, dead)  # no request stands yet

    kevin.act(mike, "follow")  # a request: mike is private
    job_id = push(mike, "follow_request", kevin)
    assert "done in" in job_attempt_ended(stack, job_id)
    for token in (phone, ipad):
        (request,) = pushes_to(stack, token, job_id=job_id)
        assert request["payload"]["aps"]["alert"] == f"{kevin.username} requested to follow you."
        assert request["payload"]["kind"] == "follow_request"
    # The request's own push may have found the dead token first; either way Apple said 410.
    assert {request["status"] for request in pushes_to(stack, dead)} == {410}
    assert pushes_to(stack, logged_out) == []
    gone = Device.objects.get(token=dead)
    assert (gone.active, gone.deactivation_reason) == (False, "Unregistered")
    assert gone.deactivated_at is not None
    assert Device.objects.get(token=phone).active

    # Registered again (the app reinstalled, the same token handed back), it is active again.
    register(mike, dead)
    assert Device.objects.get(token=dead).active


def test_a_comment_is_quoted_and_a_mention_on_a_photo_the_recipient_cannot_see_is_not_pushed(
    signup: Any, stack: Stack
) -> None:
    kevin, mike, carol = signup("kevin"), signup("mike"), signup("carol", private=True)
    mike_phone, kevin_phone = device_token(), device_token()
    register(mike, mike_phone)
    register(kevin, kevin_phone)
    media = mike.post_photo(jpeg(200, 200))
    job_id = push(mike, "comment", kevin, media_id=media["id"], comment_text="nice!\nreally")
    (request,) = wait_for_pushes(stack, mike_phone, job_id=job_id)
    assert request["payload"]["aps"]["alert"] == f"{kevin.username} commented: nice! really"

    # carol is private: kevin, who does not follow her, is not told what was said on her photo.
    private = carol.post_photo(jpeg(200, 200))
    text = f"@{kevin.username} hi"
    job_id = push(kevin, "mention", carol, media_id=private["id"], comment_text=text, comment_id=1)
    assert nothing_pushed(stack, job_id, kevin_phone)
    job_id = push(kevin, "mention", mike, media_id=media["id"], comment_text=text, comment_id=1)
    (request,) = wait_for_pushes(stack, kevin_phone, job_id=job_id)
    assert request["payload"]["aps"]["alert"] == f"{mike.username} mentioned you in a comment: {text}"
    # A deleted photo pushes nothing.
    assert mike.delete(f"media/{media['id']}").status_code == 200
    job_id = push(mike, "like", kevin, media_id=media["id"])
    assert nothing_pushed(stack, job_id, mike_phone)


def test_settings_off_and_following_are_honoured(signup: Any, stack: Stack) -> None:
    kevin, mike, nina = signup("kevin"), signup("mike"), signup("nina")
    token = device_token()
    register(mike, token)
    media = mike.post_photo(jpeg(200, 200))
    assert mike.post("users/self/push_settings", likes="off", comments="following").status_code == 200

    job_id = push(mike, "like", kevin, media_id=media["id"])
    assert nothing_pushed(stack, job_id, token)
    job_id = push(mike, "comment", kevin, media_id=media["id"], comment_text="hi")
    assert nothing_pushed(stack, job_id, token)  # mike does not follow kevin

    mike.act(kevin, "follow")
    job_id = push(mike, "comment", kevin, media_id=media["id"], comment_text="hi again")
    (request,) = wait_for_pushes(stack, token, job_id=job_id)
    assert request["payload"]["aps"]["alert"] == f"{kevin.username} commented: hi again"
    job_id = push(mike, "comment", nina, media_id=media["id"], comment_text="me too")
    assert nothing_pushed(stack, job_id, token)
    assert mike.post("users/self/push_settings", follows="off").status_code == 200
    kevin.act(mike, "follow")
    job_id = push(mike, "follow", kevin)
    assert nothing_pushed(stack, job_id, token)
    assert [request["payload"]["kind"] for request in pushes_to(stack, token)] == ["comment"]


def test_blocks_and_self_never_push(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    token = device_token()
    register(mike, token)
    media = mike.post_photo(jpeg(200, 200))
    mike.act(kevin, "block")
    job_id = push(mike, "comment", kevin, media_id=media["id"], comment_text="hi")
    assert nothing_pushed(stack, job_id, token)
    mike.act(kevin, "unblock")
    kevin.act(mike, "block")
    job_id = push(mike, "comment", kevin, media_id=media["id"], comment_text="hi")
    assert nothing_pushed(stack, job_id, token)
    job_id = push(mike, "comment", mike, media_id=media["id"], comment_text="me")
    assert nothing_pushed(stack, job_id, token)


def test_apples_failure_retries_the_job_without_pushing_twice_to_a_phone_that_got_it(
    signup: Any, stack: Stack
) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    media = mike.post_photo(jpeg(200, 200))
    phone, failing = device_token(), device_token("5e0")  # "5e3..." would answer 503
    register(mike, phone)
    register(mike, failing)
    job_id = push(mike, "comment", kevin, media_id=media["id"], comment_text="hi")

    assert "retrying" in job_attempt_ended(stack, job_id, attempt=1)
    assert "retrying" in job_attempt_ended(stack, job_id, attempt=2)
    attempts = pushes_to(stack, failing, job_id=job_id)
    assert len(attempts) >= 2  # the same push (one apns-id), tried again
    assert {request["status"] for request in attempts} == {500}
    (delivered,) = pushes_to(stack, phone, job_id=job_id)
    assert delivered["status"] == 200
    device_id = Device.objects.get(token=phone).id
    assert redis_primary().hexists(rediskeys.push_sent(f"job:{job_id}"), str(device_id))
    assert Device.objects.get(token=failing).active  # a 5xx says nothing about the device
