"""Load through the fleet's lb, and waiting on it: what every fleet test module uses."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from tests.fleet.fleet import Fleet, FleetError
from tests.photos.images import jpeg


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # the fleet's addresses, never through a proxy of the environment
    return http


def wait_until(check: Callable[[], object], *, timeout: float, what: str, fleet: Fleet) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise FleetError(f"{what}: not within {timeout:.0f}s (last: {last!r}){fleet.log_tails()}")


def record(fleet: Fleet, name: str, figures: dict[str, object]) -> None:
    fleet.figures[name] = figures
    print(f"\nFLEET FIGURES {name}: {json.dumps(figures)}")
    (fleet.workdir.parent / f"{fleet.workdir.name}-figures.json").write_text(
        json.dumps(fleet.figures, indent=2)
    )


@dataclass
class Load:
    """Requests through the lb from a few threads until stopped: reads, and comments as writes.

    Each answer is recorded with when it came and which app host and release
    served it; a write counts as acknowledged when the API answered 200 with
    the comment's id, and is looked for again at the end (lost = not found).
    """

    fleet: Fleet
    media: list[str]  # reads ask the first; writes go round all (the API lists 150 comments a media)
    readers: int = 2
    limit: float = 240  # seconds: the load stops by itself, whatever happens
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, str, str]] = field(default_factory=list)  # (time, served by, release)
    failures: list[tuple[float, str, str]] = field(default_factory=list)  # (time, read or write, what)
    acknowledged: list[str] = field(default_factory=list)
    # (sent, answered) of each acknowledged write, and when each failed request was sent.
    writes: list[tuple[float, float]] = field(default_factory=list)
    failed_sent: list[float] = field(default_factory=list)
    # (sent, answered, app host) of each acknowledged write: each app host has its own pgbouncer.
    writes_by_host: list[tuple[float, float, str]] = field(default_factory=list)
    in_flight: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, account: object) -> None:
        self.account = account
        self.started = time.monotonic()
        for _ in range(self.readers):
            self.threads.append(threading.Thread(target=self.run, args=(self.read,), daemon=True))
        for request in (self.ping, self.write):
            self.threads.append(threading.Thread(target=self.run, args=(request,), daemon=True))
        for thread in self.threads:
            thread.start()

    def read(self, http: requests.Session) -> requests.Response:
        token = self.account.token  # type: ignore[attr-defined]
        return http.get(
            f"{self.fleet.lb}/v1/media/{self.media[0]}", params={"access_token": token}, timeout=90
        )

    def ping(self, http: requests.Session) -> requests.Response:
        """GET /ping: its X-Release says which release answered."""
        return http.get(f"{self.fleet.lb}/ping", timeout=90)

    def write(self, http: requests.Session) -> requests.Response:
        token = self.account.token  # type: ignore[attr-defined]
        text = f"load {time.monotonic():.6f}"
        media = self.media[len(self.acknowledged) // 100 % len(self.media)]
        return http.post(
            f"{self.fleet.lb}/v1/media/{media}/comments",
            params={"access_token": token},
            data={"text": text},
            timeout=90,
        )

    def run(self, request: Callable[[requests.Session], requests.Response]) -> None:
        http = session()
        while not self.stop.is_set() and time.monotonic() - self.started < self.limit:
            with self.lock:
                self.in_flight += 1
            sent = time.monotonic()
            try:
                response = request(http)
            except requests.RequestException as exc:
                self.note_failure(request, f"{type(exc).__name__}: {exc}", sent)
            else:
                if response.status_code == 200:
                    with self.lock:
                        release = response.headers.get("X-Release", "").partition("+")[2]
                        self.answers.append(
                            (time.monotonic(), response.headers.get("X-Served-By", ""), release)
                        )
                        if request == self.write:
                            self.acknowledged.append(response.json()["data"]["id"])
                            self.writes.append((sent, time.monotonic()))
                            served_by = response.headers.get("X-Served-By", "")
                            self.writes_by_host.append((sent, time.monotonic(), served_by))
                else:
                    self.note_failure(request, f"{response.status_code}: {response.text[:200]}", sent)
            finally:
                with self.lock:
                    self.in_flight -= 1
            # About 20 requests a second in all on a loaded machine; a few writes a second.
            time.sleep(0.25 if request == self.write else 0.02)

    def note_failure(
        self, request: Callable[[requests.Session], requests.Response], what: str, sent: float
    ) -> None:
        kind = "write" if request == self.write else "read"
        with self.lock:
            self.failures.append((time.monotonic(), kind, what))
            self.failed_sent.append(sent)

    def first_write_sent_after(self, moment: float) -> float | None:
        """When the first write sent after `moment` was acknowledged (None: none yet)."""
        with self.lock:
            return min((answered for sent, answered in self.writes if sent > moment), default=None)

    def first_write_on_every_host_after(self, moment: float, hosts: tuple[str, ...]) -> float | None:
        """When every one of `hosts` had acknowledged a write sent after `moment` (None: not yet)."""
        with self.lock:
            firsts = [
                min(
                    (answered for sent, answered, by in self.writes_by_host if sent > moment and by == host),
                    default=None,
                )
                for host in hosts
            ]
        return None if None in firsts else max(f for f in firsts if f is not None)

    def failed(self, kind: str) -> list[tuple[float, str, str]]:
        with self.lock:
            return [f for f in self.failures if f[1] == kind]

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def lost(self, reader: object) -> list[str]:
        """The acknowledged comments the API no longer has."""
        listed = {
            comment["id"]
            for media in self.media
            for comment in reader.data(f"media/{media}/comments")  # type: ignore[attr-defined]
        }
        assert len(self.acknowledged) <= 100 * len(self.media), "more writes than the check can read back"
        return [comment for comment in self.acknowledged if comment not in listed]

    def served_between(self, start: float, end: float) -> set[str]:
        with self.lock:
            return {host for at, host, _ in self.answers if start <= at <= end}

    def figures(self, **extra: object) -> dict[str, object]:
        return {
            "requests": len(self.answers) + len(self.failures),
            "answered": len(self.answers),
            "acknowledged_writes": len(self.acknowledged),
            "failed": len(self.failures),
            "failed_reads": len(self.failed("read")),
            "failed_writes": len(self.failed("write")),
            **extra,
        }


def load_fixture(fleet: Fleet, database: str | None = None, readers: int = 2) -> tuple[Load, object]:
    """A load on a new owner's photos; `database`: an owner whose rows live in that physical shard database.

    Where a user's rows live is the app's to say: the logical shard written in
    the id of the owner's first photo, and the shard map's database for it
    (shard_databases). Owners are signed up until one lands there (at most 8).
    """
    from tests.v1 import sign_up

    http = session()
    places = shard_databases(fleet) if database else []
    for _ in range(8):
        owner = sign_up(fleet.lb, http, prefix="owner")
        media = [owner.post_photo(jpeg(), caption="under load 0")["id"]]
        if not database or places[logical_shard(fleet, media[0])] == database:
            break
    else:
        raise FleetError(f"8 owners signed up, none of them on {database} (shard map: {places})")
    media += [owner.post_photo(jpeg(), caption=f"under load {n}")["id"] for n in range(1, 4)]
    return Load(fleet=fleet, media=media, readers=readers), owner


def shard_databases(fleet: Fleet) -> list[str]:
    """The physical database of each logical shard, as the app's shard map says (manage.py shard_map)."""
    result = fleet.manage("app1", "shard_map")
    if result.returncode != 0:
        raise FleetError(f"shard_map on app1: {result.stdout}{result.stderr}")
    places: list[str] = []
    for line in result.stdout.splitlines():
        # "shards    0-7    -> shard0"
        if line.startswith("shards "):
            span, _, database = line.removeprefix("shards ").partition("->")
            first, _, last = span.strip().partition("-")
            places += [database.strip()] * (int(last) - int(first) + 1)
    return places


def logical_shard(fleet: Fleet, media: str) -> int:
    """The logical shard written in a media id of the API ("<media id>_<user id>")."""
    from sharding.ids import decode_id

    shards = int(
        next(
            line for line in fleet.env_file.read_text().splitlines() if line.startswith("LOGICAL_SHARDS=")
        ).split("=")[1]
    )
    return decode_id(int(media.split("_")[0]), logical_shards=shards).shard
