"""Reports through nginx: the mobile app files them (once each), operators act on them in the admin."""

from typing import Any

from oauth.actions import check_register_client
from photos.models import Media
from reports.models import Report, Resolution
from sharding.routing import shard_for_id
from tests.moderation.conftest import AdminSession
from tests.photos.images import jpeg
from tests.v1 import error


def test_a_user_reports_a_photo_a_comment_and_an_account_once_each(signup: Any) -> None:
    owner, fan, reporter = signup("owner"), signup("fan"), signup("reporter")
    media = owner.post_photo(jpeg(200, 200), caption="Harbor at dawn")
    comment = fan.post(f"media/{media['id']}/comments", text="buy followers at spam.example")
    assert comment.status_code == 200, comment.text
    comment_id = comment.json()["data"]["id"]

    first = reporter.post(f"media/{media['id']}/report", reason="nudity", text="  not for kids ")
    assert first.status_code == 201, first.text
    report = first.json()["data"]
    assert (report["kind"], report["target_id"], report["reason"], report["text"]) == (
        "media",
        media["id"].partition("_")[0],
        "nudity",
        "not for kids",
    )
    again = reporter.post(f"media/{media['id']}/report", reason="spam")
    assert (again.status_code, again.json()["data"]) == (200, report)

    on_comment = reporter.post(f"media/{media['id']}/comments/{comment_id}/report", reason="spam")
    assert on_comment.status_code == 201, on_comment.text
    on_user = reporter.post(f"users/{fan.id}/report", reason="harassment")
    assert on_user.status_code == 201, on_user.text

    filed = {r.target: r for r in Report.objects.filter(reporter_id=int(reporter.id))}
    assert set(filed) == {f"media:{report['target_id']}", f"comment:{comment_id}", f"user:{fan.id}"}
    assert filed[f"comment:{comment_id}"].target_user_id == int(fan.id)
    assert filed[f"media:{report['target_id']}"].target_user_id == int(owner.id)


def test_bad_reports_are_refused(signup: Any) -> None:
    owner, reporter, private = signup("owner"), signup("reporter"), signup("private", private=True)
    media = owner.post_photo(jpeg(200, 200))
    hidden = private.post_photo(jpeg(200, 200))
    assert error(reporter.post(f"media/{media['id']}/report", reason="boring")) == (
        400,
        "APIInvalidParametersError",
    )
    assert error(reporter.post(f"media/{media['id']}/report")) == (400, "APIInvalidParametersError")
    assert error(reporter.post(f"media/{media['id']}/report", reason="spam", text="x" * 1001)) == (
        400,
        "APIInvalidParametersError",
    )
    assert error(owner.post(f"media/{media['id']}/report", reason="spam")) == (
        400,
        "APIInvalidParametersError",
    )
    assert error(reporter.post(f"media/{hidden['id']}/report", reason="spam")) == (400, "APINotAllowedError")
    assert error(reporter.post(f"media/{media['id']}/comments/12345/report", reason="spam")) == (
        404,
        "APINotFoundError",
    )
    owner.act(reporter, "block")
    assert error(reporter.post(f"media/{media['id']}/report", reason="spam")) == (404, "APINotFoundError")
    assert error(reporter.post(f"users/{owner.id}/report", reason="spam")) == (404, "APINotFoundError")
    client, _ = check_register_client(name="Filters", redirect_uri="https://filters.example.com/cb")
    app = reporter.with_token(scope="basic likes comments relationships", application=client)
    assert error(app.post(f"users/{private.id}/report", reason="spam")) == (400, "OAuthPermissionsException")
    assert not Report.objects.filter(reporter_id=int(reporter.id)).exists()


def test_operators_remove_reported_content_and_deactivate_accounts(signup: Any, admin: AdminSession) -> None:
    owner, troll, reporter, viewer = signup("owner"), signup("troll"), signup("reporter"), signup("viewer")
    media = owner.post_photo(jpeg(200, 200))
    media_id = int(media["id"].partition("_")[0])
    comment_id = troll.post(f"media/{media['id']}/comments", text="ugly").json()["data"]["id"]
    reporter.post(f"media/{media['id']}/comments/{comment_id}/report", reason="harassment")
    reporter.post(f"media/{media['id']}/report", reason="other")
    reporter.post(f"users/{troll.id}/report", reason="harassment")
    reports = {r.kind: r for r in Report.objects.filter(reporter_id=int(reporter.id))}

    listing = admin.get("/reports/report/", state="open", kind="comment", q=troll.username)
    assert f"comment:{comment_id}" in listing.text
    assert f'href="/admin/users/user/{owner.id}/content/"' in listing.text  # where the comment is seen
    done = admin.post("/reports/report/", action="remove_content", _selected_action=[reports["comment"].id])
    assert "Removed 1 photo(s) or comment(s)." in done.text
    shown = viewer.data(f"media/{media['id']}")
    assert (shown["comments"]["count"], shown["comments"]["data"]) == (0, [])

    done = admin.post("/reports/report/", action="deactivate_account", _selected_action=[reports["user"].id])
    assert "Deactivated 1 account(s)." in done.text
    assert error(troll.get("users/self")) == (400, "OAuthAccessTokenException")
    assert error(viewer.get(f"users/{troll.id}")) == (404, "APINotFoundError")

    done = admin.post("/reports/report/", action="resolve", _selected_action=[reports["media"].id])
    assert "Dismissed 1 report(s)." in done.text
    assert viewer.data(f"media/{media['id']}")["id"] == media["id"]
    with shard_for_id(media_id, read_only=True):
        assert Media.objects.filter(id=media_id).exists()
    resolutions = {r.kind: r.resolution for r in Report.objects.filter(reporter_id=int(reporter.id))}
    assert resolutions == {
        "comment": Resolution.REMOVED,
        "user": Resolution.DEACTIVATED,
        "media": Resolution.DISMISSED,
    }
