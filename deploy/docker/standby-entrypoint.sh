#!/bin/sh
# Hot standby for docker-compose: clone the primary once with pg_basebackup,
# then run as a streaming replica.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h postgres -p 5432; do sleep 1; done
    PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h postgres -p 5432 -U replicator \
        -D "$PGDATA" -X stream -R -S standby1 --checkpoint=fast
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
