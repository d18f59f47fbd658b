from django.db import models
from django.db.models.functions import Now

from sharding.models import ShardedModel


class Kind(models.TextChoices):
    """One side of a relationship, as its owner sees it.

    The first three are outgoing (what the owner did), the last three their
    mirror images, stored on the other user's shard.
    """

    FOLLOWS = "follows"
    REQUESTED = "requested"
    BLOCKS = "blocks"
    FOLLOWED_BY = "followed_by"
    REQUESTED_BY = "requested_by"
    BLOCKED_BY = "blocked_by"


class Edge(ShardedModel):
    """One half of a follow, follow request or block, on `user_id`'s shard.

    Every relationship is stored twice: `A follows B` on A's shard and
    `B followed_by A` on B's, so that both "whom does A follow" and "who
    follows B" (the feed fan-out's question) are shard-local index scans.
    Only `relationships.actions` writes edges, both halves at once.
    """

    user_id = models.BigIntegerField()
    other_id = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "relationship_edge"
        constraints = [
            models.UniqueConstraint(fields=["user_id", "other_id", "kind"], name="relationship_edge_once"),
        ]
        # Lists (follows, followed-by, requests) newest first, paged by id.
        indexes = [models.Index(fields=["user_id", "kind", "-id"], name="relationship_edge_list")]
