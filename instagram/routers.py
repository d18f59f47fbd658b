"""Database routing: unsharded tables live in the main database.

The sharding layer adds its own router for sharded models in front of this
one; until a model opts into sharding, reads and writes go to `default`, and
migrations are applied to `default` only (never to a replica alias).
"""

from typing import Any

from django.db.models import Model


class MainDatabaseRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return "default"

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == "default"
