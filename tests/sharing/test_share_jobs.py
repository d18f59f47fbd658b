"""Sharing end to end: a photo posted with share_to reaches the Twitter and Facebook sandboxes from a worker.

The sandboxes (sandboxes/social.py) record every request they get; tokens
choose their answers: `flaky-` fails once, `fail-` always, `revoked-` is a
401. Each outcome ends up on the media (Media.share_results).
"""

import hashlib
import time
import uuid
from functools import partial
from typing import Any

from photos.models import Media
from photos.refs import shortcode
from sandboxes.records import read
from sharding.routing import shard_for_id
from sharing.handlers import MAX_ATTEMPTS
from sharing.jobs import ShareMedia
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.v1 import Account
from workers.submit import submit_job_rollback_unsafe


def link(account: Account, service: str, token: str, *, secret: str | None = None) -> None:
    fields = {"access_token": token}
    if service == "twitter":
        fields["access_token_secret"] = secret or f"secret-for-{token}"  # the sandbox's convention
    response = account.post(f"users/self/linked_accounts/{service}", **fields)
    assert response.status_code == 200, response.text


def media_id(media: dict[str, Any]) -> int:
    return int(media["id"].partition("_")[0])


def share(media: dict[str, Any], *services: str) -> list[str]:
    """Submit more SHARE jobs for a posted photo (its upload submitted one per target); return their ids."""
    return [
        submit_job_rollback_unsafe(ShareMedia(media_id=media_id(media), service=service))
        for service in services
    ]


def results(media: dict[str, Any]) -> dict[str, Any]:
    with shard_for_id(media_id(media)):
        found: dict[str, Any] = Media.objects.get(id=media_id(media)).share_results
    return found


def outcome(media: dict[str, Any], service: str, *statuses: str) -> dict[str, Any] | None:
    """The media's share result on `service` once it has one of `statuses`."""
    entry: dict[str, Any] | None = results(media).get(service)
    return entry if entry is not None and entry["status"] in statuses else None


def requests_for(stack: Stack, service: str, media: dict[str, Any]) -> list[dict[str, Any]]:
    """What the `service` sandbox received about `media` (its permalink is in every post)."""
    code = f"/p/{shortcode(media_id(media))}/"
    fields = ("status", "message")
    entries = read(stack.profile.var / "sandbox", service)
    return [e for e in entries if any(code in e["form"].get(field, "") for field in fields)]


def done(stack: Stack, job_id: str) -> bool:
    log = (stack.log / "worker.log").read_text()
    return any(job_id in line and ("done in" in line or "dead letter" in line) for line in log.splitlines())


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def test_a_photo_is_tweeted_and_posted_to_facebook(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    twitter_token, facebook_token = f"tw-{uuid.uuid4().hex}", f"fb-{uuid.uuid4().hex}"
    link(kevin, "twitter", twitter_token)
    link(kevin, "facebook", facebook_token)
    media = kevin.post_photo(jpeg(300, 300), caption="Pier at dusk #sf", share_to="twitter,facebook")

    shared = {
        service: wait_for(partial(outcome, media, service, "shared")) for service in ("twitter", "facebook")
    }
    (tweet,) = requests_for(stack, "twitter", media)
    assert (tweet["method"], tweet["path"], tweet["status"]) == ("POST", "/1.1/statuses/update.json", 200)
    assert tweet["form"] == {"status": f"Pier at dusk #sf {media['link']}"}
    assert tweet["oauth"]["valid"] is True  # the sandbox verified the HMAC-SHA1 signature
    assert tweet["oauth"]["oauth_consumer_key"] == "local-consumer-key"
    assert tweet["token_sha256"] == fingerprint(twitter_token)
    assert shared["twitter"]["id"] == tweet["response"]["id_str"]

    (photo,) = requests_for(stack, "facebook", media)
    assert (photo["method"], photo["path"], photo["status"]) == ("POST", "/me/photos", 200)
    assert photo["form"] == {
        "url": media["images"]["standard_resolution"]["url"],
        "message": f"Pier at dusk #sf\n{media['link']}",
    }
    assert photo["token_sha256"] == fingerprint(facebook_token)
    assert shared["facebook"]["id"] == photo["response"]["id"]
    assert shared["facebook"]["attempts"] == 1

    # No token in any log: the workers', the sandboxes'.
    for log in ("worker.log", "sandbox.log"):
        text = (stack.log / log).read_text()
        assert twitter_token not in text
        assert facebook_token not in text
    for service in ("twitter", "facebook"):
        assert twitter_token not in (stack.profile.var / "sandbox" / f"{service}.jsonl").read_text()


def test_a_flaky_service_is_retried_until_the_photo_is_shared(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    link(kevin, "twitter", f"flaky-{uuid.uuid4().hex}")
    link(kevin, "facebook", f"flaky-{uuid.uuid4().hex}")
    media = kevin.post_photo(jpeg(300, 300), caption="second try", share_to="twitter,facebook")
    for service, first in (("twitter", 503), ("facebook", 500)):
        shared = wait_for(partial(outcome, media, service, "shared"), timeout=30)
        statuses = [r["status"] for r in requests_for(stack, service, media)]
        assert statuses == [first, 200], service
        assert shared["attempts"] == 2


def test_a_failing_service_ends_recorded_as_failed_and_the_upload_does_not_notice(
    signup: Any, stack: Stack
) -> None:
    kevin = signup("kevin")
    link(kevin, "twitter", f"fail-{uuid.uuid4().hex}")
    started = time.monotonic()
    response = kevin.upload(jpeg(300, 300), caption="never tweeted", share_to="twitter")
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 10
    media = response.json()["data"]

    failed = wait_for(lambda: outcome(media, "twitter", "failed"), timeout=60)
    assert failed["attempts"] == MAX_ATTEMPTS
    assert failed["error"] == "Twitter answered 500: Internal error. (code 131)"
    tries = requests_for(stack, "twitter", media)
    assert len(tries) >= MAX_ATTEMPTS
    assert {r["status"] for r in tries} == {500}
    assert kevin.get(f"media/{media['id']}").status_code == 200


def test_a_revoked_token_fails_at_once_and_an_unlinked_service_posts_nothing(
    signup: Any, stack: Stack
) -> None:
    kevin = signup("kevin")
    link(kevin, "twitter", f"revoked-{uuid.uuid4().hex}")
    media = kevin.post_photo(jpeg(300, 300), caption="gone", share_to="twitter,facebook")

    revoked = wait_for(lambda: outcome(media, "twitter", "failed"))
    assert revoked["attempts"] == 1
    assert revoked["error"] == "Twitter refused the post (401): Invalid or expired token. (code 89)"
    assert [r["status"] for r in requests_for(stack, "twitter", media)] == [401]
    unlinked = wait_for(lambda: outcome(media, "facebook", "failed"))
    assert unlinked["error"] == "no facebook account linked"
    assert requests_for(stack, "facebook", media) == []


def test_a_wrong_token_secret_fails_the_signature(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    link(kevin, "twitter", f"tw-{uuid.uuid4().hex}", secret="not-the-one")
    media = kevin.post_photo(jpeg(300, 300), caption="unsigned", share_to="twitter")
    failed = wait_for(lambda: outcome(media, "twitter", "failed"))
    assert "Could not authenticate you. (code 32)" in failed["error"]
    (tweet,) = requests_for(stack, "twitter", media)
    assert tweet["oauth"]["valid"] is False


def test_a_job_run_twice_posts_once(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    link(kevin, "twitter", f"tw-{uuid.uuid4().hex}")
    link(kevin, "facebook", f"fb-{uuid.uuid4().hex}")
    media = kevin.post_photo(jpeg(300, 300), caption="once", share_to="twitter,facebook")
    # Two at once (the two workers may run them side by side), then again once shared.
    jobs = share(media, "twitter", "facebook", "twitter", "facebook")
    for service in ("twitter", "facebook"):
        wait_for(partial(outcome, media, service, "shared"))
    jobs += share(media, "twitter", "facebook")
    for job_id in jobs:
        wait_for(partial(done, stack, job_id))
    for service in ("twitter", "facebook"):
        assert [r["status"] for r in requests_for(stack, service, media)] == [200], service


def test_only_the_targets_the_owner_chose_are_shared(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    link(kevin, "facebook", f"fb-{uuid.uuid4().hex}")
    media = kevin.post_photo(jpeg(300, 300), caption="not for facebook")
    (job_id,) = share(media, "facebook")
    wait_for(lambda: done(stack, job_id))
    assert results(media) == {}
    assert requests_for(stack, "facebook", media) == []
