"""Video media: uploaded as MP4 or MOV, transcoded by ffmpeg, served by the CDN, type "video" everywhere.

The clips are made here by ffmpeg's test sources (lavfi), tiny and short.
"""

import io
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from PIL import Image

from photos import actions, storage
from photos.models import Media
from photos.storage import s3_client
from photos.video import MAX_UPLOAD_BYTES
from sharding.routing import shard_for_user
from tests.conftest import wait_for
from tests.photos.images import jpeg
from tests.v1 import Account, error
from users.models import User


def clip(
    *, size: str = "320x240", seconds: float = 1.0, rate: int = 10, container: str = "mp4", audio: bool = True
) -> bytes:
    """A test-pattern clip made by ffmpeg (with a tone when `audio`), moov atom at the end."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"clip.{container}"
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi"]
        command += ["-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
        if audio:
            command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-y", str(out)]
        subprocess.run(command, check=True, timeout=60)
        return out.read_bytes()


def tone_only() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "tone.mp4"
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi"]
        command += ["-i", "sine=frequency=440:duration=1", "-c:a", "aac", "-y", str(out)]
        subprocess.run(command, check=True, timeout=60)
        return out.read_bytes()


def probe(data: bytes) -> dict[str, Any]:
    """ffprobe what the CDN served: its streams and duration."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        file.write(data)
        file.flush()
        shown = subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", file.name],
            check=True,
            capture_output=True,
            timeout=30,
        )
    info: dict[str, Any] = json.loads(shown.stdout)
    return info


def objects_under(folder: str) -> set[str]:
    listed = s3_client().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=folder, MaxKeys=1000)
    return {item["Key"] for item in listed.get("Contents", [])}


def test_a_video_is_transcoded_served_and_shown_as_a_v1_video_everywhere(signup: Any) -> None:
    kevin: Account = signup("kevin")
    bob: Account = signup("bob")
    bob.act(kevin, "follow")

    response = kevin.upload_video(clip(seconds=2), caption="waves #sea", filter="X-Pro II")
    assert response.status_code == 201, response.text
    media = response.json()["data"]
    assert media["type"] == "video"
    assert media["filter"] == "X-Pro II"
    assert media["tags"] == ["sea"]
    sizes = {"low_resolution": 480, "standard_resolution": 640}
    assert {name: (v["width"], v["height"]) for name, v in media["videos"].items()} == {
        name: (side, side) for name, side in sizes.items()
    }
    for name, side in sizes.items():
        url = media["videos"][name]["url"]
        assert url.startswith(f"{settings.CDN_URL}/v/")
        served = requests.get(url, timeout=10)
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "video/mp4"
        info = probe(served.content)
        streams = {s["codec_type"]: s for s in info["streams"]}
        assert (streams["video"]["codec_name"], streams["video"]["width"], streams["video"]["height"]) == (
            "h264",
            side,
            side,
        )
        assert streams["audio"]["codec_name"] == "aac"
        assert abs(float(info["format"]["duration"]) - 2.0) < 0.3
        # Players ask for ranges; the CDN answers them from its cached copy.
        part = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=10)
        assert (part.status_code, part.content) == (206, served.content[:100])
    cover = requests.get(media["images"]["standard_resolution"]["url"], timeout=10)
    assert Image.open(io.BytesIO(cover.content)).size == (612, 612)

    # The same object wherever a media is read: by id, the owner's media, a follower's feed.
    assert bob.data(f"media/{media['id']}")["videos"] == media["videos"]
    assert [(m["id"], m["type"]) for m in bob.data(f"users/{kevin.id}/media/recent")] == [
        (media["id"], "video")
    ]
    feed = wait_for(lambda: [m for m in bob.data("users/self/feed") if m["id"] == media["id"]] or None)
    assert feed[0]["videos"] == media["videos"]

    # Photos stay images, without `videos`.
    photo = kevin.post_photo(jpeg(320, 320))
    assert photo["type"] == "image"
    assert "videos" not in photo

    # Deleting it deletes its MP4s too, from the bucket and the CDN.
    folder = urlsplit(media["videos"]["low_resolution"]["url"]).path.lstrip("/").rsplit("/", 1)[0]
    assert len(objects_under(folder + "/")) == 6  # 4 JPEGs, 2 MP4s
    assert kevin.delete(f"media/{media['id']}").status_code == 200
    wait_for(lambda: not objects_under(folder + "/"))
    for video in media["videos"].values():
        assert requests.get(video["url"], timeout=10).status_code == 404


def test_a_quicktime_clip_is_accepted_and_a_retry_posts_it_once(signup: Any) -> None:
    kevin: Account = signup("kevin")
    data = clip(container="mov", size="240x320", audio=False)
    first = kevin.upload_video(data, filename="IMG_0001.MOV", key="clip-1")
    assert first.status_code == 201, first.text
    again = kevin.upload_video(data, filename="IMG_0001.MOV", key="clip-1")
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert kevin.data("users/self")["counts"]["media"] == 1


def test_bad_videos_are_refused_by_name_and_store_nothing(signup: Any) -> None:
    kevin: Account = signup("kevin")
    stored = objects_under("v/")
    whole = clip()
    cases = {
        "Missing required file: video": kevin.upload_video(None),
        "not an MP4 or QuickTime": kevin.upload_video(jpeg(320, 320), filename="photo.jpg"),
        "no video stream": kevin.upload_video(tone_only()),
        "at most 15 seconds": kevin.upload_video(clip(size="160x160", seconds=16, rate=2, audio=False)),
        "at least 150 on each side": kevin.upload_video(clip(size="120x90", audio=False)),
        "or is corrupt": kevin.upload_video(whole[: len(whole) // 2]),
        f"larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB": kevin.upload_video(
            b"\x00\x00\x00\x18ftypmp42" + bytes(MAX_UPLOAD_BYTES)
        ),
        "multipart/form-data": kevin.post("media/upload/video", caption="no file"),
        "caption has": kevin.upload_video(whole, caption=" ".join(f"#t{i}" for i in range(31))),
    }
    for needle, response in cases.items():
        assert error(response) == (400, "APIInvalidParametersError"), (needle, response.text)
        assert needle in response.json()["meta"]["error_message"], (needle, response.text)
    assert kevin.data("users/self")["counts"]["media"] == 0
    assert kevin.data("users/self/media/recent") == []
    assert objects_under("v/") == stored


def test_storage_failing_at_the_first_mp4_leaves_no_row_and_no_object(
    signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kevin: Account = signup("kevin")
    owner = User.objects.get(id=int(kevin.id))
    stored: list[str] = []
    real_put = storage.put_object

    def put_until_a_video(*, key: str, data: bytes, content_type: str) -> None:
        if content_type == "video/mp4":
            raise ConnectionError("S3 went away before the first MP4")
        real_put(key=key, data=data, content_type=content_type)
        stored.append(key)

    monkeypatch.setattr("photos.storage.put_object", put_until_a_video)
    with pytest.raises(ConnectionError):
        actions.check_upload_video(owner=owner, video=clip(), values={}, upload_key=None)
    assert len(stored) == 4  # the cover's renditions, stored before the failure
    assert not objects_under("v/") & set(stored)
    with shard_for_user(owner.id):
        assert not Media.objects.filter(user_id=owner.id).exists()
    assert User.objects.get(id=owner.id).media_count == 0
