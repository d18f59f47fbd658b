"""The job outbox, in the public schema of every physical database (main and shards).

Django migrates the main database only; a job's row must sit on the same
database as the write that causes it, so this creates the table on each
shard database too (idempotent, like create_shards).
"""

from typing import Any

from django.conf import settings
from django.db import connections, migrations

CREATE = """
CREATE TABLE IF NOT EXISTS public.workers_outbox (
    id bigserial PRIMARY KEY,
    function text NOT NULL,
    payload text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    due_at timestamptz NOT NULL,
    last_error text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS workers_outbox_due ON public.workers_outbox (due_at);
"""


def create_everywhere(apps: Any, schema_editor: Any) -> None:
    for alias in ["default", *settings.SHARD_DATABASES]:
        with connections[alias].cursor() as cursor:
            cursor.execute(CREATE)


def drop_everywhere(apps: Any, schema_editor: Any) -> None:
    for alias in ["default", *settings.SHARD_DATABASES]:
        with connections[alias].cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS public.workers_outbox")


class Migration(migrations.Migration):
    dependencies = [("workers", "0001_initial")]

    operations = [migrations.RunPython(create_everywhere, drop_everywhere)]
