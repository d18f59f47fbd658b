"""The news entry codec: one typed entry, encoded to the very JSON members lists already hold."""

import pytest

from feeds.news import NewsEntry

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`


def test_an_entry_encodes_to_the_member_written_before_the_class() -> None:
    like = NewsEntry(id="like:7:3", type="like", actor_id=3, media_id=7)
    # The member the handlers wrote as a dict (sorted keys, no spaces): dedupe and removal match it.
    assert like.to_json() == '{"actor_id":3,"id":"like:7:3","media_id":7,"type":"like"}'
    mention = NewsEntry(id="mention:7:0", type="mention", actor_id=3, media_id=7, text="")
    assert mention.to_json() == '{"actor_id":3,"id":"mention:7:0","media_id":7,"text":"","type":"mention"}'


def test_an_entry_survives_the_round_trip_through_redis_and_a_job() -> None:
    entry = NewsEntry(
        id="comment:9", type="comment", actor_id=3, media_id=7, comment_id=9, text="hi", owner_id=5
    )
    assert NewsEntry.from_json(entry.to_json()) == entry
    assert NewsEntry.from_dict(entry.as_dict()) == entry
    assert entry.names(5)
    assert entry.names(3)
    assert not entry.names(7)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"actor_id":3,"id":"x","type":"poke"}', "unknown news entry type 'poke'"),
        ('{"actor_id":3,"id":"x","type":"like","mood":"happy"}', "unknown news entry fields ['mood']"),
    ],
)
def test_an_entry_it_cannot_read_is_refused_by_name(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        NewsEntry.from_json(raw)
