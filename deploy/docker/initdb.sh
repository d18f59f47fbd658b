#!/bin/sh
# Runs once in the postgres image's first start: the same roles and
# databases deploy/stack.py creates for the native stack.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE replicator REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
CREATE DATABASE instagram_main OWNER ${POSTGRES_USER};
CREATE DATABASE instagram_shard0 OWNER ${POSTGRES_USER};
CREATE DATABASE instagram_shard1 OWNER ${POSTGRES_USER};
ALTER DATABASE instagram_main SET timezone TO 'UTC';
ALTER DATABASE instagram_shard0 SET timezone TO 'UTC';
ALTER DATABASE instagram_shard1 SET timezone TO 'UTC';
SELECT pg_create_physical_replication_slot('standby1');
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
