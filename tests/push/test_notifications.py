"""What a push says and to whom: alert texts, payloads, audiences, job args, Apple's answers."""

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from push.apns import ProviderToken, Result
from push.handlers import PushRequest, apns_id, notification_key, push_request
from push.jobs import PushNotification
from push.models import Audience
from push.notifications import (
    ELLIPSIS,
    KINDS,
    MAX_QUOTE,
    SETTING_OF_KIND,
    SETTINGS,
    alert_text,
    audience_allows,
    payload,
    quote,
)
from workers.jobs import PermanentJobError

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`


@pytest.mark.parametrize(
    ("kind", "comment", "alert"),
    [
        ("like", None, "kevin liked your photo."),
        ("comment", "nice!", "kevin commented: nice!"),
        ("comment", "", "kevin commented on your photo."),
        ("follow", None, "kevin started following you."),
        ("follow_request", None, "kevin requested to follow you."),
        ("mention", None, "kevin mentioned you."),
    ],
)
def test_alerts_read_as_the_app_wrote_them(kind: str, comment: str | None, alert: str) -> None:
    assert alert_text(kind=kind, username="kevin", comment_text=comment) == alert


def test_a_mention_says_where_it_was_made_when_the_job_knows() -> None:
    text = "@mike look at this"
    assert alert_text(kind="mention", username="kevin", comment_text=text, in_comment=True) == (
        "kevin mentioned you in a comment: @mike look at this"
    )
    assert (
        alert_text(kind="mention", username="kevin", comment_text=text)
        == "kevin mentioned you: @mike look at this"
    )


def test_an_unknown_kind_has_no_alert() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        alert_text(kind="poke", username="kevin")


def test_a_long_comment_is_cut_at_a_word_with_an_ellipsis_on_one_line() -> None:
    text = "sunset over the pier\n\nwith   the X-Pro II filter " + "and more words " * 20
    quoted = quote(text)
    assert len(quoted) <= MAX_QUOTE
    assert quoted.endswith(ELLIPSIS)
    assert quoted.startswith("sunset over the pier with the X-Pro II filter and more")
    assert not quoted.removesuffix(ELLIPSIS).endswith(" ")
    assert text.replace("\n\n", " ").replace("   ", " ").startswith(quoted.removesuffix(ELLIPSIS))
    # One long word is cut where it must be.
    assert quote("a" * 500) == "a" * (MAX_QUOTE - 1) + ELLIPSIS
    assert quote("  short  ") == "short"


def test_the_payload_has_aps_and_the_keys_the_app_opens_the_screen_with() -> None:
    body = payload(kind="like", alert="kevin liked your photo.", actor_id=3, media_ref="123_4")
    assert body == {
        "aps": {"alert": "kevin liked your photo.", "sound": "default"},
        "kind": "like",
        "user_id": "3",
        "media_id": "123_4",
    }
    assert "media_id" not in payload(kind="follow", alert="x", actor_id=3, media_ref=None)


def test_even_the_longest_comment_alert_fits_apples_4_kb() -> None:
    alert = alert_text(kind="comment", username="k" * 30, comment_text="😀" * 2200)
    body = payload(kind="comment", alert=alert, actor_id=2**62, media_ref=f"{2**62}_{2**62}")
    assert len(json.dumps(body, ensure_ascii=False).encode()) < 1024


def test_each_kind_has_its_setting() -> None:
    assert set(KINDS) == {"like", "comment", "follow", "follow_request", "mention"}
    assert SETTINGS == ("likes", "comments", "follows", "follow_requests", "mentions")
    assert [SETTING_OF_KIND[kind] for kind in KINDS] == list(SETTINGS)


@pytest.mark.parametrize(
    ("audience", "follows", "allowed"),
    [
        (Audience.EVERYONE, False, True),
        (Audience.EVERYONE, True, True),
        (Audience.FOLLOWING, False, False),
        (Audience.FOLLOWING, True, True),
        (Audience.OFF, False, False),
        (Audience.OFF, True, False),
    ],
)
def test_audiences(audience: str, follows: bool, allowed: bool) -> None:
    assert audience_allows(audience=audience, recipient_follows_actor=follows) is allowed


def read_push(args: dict[str, object]) -> PushRequest:
    """A PUSH job's args as the worker reads them: the codec (types), then push_request (meaning)."""
    return push_request(PushNotification.from_args(args))


def test_job_args_are_read_or_refused_for_good() -> None:
    request = read_push({"recipient_id": 2, "kind": "like", "actor_id": "3", "media_id": "12_2"})
    assert (request.recipient_id, request.actor_id, request.media_ref, request.comment_text) == (
        2,
        3,
        "12_2",
        None,
    )
    assert read_push({"recipient_id": 2, "kind": "follow", "actor_id": 3}).media_ref is None
    assert not request.in_comment
    assert read_push(
        {"recipient_id": 2, "kind": "mention", "actor_id": 3, "media_id": 1, "comment_id": 9}
    ).in_comment
    for bad in (
        {"recipient_id": 2, "kind": "poke", "actor_id": 3},
        {"recipient_id": 2, "kind": "like", "actor_id": 3},  # a like names its media
        {"recipient_id": "two", "kind": "follow", "actor_id": 3},
        {"recipient_id": True, "kind": "follow", "actor_id": 3},
        {"recipient_id": 2, "kind": "follow"},
        {"recipient_id": 2, "kind": "comment", "actor_id": 3, "media_id": "1", "comment_text": ["x"]},
    ):
        with pytest.raises(PermanentJobError):
            read_push(bad)


def test_a_push_keeps_its_apns_id_across_attempts() -> None:
    first = apns_id(notification="like:9:3", device_id=7)
    assert first == apns_id(notification="like:9:3", device_id=7)
    assert (
        first
        != apns_id(notification="like:9:3", device_id=8)
        != apns_id(notification="like:9:4", device_id=7)
    )


def test_every_job_of_one_event_shares_the_notification_key() -> None:
    args = {"recipient_id": 3, "kind": "like", "actor_id": 5, "media_id": "9", "event": "like:11"}
    request = read_push(args)
    assert notification_key(request, job_id="a") == notification_key(request, job_id="b") == "like:like:11:3"
    assert notification_key(read_push({**args, "recipient_id": 4}), job_id="a") != "like:like:11:3"
    older = read_push({k: v for k, v in args.items() if k != "event"})
    assert notification_key(older, job_id="a") != notification_key(older, job_id="b")


@pytest.mark.parametrize(
    ("result", "delivered", "gone", "transient"),
    [
        (Result(200), True, False, False),
        (Result(410, "Unregistered", 1), False, True, False),
        (Result(400, "BadDeviceToken"), False, True, False),
        (Result(400, "DeviceTokenNotForTopic"), False, True, False),
        (Result(400, "BadTopic"), False, False, False),
        (Result(413, "PayloadTooLarge"), False, False, False),
        (Result(403, "ExpiredProviderToken"), False, False, True),
        (Result(429, "TooManyRequests"), False, False, True),
        (Result(500, "InternalServerError"), False, False, True),
        (Result(503, "ServiceUnavailable"), False, False, True),
        (Result(0, "MaxAttemptsExceeded"), False, False, True),
    ],
)
def test_apples_answers(result: Result, delivered: bool, gone: bool, transient: bool) -> None:
    assert (result.delivered, result.device_gone, result.transient) == (delivered, gone, transient)


def test_the_provider_token_is_reused_until_its_time_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    provider = ProviderToken(key=pem, key_id="KEY123", team_id="TEAM456")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)
    header = provider.get_header()
    monkeypatch.setattr(time, "time", lambda: now + 49 * 60)
    assert provider.get_header() == header
    monkeypatch.setattr(time, "time", lambda: now + 50 * 60 + 1)
    renewed = provider.get_header()
    assert renewed != header
    token = renewed.removeprefix("bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "KEY123", "typ": "JWT"}
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": "TEAM456", "iat": int(now + 50 * 60 + 1)}
