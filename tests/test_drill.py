"""The restore drill (issue 6) against real PostgreSQL 15 binaries and a moto S3 server, and the RDS path
against moto.

moto's RDS point-in-time restore is a plain copy (RestoreTime is not checked), so the RPO logic of the
RDS path runs on stubbed heartbeat answers; the SQL of the RDS path goes to a stubbed connection because
moto's instances are not databases. Everything local is real: initdb, pg_dump, pg_restore,
pg_basebackup, WAL archiving and replay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backupctl.cli import main
from backupctl.drill.local import LocalOptions, run_local
from backupctl.drill.pgtools import (
    add_server,
    as_server_user,
    base_backup,
    bindir,
    chown_tree,
    scalar,
    sql,
    switch_wal_and_wait,
    tool,
    workspace,
)
from backupctl.drill.rds import DRILL_TAG, RdsOptions, cleanup_rds, run_rds
from backupctl.drill.recorder import TARGETS, StepFailed
from backupctl.drill.sandbox import LOCAL_BUCKET, LOCAL_EVIDENCE_BUCKET, embedded_s3
from backupctl.live.aws import Clients
from components.settings import CRITICALITY_TARGETS
from tests.drill_account import REGION, build

try:
    HAVE_PG = (bindir() / "initdb").exists()
except Exception:
    HAVE_PG = False
postgres = pytest.mark.skipif(not HAVE_PG, reason="PostgreSQL binaries (initdb, pg_dump) are not installed")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A base dir the postgres user can reach (pytest's tmp_path is root-only when we are root)."""
    path = Path(tempfile.mkdtemp(prefix="maestro-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _postgres_processes(marker: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if str(marker) in line and "postgres" in line]


def assert_nothing_left(workdir: Path) -> None:
    assert list(workdir.iterdir()) == [], f"left behind: {list(workdir.iterdir())}"
    assert _postgres_processes(workdir) == []


def local_options(clients: Clients, workdir: Path, report_dir: Path, **extra: Any) -> LocalOptions:
    return LocalOptions(
        clients=clients,
        bucket=LOCAL_BUCKET,
        evidence_bucket=LOCAL_EVIDENCE_BUCKET,
        report_dir=report_dir,
        orders=1500,
        workdir=str(workdir),
        **extra,
    )


def statuses(report: dict[str, Any]) -> dict[int, str]:
    return {s["number"]: s["status"] for s in report["steps"]}


# ---- local drill ----------------------------------------------------------------------------------------


@postgres
def test_full_local_drill_passes_and_cleans_up(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "drill",
            "--local",
            "--orders",
            "2000",
            "--workdir",
            str(workdir),
            "--report-dir",
            str(tmp_path),
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0, [f for f in report["findings"] if f["status"] != "PASS"]
    assert report["result"] == "PASS"
    assert set(statuses(report).values()) == {"PASS"}, statuses(report)
    assert report["rtoMet"] and report["rpoMet"] and report["rpoSeconds"] is not None
    checks = {f["check"] for f in report["findings"] if f["status"] == "PASS"}
    assert {
        "restore-integrity",
        "pitr-target",
        "artifacts-index",
        "config-restore",
        "smoke",
        "rto",
        "rpo",
    } <= checks
    assert "[ 3/10] Restore the database and verify integrity" in err  # progress, step by step
    assert (tmp_path / f"{report['drillId']}.json").exists()
    markdown = (tmp_path / f"{report['drillId']}.md").read_text()
    assert "```mermaid\ngantt" in markdown and "RTO (start to smoke pass)" in markdown
    assert report["evidence"]["lockMode"] == "COMPLIANCE"
    assert report["evidence"]["keys"][0].startswith(f"evidence/drills/{report['startedAt'][:10]}/")
    assert_nothing_left(workdir)


@postgres
def test_report_is_sealed_and_cannot_be_deleted_in_compliance_mode(workdir: Path, tmp_path: Path) -> None:
    with embedded_s3("COMPLIANCE", 90) as clients:
        report = run_local(local_options(clients, workdir, tmp_path))
        s3 = clients.client("s3")
        key = report["evidence"]["keys"][0]
        head = s3.head_object(Bucket=LOCAL_EVIDENCE_BUCKET, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=89)
        with pytest.raises(s3.exceptions.ClientError) as denied:
            s3.delete_object(Bucket=LOCAL_EVIDENCE_BUCKET, Key=key, VersionId=head["VersionId"])
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        stored = json.loads(s3.get_object(Bucket=LOCAL_EVIDENCE_BUCKET, Key=key)["Body"].read())
        assert stored["drillId"] == report["drillId"]


def _flip_bytes(s3: Any, manifest: dict[str, Any]) -> None:
    body = bytearray(s3.get_object(Bucket=manifest["bucket"], Key=manifest["key"])["Body"].read())
    for i in range(len(body) // 2, len(body) // 2 + 16):
        body[i] ^= 0xFF
    s3.put_object(Bucket=manifest["bucket"], Key=manifest["key"], Body=bytes(body))


@postgres
def test_corrupted_dump_fails_integrity_and_still_cleans_up(workdir: Path, tmp_path: Path) -> None:
    with embedded_s3("GOVERNANCE", 1) as clients:
        report = run_local(local_options(clients, workdir, tmp_path, after_backup=_flip_bytes))
    assert report["result"] == "FAIL"
    steps = statuses(report)
    assert steps[3] == "FAIL" and steps[10] == "PASS" and steps[9] == "PASS"
    assert all(steps[n] == "SKIP" for n in (4, 5, 6, 7, 8)), steps
    step3 = next(s for s in report["steps"] if s["number"] == 3)
    assert "differs from the manifest" in step3["detail"]
    assert not report["rtoMet"]
    assert_nothing_left(workdir)


@postgres
def test_missing_table_fails_integrity_with_a_clear_finding(workdir: Path, tmp_path: Path) -> None:
    def drop_after_dump(conn: Any) -> None:
        # The restore lost a table the backup had (as if pg_restore skipped it). audit_events has no
        # indexes, so pg_restore's post-data work, running meanwhile, does not touch it.
        sql(conn, "drop table audit_events")

    with embedded_s3("GOVERNANCE", 1) as clients:
        report = run_local(local_options(clients, workdir, tmp_path, after_restore=drop_after_dump))
    assert report["result"] == "FAIL"
    messages = [f["message"] for f in report["findings"] if f["status"] == "FAIL"]
    assert any("table public.audit_events is missing from the restore" in m for m in messages), messages
    assert_nothing_left(workdir)


@postgres
def test_failing_smoke_command_fails_the_drill_and_misses_rto(workdir: Path, tmp_path: Path) -> None:
    with embedded_s3("GOVERNANCE", 1) as clients:
        report = run_local(
            local_options(clients, workdir, tmp_path, smoke_command='test "$PGDATABASE" = nope')
        )
    assert statuses(report)[7] == "FAIL" and report["rtoSeconds"] is None
    assert_nothing_left(workdir)


@postgres
def test_cleanup_happens_even_when_a_step_raises_unexpectedly(workdir: Path, tmp_path: Path) -> None:
    def explode(conn: Any) -> None:
        raise RuntimeError("boom")

    with embedded_s3("GOVERNANCE", 1) as clients, pytest.raises(RuntimeError):
        run_local(local_options(clients, workdir, tmp_path, after_restore=explode))
    assert_nothing_left(workdir)


@postgres
def test_pitr_before_a_write_excludes_it_and_after_includes_it(workdir: Path) -> None:
    with workspace(base=str(workdir)) as (root, servers):
        archive = root / "wal"
        archive.mkdir()
        chown_tree(archive)
        source = add_server(root, servers, "src").init(archive_dir=archive).start()
        sql(source.conn, "create table ledger (id int primary key, at timestamptz default clock_timestamp())")
        base = base_backup(source.conn, root / "base")
        sql(source.conn, "insert into ledger (id) values (1)")
        between = scalar(source.conn, "select clock_timestamp()")
        time.sleep(0.05)
        sql(source.conn, "insert into ledger (id) values (2)")
        after = scalar(source.conn, "select clock_timestamp()")
        time.sleep(0.05)
        # Recovery stops at the first commit past its target, so one must exist past the later one.
        sql(source.conn, "insert into ledger (id) values (3)")
        switch_wal_and_wait(source.conn, archive)
        found = {}
        for name, target in (("between", between), ("after", after)):
            replica = add_server(root, servers, name)
            replica.recover_to(base, archive, target).start()
            replica.wait_promoted()
            found[name] = [r[0] for r in sql(replica.conn, "select id from ledger order by id")]
    assert found == {"between": ["1"], "after": ["1", "2"]}
    assert_nothing_left(workdir)


@postgres
def test_drill_history_lists_reports_with_rto_rpo_against_target(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with embedded_s3("GOVERNANCE", 1) as clients:
        run_local(local_options(clients, workdir, tmp_path))
        run_local(local_options(clients, workdir, tmp_path, smoke_command="exit 1"))
    assert main(["drill", "history", "--report-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["result"] for r in rows] == ["PASS", "FAIL"]
    assert rows[0]["rtoTargetMinutes"] == 240 and rows[0]["rpoTargetMinutes"] == 15 and rows[0]["rtoMet"]
    assert main(["drill", "history", "--report-dir", str(tmp_path)]) == 0
    assert "MISSED" in capsys.readouterr().out


@postgres
def test_backup_db_writes_dump_and_manifest(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 1) as clients:
        server = add_server(root, servers, "db").init().start()
        sql(
            server.conn,
            "create table pins (tenant text primary key, region text); "
            "insert into pins values ('a', 'eu-west-1'), ('b', 'eu-central-1')",
        )
        dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
        code = main(
            [
                "backup",
                "db",
                "--dsn",
                dsn,
                "--bucket",
                LOCAL_BUCKET,
                "--endpoint-url",
                str(clients.endpoint_url),
                "--region",
                "us-east-1",
                "--json",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        summary = json.loads(out)
        assert summary["tables"] == {"public.pins": 2}
        s3 = clients.client("s3")
        manifest = json.loads(s3.get_object(Bucket=LOCAL_BUCKET, Key=summary["manifestKey"])["Body"].read())
        assert manifest["sha256"] == summary["sha256"] and manifest["format"] == "pg_dump -Fc"
        assert s3.head_object(Bucket=LOCAL_BUCKET, Key=summary["key"])["ContentLength"] == manifest["bytes"]
    assert_nothing_left(workdir)


@pytest.mark.parametrize(
    ("argv", "env", "text"),
    [
        (("--orders", "3"), {}, "--orders: expected at least 10, found 3"),
        (("--lock-days", "0"), {}, "--lock-days: expected at least 1"),
        (
            (),
            {"PG_BINDIR": "/nonexistent/bin"},
            "PostgreSQL tool initdb: expected /nonexistent/bin/initdb to exist",
        ),
        (("--dsn", "host=x", "--stack", "staging"), {}, "--dsn/--bucket: expected only with --local"),
        (("--stack", "staging", "--outputs", "/nonexistent.json"), {}, "--outputs /nonexistent.json"),
    ],
)
def test_bad_drill_input_is_one_line_and_exit_2(
    tmp_path: Path,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    env: dict[str, str],
    text: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["drill", *argv, "--workdir", str(workdir), "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err
    assert_nothing_left(workdir)


def test_drill_targets_are_the_runbooks() -> None:
    assert TARGETS == CRITICALITY_TARGETS


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("tables: notalist", "tables: expected a list"),
        ("- a\n- b", "expected a mapping"),
        ("bogus: 1", "key bogus"),
    ],
)
def test_bad_smoke_suite_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, text: str
) -> None:
    suite = tmp_path / "smoke.yaml"
    suite.write_text(content)
    code = main(["drill", "--local", "--smoke", str(suite), "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err


# ---- RDS drill (moto) -----------------------------------------------------------------------------------


class FakeDatabase:
    """Answers the drill's SQL like a restored database would (moto instances are not databases)."""

    def __init__(self, newest_write: datetime) -> None:
        self.newest_write = newest_write
        self.statements: list[str] = []

    def connect(self, instance: dict[str, Any], dbname: str) -> Any:
        ident = instance["DBInstanceIdentifier"]

        def query(statement: str) -> list[list[str]]:
            self.statements.append(f"{ident}: {statement}")
            if statement.startswith("insert into maestro_drill_heartbeat"):
                return [[datetime.now(UTC).isoformat()]]
            if statement.startswith("select max(at)"):
                return [[self.newest_write.isoformat()]]
            if "from pg_tables" in statement:
                return [["public.orders"], ["public.maestro_drill_heartbeat"]]
            if statement.startswith("select count(*)"):
                return [["42"]]
            return []

        return query


@pytest.fixture
def staging(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        account = build(session)
        ec2 = session.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
                "Subnet"
            ]["SubnetId"]
            for i, z in enumerate("ab")
        ]
        rds = session.client("rds")
        rds.create_db_subnet_group(
            DBSubnetGroupName="maestro-staging-drill", DBSubnetGroupDescription="drill", SubnetIds=subnets
        )
        sg = ec2.create_security_group(GroupName="drill", Description="drill", VpcId=vpc)["GroupId"]
        rds.create_db_snapshot(DBInstanceIdentifier="maestro-staging-orders", DBSnapshotIdentifier="manual-1")
        account.outputs |= {"drillSubnetGroup": "maestro-staging-drill", "drillSecurityGroupId": sg}
        Clients(session)
        from backupctl.live.configbackup import collect, write_snapshot

        snapshot = collect(
            session.client("ssm"),
            session.client("secretsmanager"),
            environment="staging",
            paths=account.outputs["parameterPaths"],
            secrets_prefix="maestro/",
        )
        write_snapshot(session.client("s3"), account.outputs["configBucket"], None, snapshot)
        yield account


def rds_options(account: Any, tmp_path: Path, db: FakeDatabase, **extra: Any) -> RdsOptions:
    return RdsOptions(
        clients=Clients(account.session),
        outputs=account.outputs,
        report_dir=tmp_path,
        connect=db.connect,
        waiter_delay=1,
        **extra,
    )


def test_rds_drill_restores_the_newest_snapshot_into_the_drill_network_and_deletes_it(
    staging: Any, tmp_path: Path
) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC) - timedelta(minutes=1))
    report = run_rds(rds_options(staging, tmp_path, db))
    assert statuses(report)[3] == "PASS" and statuses(report)[10] == "PASS", report["steps"]
    assert report["backup"]["kind"] == "snapshot" and "newest available" in report["backup"]["why"]
    assert any(
        "insert into maestro_drill_heartbeat" in s for s in db.statements if "maestro-staging-orders:" in s
    )
    rds = staging.client("rds")
    idents = [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
    assert idents == ["maestro-staging-orders"], "the drill instance must be gone, the source kept"
    assert report["evidence"]["bucket"] == "maestro-staging-evidence"
    config = [f for f in report["findings"] if f["check"] == "config-restore"]
    assert config and "checksum verified" in config[0]["message"]


def test_rds_smoke_command_is_pointed_at_the_restored_instance(staging: Any, tmp_path: Path) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC))
    command = 'case "$PGHOST" in drill-*) test "$PGDATABASE" = postgres ;; *) exit 7 ;; esac'
    report = run_rds(rds_options(staging, tmp_path, db, smoke_command=command))
    assert statuses(report)[7] == "PASS", report["steps"]
    failing = run_rds(rds_options(staging, tmp_path, db, smoke_command='test "$PGHOST" = nowhere'))
    assert statuses(failing)[7] == "FAIL"


def test_rds_drill_keep_leaves_the_tagged_instance_in_the_drill_subnet_group(
    staging: Any, tmp_path: Path
) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC))
    report = run_rds(rds_options(staging, tmp_path, db, keep=True))
    rds = staging.client("rds")
    kept = [
        i
        for i in rds.describe_db_instances()["DBInstances"]
        if i["DBInstanceIdentifier"].startswith("drill-")
    ]
    assert len(kept) == 1
    assert kept[0]["DBSubnetGroup"]["DBSubnetGroupName"] == "maestro-staging-drill"
    tags = {
        t["Key"]: t["Value"]
        for t in rds.list_tags_for_resource(ResourceName=kept[0]["DBInstanceArn"])["TagList"]
    }
    assert tags[DRILL_TAG] == report["drillId"]


def test_rds_point_in_time_drill_measures_rpo_from_the_newest_restored_write(
    staging: Any, tmp_path: Path
) -> None:
    target = datetime.now(UTC) - timedelta(seconds=5)
    # The newest heartbeat found in the restore is 20 minutes before the target: a critical RPO miss.
    db = FakeDatabase(newest_write=target - timedelta(minutes=20))
    report = run_rds(rds_options(staging, tmp_path, db, point_in_time=target))
    assert report["backup"]["kind"] == "point-in-time" and report["pointInTime"] == target.isoformat()
    assert report["rpoSeconds"] == pytest.approx(1200, abs=1)
    assert not report["rpoMet"] and report["result"] == "FAIL"
    rpo = [f for f in report["findings"] if f["check"] == "rpo"]
    assert rpo[0]["status"] == "FAIL" and "critical target of 15 min" in rpo[0]["message"]


def test_rds_point_in_time_outside_the_window_is_bad_input(staging: Any, tmp_path: Path) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC))
    from backupctl.errors import BadInput

    with pytest.raises(BadInput, match="--point-in-time"):
        run_rds(rds_options(staging, tmp_path, db, point_in_time=datetime.now(UTC) - timedelta(days=30)))


def test_rds_drill_refuses_prod_and_untagged_databases(
    staging: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**staging.outputs, "environment": "prod"}))
    code = main(["drill", "--outputs", str(outputs), "--stack", "prod", "--report-dir", str(tmp_path)])
    assert code == 2 and "never run against prod" in capsys.readouterr().err
    rds = staging.client("rds")
    arn = rds.describe_db_instances(DBInstanceIdentifier="maestro-staging-orders")["DBInstances"][0][
        "DBInstanceArn"
    ]
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["maestro:drill-target"])
    outputs.write_text(json.dumps(staging.outputs))
    code = main(["drill", "--outputs", str(outputs), "--report-dir", str(tmp_path)])
    assert code == 2 and "not tagged maestro:drill-target=true" in capsys.readouterr().err
    assert len(rds.describe_db_instances()["DBInstances"]) == 1


def test_cleanup_never_deletes_an_instance_without_the_drill_tag(staging: Any) -> None:
    rds = staging.client("rds")
    with pytest.raises(StepFailed, match="not tagged"):
        cleanup_rds(rds, ["maestro-staging-orders"], "drill-x", keep=False)
    assert rds.describe_db_instances(DBInstanceIdentifier="maestro-staging-orders")["DBInstances"]


def test_pg_tools_come_from_pg_config() -> None:
    if not HAVE_PG:
        pytest.skip("PostgreSQL not installed")
    assert os.access(tool("pg_restore"), os.X_OK)


@postgres
def test_local_drill_of_an_existing_database_by_dsn_restores_it_logically(
    workdir: Path, tmp_path: Path
) -> None:
    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 1) as clients:
        app = add_server(root, servers, "app").init().start()
        sql(
            app.conn,
            "create table tenants (id int primary key, name text); "
            "insert into tenants select g, 'tenant-' || g from generate_series(1, 300) g",
        )
        dsn = f"host=127.0.0.1 port={app.port} user=postgres dbname=postgres"
        report = run_local(local_options(clients, workdir, tmp_path, dsn=dsn))
        assert report["result"] == "PASS", [f for f in report["findings"] if f["status"] != "PASS"]
        assert statuses(report)[5] == "SKIP" and statuses(report)[3] == "PASS"
        integrity = next(f for f in report["findings"] if f["check"] == "restore-integrity")
        assert "2 tables match" in integrity["message"]  # tenants + the drill's heartbeat table
        assert scalar(app.conn, "select count(*) from tenants") == "300"  # the source is left as it was
    assert_nothing_left(workdir)


def _inventory(s3: Any, audit_bucket: str, source_bucket: str, keys: list[str]) -> None:
    import gzip

    rows = "".join(f'"{source_bucket}","{k}","11","etag{i}"\n' for i, k in enumerate(keys))
    part = f"inventory/{source_bucket}/artifacts-index/data/part-0.csv.gz"
    s3.put_object(Bucket=audit_bucket, Key=part, Body=gzip.compress(rows.encode()))
    manifest = {"fileSchema": "Bucket, Key, Size, ETag", "files": [{"key": part}]}
    s3.put_object(
        Bucket=audit_bucket,
        Key=f"inventory/{source_bucket}/artifacts-index/2026-11-28T01-00Z/manifest.json",
        Body=json.dumps(manifest).encode(),
    )


def test_rds_drill_compares_the_newest_inventory_with_the_artifacts_bucket(
    staging: Any, tmp_path: Path
) -> None:
    s3 = staging.client("s3")
    bucket, audit_bucket = staging.outputs["artifactsBucket"], staging.outputs["auditBucket"]
    s3.put_object(Bucket=bucket, Key="artifacts/app-1.tar.gz", Body=b"x" * 11)
    _inventory(s3, audit_bucket, bucket, ["artifacts/app-1.tar.gz", "artifacts/app-0.tar.gz"])
    report = run_rds(rds_options(staging, tmp_path, FakeDatabase(newest_write=datetime.now(UTC))))
    assert statuses(report)[4] == "FAIL"
    index = next(f for f in report["findings"] if f["check"] == "artifacts-index")
    assert "2 artifact(s) in the index: 1 missing" in index["message"]


def test_rds_drill_without_an_inventory_yet_skips_the_index_step_with_a_warning(
    staging: Any, tmp_path: Path
) -> None:
    report = run_rds(rds_options(staging, tmp_path, FakeDatabase(newest_write=datetime.now(UTC))))
    assert statuses(report)[4] == "SKIP"
    assert any(f["check"] == "artifacts-index" and f["status"] == "WARN" for f in report["findings"])
    assert report["result"] == "PASS"


@postgres
def test_keep_leaves_the_local_servers_running_for_inspection(workdir: Path, tmp_path: Path) -> None:
    with embedded_s3("GOVERNANCE", 1) as clients:
        report = run_local(local_options(clients, workdir, tmp_path, keep=True))
    try:
        assert report["result"] == "PASS"
        cleanup = next(s for s in report["steps"] if s["number"] == 10)
        assert cleanup["detail"].startswith("kept for inspection (--keep)")
        data_dirs = sorted(workdir.glob("maestro-drill-*/*/data"))
        assert len(data_dirs) == 3  # source, restore, pitr
        assert len(_postgres_processes(workdir)) >= 3
    finally:
        for data in workdir.glob("maestro-drill-*/*/data"):
            subprocess.run(
                [*as_server_user(), tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
        for path in workdir.iterdir():
            shutil.rmtree(path, ignore_errors=True)
    assert_nothing_left(workdir)
