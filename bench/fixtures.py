"""Accounts, tokens and media the benchmarks call the API with, made once through the ORM.

The benchmark client gets its own hourly limits (ratelimits.ClientLimit):
wrk sends more requests in a second than a real client may send in an
hour, and the limit check itself stays in the measured path.

Everything here is idempotent: a second run finds what the first one made.
"""

import io
import os
import random
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:
    from oauth2_provider.models import Application


@dataclass(frozen=True)
class BenchAccounts:
    token: str
    user_id: int
    other_id: int


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instagram.settings")
    django.setup()


def bench_application() -> "Application":
    """The benchmarks' OAuth client, with limits no benchmark reaches."""
    setup_django()
    from oauth2_provider.models import Application

    from ratelimits.models import ClientLimit

    app, _ = Application.objects.get_or_create(
        name="benchmarks",
        defaults={
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_PASSWORD,
        },
    )
    ClientLimit.objects.update_or_create(
        application=app, defaults={"requests_per_hour": 10**9, "writes_per_hour": 10**9}
    )
    return app


def bench_accounts() -> BenchAccounts:
    setup_django()
    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    from relationships.actions import check_change_relationship
    from users.models import User

    user, _ = User.objects.get_or_create(username="bench_reader", defaults={"full_name": "Bench Reader"})
    other, _ = User.objects.get_or_create(username="bench_author", defaults={"full_name": "Bench Author"})
    app = bench_application()
    check_change_relationship(actor=user, target_id=other.id, target_is_private=False, action="follow")
    token = AccessToken.objects.filter(user=user, application=app, expires__gt=timezone.now()).first()
    if token is None:
        token = AccessToken.objects.create(
            user=user,
            application=app,
            token=f"bench-{os.urandom(16).hex()}",
            expires=timezone.now() + timedelta(days=30),
            scope="basic",
        )
    return BenchAccounts(token=token.token, user_id=user.id, other_id=other.id)


# ------------------------------------------------------------------ photos

PHOTO_SCOPE = "basic likes comments"


def photo_jpeg(*, side: int = 1080, seed: int = 0, quality: int = 90) -> bytes:
    """A photo-like JPEG: colour gradients, soft discs and sensor-like noise (about 420 KB at 1080 px, q90).

    A flat colour would compress to nothing and decode in no time; this costs
    the decoder and the encoder about what a phone photo does.
    """
    from PIL import Image, ImageChops, ImageDraw, ImageFilter

    rng = random.Random(seed)
    linear = Image.linear_gradient("L").resize((side, side))
    radial = Image.radial_gradient("L").resize((side, side))
    turn = rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270])
    green = radial.transpose(Image.Transpose.ROTATE_90)
    image = Image.merge("RGB", [linear, green, ImageChops.invert(linear.transpose(turn))])
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, radius = rng.randrange(side), rng.randrange(side), rng.randrange(side // 40, side // 6)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(side / 200))
    noise = Image.merge("RGB", [Image.effect_noise((side, side), 12) for _ in range(3)])
    image = ImageChops.add(image, noise, offset=-128)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def bench_users(
    prefix: str, count: int, *, scope: str = PHOTO_SCOPE, mobile_app: bool = False
) -> list[tuple[int, str]]:
    """Return (user id, token) of accounts `<prefix>0000`... with live tokens of the benchmarks client.

    With mobile_app, the tokens are the mobile app's instead: the endpoints
    only it may call (uploads) refuse any other client's. Made in bulk on
    the first call (a few statements for hundreds of accounts), found on
    the next ones.
    """
    setup_django()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    from users.models import User

    app = Application.objects.get(client_id=settings.MOBILE_CLIENT_ID) if mobile_app else bench_application()
    names = [f"{prefix}{i:04d}" for i in range(count)]
    unusable = make_password(None)
    User.objects.bulk_create(
        [User(username=name, full_name=f"Bench {name}", password=unusable) for name in names],
        ignore_conflicts=True,
    )
    ids: dict[str, int] = dict(User.objects.filter(username__in=names).values_list("username", "id"))
    now = timezone.now()
    wanted = set(scope.split())
    tokens: dict[int, str] = {}
    live = AccessToken.objects.filter(
        application=app, user_id__in=ids.values(), expires__gt=now + timedelta(days=1)
    ).values_list("user_id", "token", "scope")
    for user_id, raw, token_scope in live:
        if raw and wanted <= set(token_scope.split()):
            tokens.setdefault(user_id, raw)
    fresh = [
        AccessToken(
            user_id=user_id,
            application=app,
            token=f"bench-{os.urandom(16).hex()}",
            expires=now + timedelta(days=30),
            scope=scope,
        )
        for user_id in ids.values()
        if user_id not in tokens
    ]
    AccessToken.objects.bulk_create(fresh)
    tokens.update({token.user_id: token.token for token in fresh})
    return [(ids[name], tokens[ids[name]]) for name in names]


@dataclass(frozen=True)
class PhotoFixtures:
    reader_token: str  # bench_reader's: reads read_media
    uploaders: list[tuple[int, str]]  # (user id, token); these accounts post nothing but benchmark uploads
    likers: list[tuple[int, str]]  # (user id, token) with scope likes
    like_media: dict[int, int]  # media id -> owner id: what the like benchmark likes (reset between runs)
    read_media: int  # bench_author's media with likes and comments, for GET /v1/media/{id}
    page_media: list[int]  # liked, tagged #benchmark, at one place: the popular, tag and location pages
    location_id: int  # where page_media were taken


BENCH_TAG = "benchmark"
PAGE_MEDIA = 20  # a full page of popular, tag and location media


def photo_fixtures(
    *, uploaders: int = 64, likers: int = 400, like_media: int = 50, owners: int = 10
) -> PhotoFixtures:
    """Accounts and media for bench/photos.py: `like_media` media of `owners` accounts (so on several
    shards), one media of bench_author's with likes and comments, and PAGE_MEDIA media at one place,
    each liked and commented, which fill the popular, tag and location pages.

    The media are posted through photos.actions with upload keys, so a
    second run finds them rather than posting again.
    """
    accounts = bench_accounts()
    from photos.actions import check_comment_media, check_upload_media, do_like_media
    from photos.cache import COMMENTS_SHOWN, LIKES_SHOWN, media_cards
    from users.cache import profile
    from users.models import User

    small = photo_jpeg(side=320, seed=1, quality=80)

    def post(owner: User, key: str, **place: str) -> int:
        values = {"caption": f"a benchmark photo #{BENCH_TAG}", "filter": "normal", **place}
        media, _ = check_upload_media(owner=owner, photo=small, values=values, upload_key=key)
        return int(media.id)

    owner_users = User.objects.in_bulk([user_id for user_id, _ in bench_users("bench_owner_", owners)])
    liked: dict[int, int] = {}
    for i in range(like_media):
        owner = owner_users[sorted(owner_users)[i % owners]]
        liked[post(owner, f"bench-like-{i:03d}")] = owner.id

    author = User.objects.get(id=accounts.other_id)
    read_id = post(author, "bench-read")
    liker_accounts = bench_users("bench_liker_", likers)
    card = media_cards([read_id])[read_id]
    author_profile = profile(author.id)
    assert author_profile is not None
    wanted_likes, wanted_comments = LIKES_SHOWN * 5, COMMENTS_SHOWN + 2
    people = User.objects.in_bulk([user_id for user_id, _ in liker_accounts[:wanted_likes]])
    if card.like_count < wanted_likes:
        for user in people.values():
            do_like_media(user=user, card=card, owner=author_profile)
    for user in list(people.values())[: max(0, wanted_comments - card.comment_count)]:
        check_comment_media(user=user, card=card, text=f"@{author.username} lovely light #benchmark")

    place = {"lat": "37.8080", "lng": "-122.4177", "location_name": "Bench Pier"}
    page_media = [
        post(owner_users[sorted(owner_users)[i % owners]], f"bench-page-{i:03d}", **place)
        for i in range(PAGE_MEDIA)
    ]
    # popular ranks likes of the last two days on media under three days old: a fresh stack's.
    fans = list(people.values())[:LIKES_SHOWN]
    for page_card in media_cards(page_media).values():
        owner_profile = profile(page_card.user_id)
        assert owner_profile is not None
        if page_card.like_count < len(fans):
            for user in fans:
                do_like_media(user=user, card=page_card, owner=owner_profile)
        if page_card.comment_count == 0:
            check_comment_media(user=fans[0], card=page_card, text="lovely light #benchmark")
    location_id = media_cards(page_media[:1])[page_media[0]].location
    assert location_id is not None
    assert location_id.id is not None
    return PhotoFixtures(
        reader_token=accounts.token,
        uploaders=bench_users("bench_uploader_", uploaders, mobile_app=True),
        likers=liker_accounts,
        like_media=liked,
        read_media=read_id,
        page_media=page_media,
        location_id=location_id.id,
    )


def _by_shard(user_ids: Iterable[int]) -> dict[int, list[int]]:
    from sharding.routing import user_shard

    grouped: dict[int, list[int]] = defaultdict(list)
    for user_id in user_ids:
        grouped[user_shard(user_id)].append(user_id)
    return grouped


def _by_media_shard(media_ids: Iterable[int]) -> dict[int, list[int]]:
    from sharding.routing import id_shard

    grouped: dict[int, list[int]] = defaultdict(list)
    for media_id in media_ids:
        grouped[id_shard(media_id)].append(media_id)
    return grouped


def clear_likes(media: dict[int, int], user_ids: list[int]) -> None:
    """Remove every like of `media` (both halves; the likers are `user_ids`), as if never liked."""
    from photos import popular
    from photos.cache import CARDS
    from photos.models import Like, LikedMedia, Media
    from sharding.routing import use_shard

    for shard, ids in _by_media_shard(media).items():
        with use_shard(shard):
            Like.objects.filter(media_id__in=ids).delete()
            Media.objects.filter(id__in=ids).update(like_count=0)
    for shard, users in _by_shard(user_ids).items():
        with use_shard(shard):
            LikedMedia.objects.filter(user_id__in=users, media_id__in=list(media)).delete()
    CARDS.forget_now(list(media))
    for media_id in media:
        popular.forget_media(media_id=media_id)


def clear_comments(media: dict[int, int]) -> None:
    """Remove every comment of `media`, as if never commented (the captions stay: they are the media's)."""
    from photos.cache import CARDS
    from photos.models import Comment, Media
    from sharding.routing import use_shard

    for shard, ids in _by_media_shard(media).items():
        with use_shard(shard):
            Comment.objects.filter(media_id__in=ids).delete()
            Media.objects.filter(id__in=ids).update(comment_count=0)
    CARDS.forget_now(list(media))


def fill_likes(media: dict[int, int], user_ids: list[int]) -> None:
    """Make every one of `user_ids` like every one of `media`, in bulk (both halves, exact counts).

    A like the previous wrk run left in flight (the app finishes a request
    after wrk has stopped waiting) may land after the clear: it is one of
    these pairs, so it is kept as it is.
    """
    from django.db import connections

    from photos.cache import CARDS
    from photos.models import Like, LikedMedia, Media
    from sharding.routing import use_shard

    clear_likes(media, user_ids)
    for shard, ids in _by_media_shard(media).items():
        with use_shard(shard) as context, connections[context.alias].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Like._meta.db_table} (media_id, user_id) "  # names from models
                "SELECT m, u FROM unnest(%s::bigint[]) AS m CROSS JOIN unnest(%s::bigint[]) AS u "
                "ON CONFLICT DO NOTHING",
                [ids, user_ids],
            )
            Media.objects.filter(id__in=ids).update(like_count=len(user_ids))
    for shard, users in _by_shard(user_ids).items():
        with use_shard(shard) as context, connections[context.alias].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LikedMedia._meta.db_table} (user_id, media_id, owner_id) "
                "SELECT u, m.id, m.owner FROM unnest(%s::bigint[]) AS u "
                "CROSS JOIN unnest(%s::bigint[], %s::bigint[]) AS m(id, owner) "
                "ON CONFLICT DO NOTHING",
                [users, list(media), list(media.values())],
            )
    CARDS.forget_now(list(media))


def delete_media_of(user_ids: list[int], *, threads: int = 4) -> int:
    """Delete every media of `user_ids` as a user would (rows, S3 objects, CDN copies, indexes).

    The benchmark's uploads go this way, so the dev S3 (in memory) does not
    grow from run to run. Return how many media were deleted.
    """
    from django.db import connections

    from photos.actions import do_delete_media
    from photos.models import Media
    from sharding.routing import use_shard

    found: dict[int, list[int]] = defaultdict(list)
    for shard, users in _by_shard(user_ids).items():
        with use_shard(shard):
            for media_id, owner_id in Media.objects.filter(user_id__in=users).values_list("id", "user_id"):
                found[owner_id].append(media_id)

    def delete(owner_ids: list[int]) -> None:
        try:
            for owner_id in owner_ids:  # one owner per thread: their count row is never contended
                for media_id in found[owner_id]:
                    do_delete_media(media_id=media_id, owner_id=owner_id)
        finally:
            connections.close_all()

    owners = sorted(found)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(delete, [owners[i::threads] for i in range(threads)]))
    return sum(len(ids) for ids in found.values())
