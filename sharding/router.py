"""Database router for sharded models: the current shard context decides."""

from typing import Any

from django.apps import apps
from django.db.models import Model

from sharding.models import ShardedModel
from sharding.routing import ShardContextError, current_shard, migrating


def is_sharded(model: type[Model]) -> bool:
    return issubclass(model, ShardedModel)


class ShardRouter:
    """Route sharded models to the current shard context; refuse them outside one.

    Returns None for unsharded models, leaving them to the next router.
    """

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return current_shard().alias if is_sharded(model) else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        if not is_sharded(model):
            return None
        context = current_shard()
        if context.read_only:
            raise ShardContextError(f"write to {model.__name__} inside a read-only shard context")
        return context.alias

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        # Migrations hand over historical models, which do not inherit from
        # ShardedModel: ask the app registry about the current model instead.
        model: type[Model] | None = None
        if model_name is not None:
            try:
                model = apps.get_model(app_label, model_name)
            except LookupError:
                model = None
        if model is not None and is_sharded(model):
            return migrating.get()
        if migrating.get():
            return False  # unsharded tables never go into a shard schema
        return None
