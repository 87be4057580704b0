"""The RDS drill target (runbook 2.1 on AWS): ``drill --stack staging``.

Before anything changes, prod, stacks that are not drill targets and databases not tagged
``maestro:drill-target=true`` are refused. Step 2 picks an explicit snapshot, a point in time inside the
restorable window, or the newest snapshot; step 3 restores it into the stack's isolated drill subnet
group and security group, tagged with the drill id, and checks every table reads; step 4 compares the
newest S3 Inventory of the artifacts bucket with the bucket; step 10 deletes only instances carrying
this drill's tag.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from backupctl.drill import checks, dbbackup, steps
from backupctl.drill.checks import Query, SmokeSuite, write_heartbeat
from backupctl.drill.pgtools import Conn, PgError, sql
from backupctl.drill.recorder import Drill, StepFailed, StepSkipped
from backupctl.errors import BadInput, RefusedError

DRILL_TAG = "maestro:drill-id"
Connector = Callable[[dict[str, Any], str], Query]  # instance, dbname -> query runner


@dataclass
class RdsOptions:
    clients: Any
    outputs: dict[str, Any]
    report_dir: Path
    source: str | None = None
    point_in_time: datetime | None = None
    snapshot: str | None = None
    keep: bool = False
    suite: SmokeSuite | None = None
    smoke_command: str | None = None
    connect: Connector | None = None
    waiter_delay: int = 30
    waiter_attempts: int = 120  # 60 minutes: large restores take a while
    dbname: str = "postgres"


def psql_connector(clients: Any, region: str) -> Connector:
    """Connects with psql as the master user; the password comes from the RDS-managed secret and is only
    handed to psql in its environment, never printed or stored."""

    def connect(instance: dict[str, Any], dbname: str) -> Query:
        secret_arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
        env: dict[str, str] = {"PGSSLMODE": "require", "PGCONNECT_TIMEOUT": "15"}
        if secret_arn:
            value = clients.client("secretsmanager", region).get_secret_value(SecretId=secret_arn)[
                "SecretString"
            ]
            env["PGPASSWORD"] = json.loads(value)["password"]
        conn = Conn(
            host=instance["Endpoint"]["Address"],
            port=int(instance["Endpoint"]["Port"]),
            user=instance["MasterUsername"],
            dbname=dbname,
            env=env,
        )
        return lambda statement: sql(conn, statement)

    return connect


def _tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])}


def refuse_unless_drill_target(outputs: dict[str, Any], rds: Any, identifier: str) -> dict[str, Any]:
    """Step 1's refusals: never prod, never a stack or database not marked as a drill target."""
    if outputs.get("environment") == "prod":
        raise RefusedError("drills never run against prod: use the staging stack (runbook 2.1 step 1)")
    if outputs.get("drillTarget") is not True:
        raise RefusedError(
            f"stack {outputs.get('environment')} is not a drill target (output drillTarget is not true)"
        )
    if not outputs.get("drillSubnetGroup") or not outputs.get("drillSecurityGroupId"):
        raise RefusedError("the stack has no isolated drill network (drillSubnetGroup, drillSecurityGroupId)")
    try:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except ClientError as exc:
        raise BadInput(
            "--source",
            "a database of the stack that exists",
            f"{identifier} ({exc.response['Error']['Code']})",
        ) from None
    if _tags(rds, instance["DBInstanceArn"]).get("maestro:drill-target") != "true":
        raise RefusedError(
            f"database {identifier} is not tagged maestro:drill-target=true; refusing to drill it"
        )
    return instance


def _chosen(kind: str, ident: str, point: datetime, description: str, why: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": ident,
        "createdAt": point.isoformat(),
        "description": description,
        "why": why,
        "point": point,
    }


def select_backup(rds: Any, instance: dict[str, Any], opts: RdsOptions) -> dict[str, Any]:
    """Step 2: an explicit snapshot, a PITR time inside the restorable window, or the newest snapshot."""
    ident = instance["DBInstanceIdentifier"]
    if opts.snapshot:
        try:
            snap = rds.describe_db_snapshots(DBSnapshotIdentifier=opts.snapshot)["DBSnapshots"][0]
        except ClientError:
            raise BadInput("--snapshot", f"a snapshot of {ident}", opts.snapshot) from None
        name = snap["DBSnapshotIdentifier"]
        return _chosen(
            "snapshot",
            name,
            snap["SnapshotCreateTime"],
            f"snapshot {name} ({snap.get('SnapshotType')})",
            "requested with --snapshot",
        )
    if opts.point_in_time:
        latest = instance.get("LatestRestorableTime")
        earliest = datetime.now(UTC) - timedelta(days=int(instance.get("BackupRetentionPeriod", 0)))
        if latest is None or not earliest <= opts.point_in_time <= latest:
            raise BadInput(
                "--point-in-time",
                f"a time between {earliest:%Y-%m-%dT%H:%M}Z and {latest}",
                opts.point_in_time.isoformat(),
            )
        moment = opts.point_in_time.isoformat()
        return _chosen(
            "point-in-time",
            moment,
            opts.point_in_time,
            f"point in time {moment} of {ident}",
            f"requested with --point-in-time; inside the restorable window (latest {latest.isoformat()})",
        )
    snaps = [
        s
        for p in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=ident)
        for s in p["DBSnapshots"]
        if s.get("Status") == "available"
    ]
    if not snaps:
        raise StepFailed(f"database {ident} has no available snapshot")
    newest = max(snaps, key=lambda s: s["SnapshotCreateTime"])
    return _chosen(
        "snapshot",
        newest["DBSnapshotIdentifier"],
        newest["SnapshotCreateTime"],
        f"snapshot {newest['DBSnapshotIdentifier']} ({newest.get('SnapshotType')}, "
        f"{newest['SnapshotCreateTime']:%Y-%m-%d %H:%M}Z)",
        f"the newest available of {len(snaps)} snapshot(s) of {ident}",
    )


def cleanup_rds(
    rds: Any, created: Sequence[str], drill_id: str, *, keep: bool, waiter: dict[str, int] | None = None
) -> str:
    """Deletes only instances this drill created, checked by their drill-id tag, never anything else,
    and waits until they are gone (so step 10's time is the real teardown time)."""
    if keep:
        return f"kept for inspection (--keep): {', '.join(created) or 'nothing'}"
    deleted, refused = [], []
    for ident in created:
        try:
            instance = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        except ClientError:
            continue  # the restore never started: nothing to delete
        if _tags(rds, instance["DBInstanceArn"]).get(DRILL_TAG) != drill_id:
            refused.append(ident)
            continue
        if instance.get("DeletionProtection"):
            # Restored without it on purpose; a restore that kept the source's (moto does, and a snapshot
            # of a protected prod copy could) must not leave the drill's own instance behind.
            rds.modify_db_instance(
                DBInstanceIdentifier=ident, DeletionProtection=False, ApplyImmediately=True
            )
        rds.delete_db_instance(
            DBInstanceIdentifier=ident, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
        )
        deleted.append(ident)
    for ident in deleted:
        rds.get_waiter("db_instance_deleted").wait(
            DBInstanceIdentifier=ident, WaiterConfig=waiter or {"Delay": 30, "MaxAttempts": 120}
        )
    if refused:
        raise StepFailed(f"not deleting {', '.join(refused)}: not tagged {DRILL_TAG}={drill_id}")
    return f"deleted {', '.join(deleted) or 'nothing'} and waited until gone (tagged {DRILL_TAG}={drill_id})"


class Rds:
    """``steps.Target`` on RDS: restores into the staging stack's isolated drill network."""

    def __init__(
        self, opts: RdsOptions, drill: Drill, spec: dict[str, Any], instance: dict[str, Any]
    ) -> None:
        self.opts, self.drill, self.instance = opts, drill, instance
        outputs = opts.outputs
        self.outputs = outputs
        self.region = str(outputs["region"])
        self.rds = opts.clients.client("rds", self.region)
        self.s3 = opts.clients.client("s3", self.region)
        self.evidence = steps.Evidence(
            self.s3,
            str(outputs.get("evidenceBucket") or "") or None,
            opts.report_dir,
            outputs.get("keyArns", {}).get("storage"),
        )
        self.smoke = steps.Smoke(opts.suite, opts.smoke_command)
        self.connector = opts.connect or psql_connector(opts.clients, self.region)
        self.target_id = f"{drill.id}-{spec['name']}"[:63]
        self.created: list[str] = []
        self.restored: steps.Restored | None = None

    def isolate(self) -> str:
        write_heartbeat(self.connector(self.instance, self.opts.dbname), self.drill.id, "before-drill")
        return (
            f"restore into subnet group {self.outputs['drillSubnetGroup']} and security group "
            f"{self.outputs['drillSecurityGroupId']}; tagged {DRILL_TAG}={self.drill.id}"
        )

    def select_backup(self) -> str:
        chosen = select_backup(self.rds, self.instance, self.opts)
        point = chosen.pop("point")
        self.drill.target_point = point if point.tzinfo else point.replace(tzinfo=UTC)
        self.drill.backup = chosen
        return f"{chosen['description']}: {chosen['why']}"

    def _start_restore(self) -> None:
        drill, outputs = self.drill, self.outputs
        common = {
            "DBSubnetGroupName": outputs["drillSubnetGroup"],
            "VpcSecurityGroupIds": [outputs["drillSecurityGroupId"]],
            "PubliclyAccessible": False,
            "MultiAZ": False,
            "DeletionProtection": False,
            "CopyTagsToSnapshot": False,
            "Tags": [
                {"Key": DRILL_TAG, "Value": drill.id},
                {"Key": "maestro:created-by", "Value": "backupctl drill"},
            ],
        }
        if drill.backup["kind"] == "point-in-time":
            self.rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier=self.instance["DBInstanceIdentifier"],
                TargetDBInstanceIdentifier=self.target_id,
                RestoreTime=drill.target_point,
                **common,
            )
            drill.point_in_time = drill.target_point.isoformat() if drill.target_point else None
        else:
            self.rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=self.target_id, DBSnapshotIdentifier=drill.backup["id"], **common
            )
        self.created.append(self.target_id)

    def restore(self) -> str:
        self._start_restore()
        target_id, opts = self.target_id, self.opts
        self.drill.log(f"waiting for {target_id} (db_instance_available, every {opts.waiter_delay} s)")
        self.rds.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=target_id,
            WaiterConfig={"Delay": opts.waiter_delay, "MaxAttempts": opts.waiter_attempts},
        )
        restored = self.rds.describe_db_instances(DBInstanceIdentifier=target_id)["DBInstances"][0]
        query = self.connector(restored, opts.dbname)
        # The smoke command reaches the restore, not the source; it fetches its own credentials.
        env = {
            "PGHOST": str(restored["Endpoint"]["Address"]),
            "PGPORT": str(restored["Endpoint"]["Port"]),
            "PGUSER": str(restored["MasterUsername"]),
            "PGDATABASE": opts.dbname,
            "PGSSLMODE": "require",
        }
        self.restored = steps.Restored(query, env, target_id)
        return self._check_tables(query)

    def _check_tables(self, query: Query) -> str:
        target_id = self.target_id
        tables = [r[0] for r in query(dbbackup.USER_TABLES)]
        if not tables:
            raise StepFailed(f"{target_id} restored with no user tables")
        unreadable = []
        for table in tables:
            try:
                query(f"select count(*) from {dbbackup.qualified(table)}")
            except PgError as exc:
                unreadable.append(f"{table} ({exc})")
        self.drill.finding(
            not unreadable,
            "restore-integrity",
            target_id,
            f"{len(tables) - len(unreadable)} of {len(tables)} tables readable"
            + (f"; unreadable: {', '.join(unreadable[:3])}" if unreadable else ""),
        )
        if unreadable:
            raise StepFailed(f"{len(unreadable)} table(s) unreadable after the restore")
        return f"{target_id} available; {len(tables)} tables readable"

    def artifacts_index(self) -> tuple[checks.Index, checks.Index, str]:
        bucket = str(self.outputs["artifactsBucket"])
        audit_bucket = str(self.outputs.get("auditBucket") or bucket)
        found = checks.newest_inventory(self.s3, audit_bucket, bucket)
        if found is None:
            raise StepSkipped(
                "no S3 inventory of the artifacts bucket delivered yet (first delivery within 48 h)",
                warn="artifacts-index",
                resource=bucket,
            )
        return found[1], checks.listing(self.s3, bucket), f"s3://{audit_bucket}/{found[0]}"

    def replay(self) -> str:
        # RDS replays the log itself when restoring to a point in time; this reads where it stopped.
        newest = checks.newest_heartbeat(self.connect().query)
        drill = self.drill
        drill.newest_transaction = newest.isoformat() if newest else None
        return (
            f"restored point {drill.target_point.isoformat() if drill.target_point else 'n/a'}; "
            f"newest transaction found {drill.newest_transaction or 'none'}"
        )

    def restore_config(self) -> str:
        return checks.config_dry_run(self.drill, self.opts.clients, self.outputs)

    def connect(self) -> steps.Restored:
        if self.restored is None:
            raise StepFailed("nothing was restored")
        return self.restored

    def clean_up(self) -> str:
        waiter = {"Delay": self.opts.waiter_delay, "MaxAttempts": self.opts.waiter_attempts}
        return cleanup_rds(self.rds, self.created, self.drill.id, keep=self.opts.keep, waiter=waiter)


def run_rds(
    opts: RdsOptions,
    out: TextIO | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    outputs = opts.outputs
    rds = opts.clients.client("rds", str(outputs["region"]))
    dbs = {str(d["name"]): d for d in outputs["databases"]} | {
        str(d["identifier"]): d for d in outputs["databases"]
    }
    spec = dbs.get(opts.source or str(outputs["databases"][0]["name"]))
    if spec is None:
        raise BadInput(
            "--source", f"one of {', '.join(sorted(d['name'] for d in outputs['databases']))}", opts.source
        )
    instance = refuse_unless_drill_target(outputs, rds, str(spec["identifier"]))
    drill = Drill(
        "rds",
        str(spec["identifier"]),
        str(spec["criticality"]),
        stack=str(outputs["environment"]),
        database=str(spec["name"]),
        out=out or sys.stderr,
        log_dir=opts.report_dir,
    )
    return steps.run(Rds(opts, drill, spec, instance), on_report)
