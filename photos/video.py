"""Turn an uploaded video into the H.264 renditions v1 served, with Debian's ffmpeg.

`process_video(data, filter_name=...)` validates the upload, transcodes it
into the two square MP4s of v1's `videos` (480 and 640) and takes its first
frame as the cover, from which photos.imaging makes the `images`
renditions as for any photo. It touches no database, storage or network,
so the upload action calls it before storing anything.

Decisions, and why:

- **In the request, bounded.** v1 videos were 3 to 15 seconds; a 15-second
  clip transcodes in a few seconds, so the upload answers with the finished
  media, as a photo upload does, instead of a "processing" state every
  reader would have to understand. The bounds keep it so: at most
  `MAX_UPLOAD_BYTES`, `MAX_DURATION` seconds (also enforced on the output,
  `-t`, in case the header lies), `MAX_SIDE` and `MAX_PIXELS` read from the
  header by ffprobe before any decoding, at most `MAX_FPS` frames a second
  out, `CONCURRENT_TRANSCODES` at once per process, and a wall-clock
  `TIMEOUT` after which ffmpeg is killed.
- **One decode, three outputs.** A single ffmpeg run centre-crops the square
  once, splits it into the 640 and 480 encodes and writes the first frame
  as a PNG; the frame goes through photos.imaging (filter, renditions,
  metadata stripped) like any photo.
- **MP4 or QuickTime only**, what phones record: ffprobe must name the
  mov/mp4 demuxer and find a video stream, so a renamed AVI or an MP3 is
  refused by name. Audio is kept (AAC, 96 kb/s) when there is some.
- **Square, like the photos**, `yuv420p`, `+faststart` (the index first, so
  a player starts before the download ends), no metadata (`-map_metadata
  -1`: no GPS from the phone).
- Nothing is kept on disk: the work happens in a temporary folder removed
  on every path out.
"""

import json
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from photos.imaging import ImageRejected, ProcessedPhoto, process_photo

MAX_UPLOAD_BYTES = 15 * 1024 * 1024  # under nginx's client_max_body_size (16m): a 400 that names it
MAX_DURATION = 15.0  # seconds, v1's longest video
MIN_DURATION = 0.1
MAX_SIDE = 3840  # either side, from the header
MAX_PIXELS = 3840 * 2160
MIN_SIDE = 150  # the cover must make a thumbnail, as a photo must
MAX_FPS = 30
VIDEO_SIDES = {"low_resolution": 480, "standard_resolution": 640}  # v1's `videos`, square
CONCURRENT_TRANSCODES = 1  # per process: a transcode takes both cores' worth of a small host
TIMEOUT = 40  # seconds for ffprobe, then for ffmpeg; within nginx's proxy_read_timeout (60 s)
MP4 = "video/mp4"

_SLOTS = threading.BoundedSemaphore(CONCURRENT_TRANSCODES)
_MOV_DEMUXER = "mov,mp4"  # ffprobe's format_name for MP4 and QuickTime starts so


class VideoRejected(ImageRejected):
    """The upload is not an acceptable video; str(exc) is a client-facing message naming the problem."""


@dataclass(frozen=True)
class ProcessedVideo:
    """Everything stored for one video upload."""

    cover: ProcessedPhoto  # the first frame's image renditions
    videos: dict[str, bytes]  # name -> MP4 bytes, VIDEO_SIDES
    duration: float


def process_video(data: bytes, *, filter_name: str) -> ProcessedVideo:
    """Validate `data`, transcode it and make its cover's renditions; raise VideoRejected if not acceptable.

    An unknown `filter_name` raises photos.filters.UnknownFilter, as for a photo.
    """
    if not data:
        raise VideoRejected("the video is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise VideoRejected(f"the video is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    with _SLOTS, tempfile.TemporaryDirectory(prefix="upload-video-") as folder:
        work = Path(folder)
        source = work / "source"
        source.write_bytes(data)
        duration = _probe(source)
        _transcode(source, work)
        cover = work / "cover.png"
        if not cover.exists():
            raise VideoRejected("the video has no frame to show")
        videos = {name: (work / f"{name}.mp4").read_bytes() for name in VIDEO_SIDES}
        frame = cover.read_bytes()
    try:
        processed = process_photo(frame, filter_name=filter_name)
    except ImageRejected as exc:
        raise VideoRejected(f"the video's first frame: {exc}") from None
    return ProcessedVideo(cover=processed, videos=videos, duration=duration)


def _run(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise VideoRejected(f"the video took longer than {TIMEOUT} seconds to process") from None


def _probe(source: Path) -> float:
    """Check the container, the video stream's size and the duration from the header; return the duration."""
    result = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration:stream=codec_type,width,height",
            "-of",
            "json",
            str(source),
        ]
    )
    try:
        info = json.loads(result.stdout or b"{}")
    except ValueError:
        info = {}
    form = info.get("format") or {}
    if result.returncode != 0 or not str(form.get("format_name", "")).startswith(_MOV_DEMUXER):
        raise VideoRejected("the video is not an MP4 or QuickTime (.mov) file, or is corrupt")
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise VideoRejected("the file has no video stream")
    width, height = int(streams[0].get("width") or 0), int(streams[0].get("height") or 0)
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise VideoRejected(f"the video is {width}x{height} pixels; at most {MAX_SIDE} on a side")
    if min(width, height) < MIN_SIDE:
        raise VideoRejected(f"the video is {width}x{height} pixels; at least {MIN_SIDE} on each side")
    try:
        duration = float(form.get("duration", ""))
    except (TypeError, ValueError):
        raise VideoRejected("the video does not say how long it is") from None
    if duration > MAX_DURATION:
        raise VideoRejected(f"the video is {duration:.1f} seconds long; at most {MAX_DURATION:g} seconds")
    if duration < MIN_DURATION:
        raise VideoRejected(f"the video is {duration:.2f} seconds long; at least {MIN_DURATION:g} seconds")
    return duration


def _transcode(source: Path, work: Path) -> None:
    """Write the square MP4 renditions and the first frame (cover.png) into `work`, in one decode."""
    names = list(VIDEO_SIDES)
    split = f"split={len(names) + 1}" + "".join(f"[{name}]" for name in names) + "[cover]"
    scales = ";".join(
        f"[{name}]scale={side}:{side}:flags=lanczos,setsar=1[{name}out]" for name, side in VIDEO_SIDES.items()
    )
    graph = f"[0:v:0]crop='min(iw,ih)':'min(iw,ih)',{split};{scales}"
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(source)]
    command += ["-filter_complex", graph]
    for name in names:
        command += ["-map", f"[{name}out]", "-map", "0:a:0?", "-t", str(MAX_DURATION)]
        command += ["-fpsmax", str(MAX_FPS)]
        command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
        command += ["-c:a", "aac", "-b:a", "96k", "-map_metadata", "-1", "-movflags", "+faststart"]
        command += [str(work / f"{name}.mp4")]
    command += ["-map", "[cover]", "-frames:v", "1", "-map_metadata", "-1", str(work / "cover.png")]
    result = _run(command)
    if result.returncode != 0:
        raise VideoRejected("the video could not be decoded: it is truncated or corrupt")
