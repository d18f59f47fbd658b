"""Backups into the object store, and restores from it.

PostgreSQL: barman-cloud (Debian's barman-cli-cloud) does the work. Each node's
archive_command ships every WAL segment gzipped to s3://BACKUP_BUCKET/postgres
(deploy/postgresql/postgresql.conf); base backups go next to it; a restore
fetches a base backup and replays archived WAL up to a point in time, in a
scratch cluster of its own. Both nodes archive under one server name, so the
archive goes on across a failover (the new timeline's history file with it).

Redis: the replica dumps (BGSAVE; dumping on the primary was too taxing in
2011), and the dump is uploaded under a timestamped key. A restore loads a dump
into the primary, and the replica follows with a full resync.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management.base import CommandError

from instagram.redis_client import redis_primary, redis_replica
from ops.layout import Progress
from ops.topology import Topology, TopologyError
from photos.storage import create_bucket_unless_exists, s3_client

# barman's name for the cluster: the folder of its WAL and base backups.
SERVER_NAME = "instagram"
REDIS_PREFIX = "redis/"


def postgres_url() -> str:
    return f"s3://{settings.BACKUP_BUCKET}/postgres"


def barman(tool: str, *args: str) -> list[str]:
    endpoint = ["--endpoint-url", settings.S3_ENDPOINT_URL] if settings.S3_ENDPOINT_URL else []
    return [f"/usr/bin/{tool}", *endpoint, *args]


def barman_env() -> dict[str, str]:
    """Return the credentials barman-cloud (boto3) reads from its environment."""
    return {
        "AWS_ACCESS_KEY_ID": settings.AWS_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": settings.AWS_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": settings.S3_REGION,
    }


def run_streaming(cmd: list[str], progress: Progress, *, user: str | None = None) -> None:
    """Run `cmd`, passing each line of its output to `progress`; fail with its last lines."""
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    tail: list[str] = []
    with subprocess.Popen(
        cmd,
        env={"PATH": "/usr/bin:/bin", **barman_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            progress(line.rstrip())
            tail = [*tail[-19:], line.rstrip()]
    if process.returncode != 0:
        raise CommandError(f"{Path(cmd[0]).name} failed ({process.returncode}):\n" + "\n".join(tail))


def ensure_backup_bucket() -> None:
    create_bucket_unless_exists(settings.BACKUP_BUCKET)


# ---------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class BaseBackup:
    backup_id: str
    begin_time: datetime
    end_time: datetime
    timeline: int
    # The node's configuration file, which barman puts into the backup's data folder.
    config_file: str


def _barman_time(value: str) -> datetime:
    """Parse a time of barman's backup list: ctime format, the database host's local time."""
    return datetime.strptime(value, "%a %b %d %H:%M:%S %Y").astimezone(UTC)


def list_postgres_backups() -> list[BaseBackup]:
    """Return the finished base backups in the object store, oldest first."""
    output = subprocess.run(
        barman("barman-cloud-backup-list", "--format", "json", postgres_url(), SERVER_NAME),
        env={"PATH": "/usr/bin:/bin", **barman_env()},
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise CommandError(f"barman-cloud-backup-list failed:\n{output.stderr.strip()}")
    listed: list[dict[str, Any]] = json.loads(output.stdout)["backups_list"]
    backups = [
        BaseBackup(
            backup_id=str(row["backup_id"]),
            begin_time=_barman_time(str(row["begin_time"])),
            end_time=_barman_time(str(row["end_time"])),
            timeline=int(row["timeline"]),
            config_file=Path(str(row["config_file"])).name,
        )
        for row in listed
        if row.get("status") == "DONE"
    ]
    return sorted(backups, key=lambda backup: backup.end_time)


def backup_postgres(t: Topology, progress: Progress, *, gzip: bool = False) -> BaseBackup:
    """Take a base backup of the primary into the object store; return it.

    Uncompressed unless `gzip`: barman compresses in one Python process, at a
    few MB/s of the database host's CPU (130 MB: 10 s plain, 45 s gzipped, on
    the 2-core test machine). WAL is always gzipped (archive_command).
    """
    primary = t.node(t.primary())
    ensure_backup_bucket()
    known = {backup.backup_id for backup in list_postgres_backups()}
    progress(
        f"base backup of {primary.name} into {postgres_url()} (barman-cloud-backup{', gzip' if gzip else ''})"
    )
    started = time.monotonic()
    run_streaming(
        barman(
            "barman-cloud-backup",
            "-v",
            *(["--gzip"] if gzip else []),
            "--immediate-checkpoint",
            "--host",
            str(t.socket_dir),
            "--port",
            str(primary.port),
            "--user",
            "postgres",
            postgres_url(),
            SERVER_NAME,
        ),
        progress,
    )
    new = [backup for backup in list_postgres_backups() if backup.backup_id not in known]
    if not new:
        raise CommandError("barman-cloud-backup succeeded but no new backup is listed")
    progress(f"base backup {new[-1].backup_id} done in {time.monotonic() - started:.1f}s")
    return new[-1]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def restore_postgres(
    t: Topology,
    *,
    target_time: datetime,
    into: Path,
    port: int,
    backup_id: str | None,
    progress: Progress,
    timeout: float = 300,
) -> None:
    """Restore the cluster as it was at `target_time` into a new data folder `into`, served on `port`.

    The newest base backup that ended before `target_time` (or `backup_id`)
    is fetched and archived WAL replayed until `target_time`; the cluster is
    then promoted, and left running. It never archives (archive_mode off):
    its timeline must not mix into the real archive.
    """
    if into.exists() and any(into.iterdir()):
        raise CommandError(f"{into} is not empty: restore into a new folder")
    backups = list_postgres_backups()
    if backup_id is None:
        usable = [backup for backup in backups if backup.end_time <= target_time]
        if not usable:
            raise CommandError(f"no base backup ended before {target_time.isoformat()}")
        chosen = usable[-1]
    else:
        matches = [backup for backup in backups if backup.backup_id == backup_id]
        if not matches:
            raise CommandError(
                f"no base backup {backup_id}; known: {', '.join(b.backup_id for b in backups)}"
            )
        chosen = matches[0]
    started = time.monotonic()
    progress(f"fetching base backup {chosen.backup_id} (ended {chosen.end_time.isoformat()}) into {into}")
    into.mkdir(parents=True, exist_ok=True)
    run_streaming(
        barman("barman-cloud-restore", postgres_url(), SERVER_NAME, chosen.backup_id, str(into)), progress
    )
    # The node's own settings (max_connections and the like must not be
    # lower than the primary's), then these, which win: postgresql.auto.conf
    # is read last.
    with (into / "postgresql.conf").open("a") as conf:
        conf.write(f"\ninclude_if_exists = {_quote(chosen.config_file)}\n")
    restore_command = " ".join(barman("barman-cloud-wal-restore", postgres_url(), SERVER_NAME, "%f", "%p"))
    overrides = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(into),
        "hba_file": str(into / "pg_hba.conf"),
        "cluster_name": "restore",
        "archive_mode": "off",
        "synchronous_standby_names": "",
        "restore_command": restore_command,
        "recovery_target_time": target_time.isoformat(),
        "recovery_target_action": "promote",
        "hot_standby": "on",
        "logging_collector": "off",
    }
    with (into / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n# manage.py restore_postgres\n")
        conf.writelines(f"{name} = {_quote(value)}\n" for name, value in overrides.items())
    (into / "standby.signal").unlink(missing_ok=True)
    (into / "recovery.signal").touch()
    if os.geteuid() == 0:
        t.run(["chown", "-R", f"{t.service_user}:{t.service_user}", str(into)])
    into.chmod(0o700)
    progress(f"replaying archived WAL up to {target_time.isoformat()} (pg_ctl, port {port})")
    log = into / "restore.log"
    result = t.run(
        [
            str(t.pg_bin / "pg_ctl"),
            "-D",
            str(into),
            "-l",
            str(log),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        ],
        as_service_user=True,
        env=barman_env(),
        check=False,
    )
    if result.returncode != 0:
        raise CommandError(f"the restored cluster did not start:\n{_tail(log)}")
    deadline = time.monotonic() + timeout
    while _in_recovery(into, port):
        if time.monotonic() > deadline:
            raise CommandError(
                f"recovery did not reach {target_time.isoformat()} in {timeout:.0f}s:\n{_tail(log)}"
            )
        time.sleep(0.2)
    progress(
        f"restored to {target_time.isoformat()} in {time.monotonic() - started:.1f}s: "
        f"psql -h 127.0.0.1 -p {port} -U {t.db_user} {t.database}; "
        f"stop it with `manage.py restore_postgres --stop --into {into}`"
    )


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _in_recovery(datadir: Path, port: int) -> bool:
    try:
        with psycopg.connect(host=str(datadir), port=port, user="postgres", dbname="postgres") as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.OperationalError as exc:
        # Typically a target with no commit after it in the archive: recovery
        # cannot tell it got there, and stops the server.
        raise CommandError(f"the restored cluster stopped:\n{_tail(datadir / 'restore.log')}") from exc
    return bool(row and row[0])


def stop_restored(t: Topology, datadir: Path) -> None:
    t.run([str(t.pg_bin / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"], as_service_user=True)


# ---------------------------------------------------------------- Redis


def _dump_path(client: redis.Redis) -> Path:
    config = client.config_get("dir")
    config.update(client.config_get("dbfilename"))
    return Path(str(config["dir"])) / str(config["dbfilename"])


def backup_redis(progress: Progress, *, timeout: float = 300) -> str:
    """Dump the Redis replica (BGSAVE) and upload the dump; return its key in BACKUP_BUCKET."""
    replica = redis_replica()
    saves = int(replica.info("persistence")["rdb_saves"])
    progress("BGSAVE on the Redis replica")
    started = time.monotonic()
    # SCHEDULE: an AOF rewrite in progress delays the dump instead of refusing it.
    replica.bgsave(schedule=True)
    while True:
        info = replica.info("persistence")
        if int(info["rdb_saves"]) > saves and not info["rdb_bgsave_in_progress"]:
            break
        if time.monotonic() - started > timeout:
            raise CommandError(f"the replica's BGSAVE did not finish in {timeout:.0f}s")
        time.sleep(0.1)
    if info["rdb_last_bgsave_status"] != "ok":
        raise CommandError("the replica's BGSAVE failed; read its log")
    ensure_backup_bucket()
    key = f"{REDIS_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}.rdb"
    with tempfile.TemporaryDirectory() as folder:
        # A copy: the next BGSAVE replaces the file while the upload runs.
        copy = Path(folder) / "dump.rdb"
        shutil.copyfile(_dump_path(replica), copy)
        size = copy.stat().st_size
        progress(f"uploading {size} bytes to s3://{settings.BACKUP_BUCKET}/{key}")
        s3_client().upload_file(str(copy), settings.BACKUP_BUCKET, key)
    progress(f"Redis backup {key} done in {time.monotonic() - started:.1f}s")
    return key


def list_redis_backups() -> list[str]:
    """Return the keys of the Redis dumps in the object store, oldest first (keys sort by time)."""
    paginator = s3_client().get_paginator("list_objects_v2")
    keys: list[str] = []
    for page in paginator.paginate(Bucket=settings.BACKUP_BUCKET, Prefix=REDIS_PREFIX):
        keys.extend(str(item["Key"]) for item in page.get("Contents", []))
    return sorted(keys)


def restore_redis(t: Topology, *, key: str | None, progress: Progress, timeout: float = 120) -> str:
    """Replace the Redis primary's data with dump `key` (default: the newest); the replica resyncs.

    The primary is stopped (its service manager), the dump put in its place, and the
    primary started again; writes meanwhile fail as they do when Redis is
    down. The primary keeps no AOF (appendonly no), so it loads the dump; the
    replica's AOF is replaced by the full resync that follows.
    """
    if key is None:
        keys = list_redis_backups()
        if not keys:
            raise CommandError(f"no Redis backup under s3://{settings.BACKUP_BUCKET}/{REDIS_PREFIX}")
        key = keys[-1]
    primary = redis_primary()
    target = _dump_path(primary)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        download = Path(folder) / "dump.rdb"
        progress(f"downloading s3://{settings.BACKUP_BUCKET}/{key}")
        try:
            s3_client().download_file(settings.BACKUP_BUCKET, key, str(download))
        except ClientError as exc:
            raise CommandError(f"cannot fetch {key}: {exc}") from exc
        progress("stopping the Redis primary")
        t.service("stop", t.redis_service)
        # After the stop: its shutdown writes a dump of its own.
        staged = target.with_name(f"{target.name}.restore")
        shutil.copyfile(download, staged)
        if os.geteuid() == 0:
            shutil.chown(staged, t.service_user, t.service_user)
        staged.replace(target)
    progress("starting the Redis primary on the restored dump")
    try:
        t.start_service(t.redis_service, port=t.redis_port)
    except TopologyError as exc:
        raise CommandError(str(exc)) from exc
    _wait(lambda: not int(primary.info("persistence")["loading"]), timeout, "the primary to load the dump")
    loaded = int(primary.dbsize())
    progress(f"primary loaded {loaded} keys; waiting for the replica's full resync")
    replica = redis_replica()

    def replica_synced() -> bool:
        # The restarted primary has a new replication id: the replica takes
        # it on only with a full resync, which replaces its data and its AOF.
        info = replica.info("replication")
        return bool(
            info.get("master_link_status") == "up"
            and not info.get("master_sync_in_progress")
            and info.get("master_replid") == primary.info("replication")["master_replid"]
        )

    _wait(replica_synced, timeout, "the replica to resync")
    progress(f"Redis restored from {key} in {time.monotonic() - started:.1f}s ({loaded} keys)")
    return key


def _wait(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except (redis.ConnectionError, redis.BusyLoadingError):
            pass
        if time.monotonic() > deadline:
            raise CommandError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
