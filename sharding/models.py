"""The shard map (main database) and the base class of sharded models."""

from typing import Any

from django.db import models
from django.db.models import Func


class Shard(models.Model):
    """One logical shard, and the physical database (a Django alias) holding its schema.

    This table is the shard map: `manage.py create_shards` fills it, and
    `manage.py move_shard` changes one row when a shard moves.
    """

    logical = models.PositiveSmallIntegerField(primary_key=True)
    database = models.CharField(max_length=64)

    class Meta:
        db_table = "sharding_shard"
        ordering = ["logical"]

    def __str__(self) -> str:
        return f"shard {self.logical} on {self.database}"


class ShardedIdField(models.BigIntegerField):  # type: ignore[type-arg]
    """A primary key made by the shard schema's own `next_id()` on insert."""

    db_returning = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("primary_key", True)
        # Resolved through the shard's search_path when the table is created,
        # so each schema's default calls that schema's function.
        kwargs.setdefault("db_default", Func(function="next_id", output_field=models.BigIntegerField()))
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("db_default", None)
        kwargs.pop("primary_key", None)
        return name, path, args, kwargs


class ShardedModel(models.Model):
    """Base of every model stored in the logical shards rather than the main database.

    Reached only inside `sharding.routing.use_shard()` (or its shortcuts);
    the router refuses a sharded model anywhere else.
    """

    id = ShardedIdField()

    class Meta:
        abstract = True
