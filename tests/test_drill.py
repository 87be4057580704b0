"""The restore drill (issues 6 and 13) against real PostgreSQL 15 binaries and a moto S3 server, and the
RDS path against moto with the account the program's own preview export declares.

moto's RDS point-in-time restore is a plain copy (RestoreTime is not checked), so the RPO logic of the
RDS path runs on stubbed heartbeat answers; the SQL of the RDS path goes to a stubbed connection because
moto's instances are not databases. Everything local is real: initdb, pg_dump, pg_restore,
pg_basebackup, WAL archiving and replay.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backupctl.cli import main
from backupctl.cli.drill import _print_result
from backupctl.drill import steps
from backupctl.drill.dbbackup import Choice
from backupctl.drill.local import LocalPostgres, Stored, run_local
from backupctl.drill.pgtools import (
    Workspace,
    add_server,
    as_server_user,
    base_backup,
    chown_tree,
    scalar,
    sql,
    switch_wal_and_wait,
    tool,
    workspace,
)
from backupctl.drill.rds import DRILL_TAG, RdsOptions, cleanup_rds, run_rds
from backupctl.drill.recorder import TARGETS, Drill, StepFailed
from backupctl.drill.sandbox import (
    LOCAL_BUCKET,
    LOCAL_EVIDENCE_BUCKET,
    MAX_LOCK_DAYS,
    MIN_LOCK_DAYS,
    embedded_s3,
)
from backupctl.live.aws import Clients
from backupctl.live.configbackup import collect_stack, write_snapshot
from components.settings import CRITICALITY_TARGETS, MIN_EVIDENCE_LOCK_DAYS
from components.settings import MAX_LOCK_DAYS as PROGRAM_MAX_LOCK_DAYS
from tests.aws_account import Account, build
from tests.conftest import Deployment
from tests.drill_support import (
    HAVE_PG,
    assert_nothing_left,
    dsn_of,
    load_zoo,
    local_options,
    postgres,
    postgres_processes,
    statuses,
    step,
    workdir,
)

__all__ = ["workdir"]  # a fixture: imported so that pytest finds it


# ---- local drill ----------------------------------------------------------------------------------------


@postgres
def test_full_local_drill_passes_and_cleans_up(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_log = tmp_path / "audit.jsonl"
    argv = ["drill", "--local", "--orders", "2000", "--workdir", str(workdir), "--report-dir", str(tmp_path)]
    code = main([*argv, "--json", "--audit-log", str(audit_log)])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0, [f for f in report["findings"] if f["status"] != "PASS"]
    assert report["result"] == "PASS" and report["stoppedAt"] is None
    assert set(statuses(report).values()) == {"PASS"}, statuses(report)
    assert report["rtoMet"] and report["rpoMet"] and report["rpoSeconds"] is not None
    checks = {f["check"] for f in report["findings"] if f["status"] == "PASS"}
    assert {
        "restore-integrity",
        "database-settings",
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
    assert report["evidence"]["sealed"] and report["evidence"]["lockMode"] == "COMPLIANCE"
    assert report["evidence"]["keys"][0].startswith(f"evidence/drills/{report['startedAt'][:10]}/")
    assert report["database"] == "postgres" and report["backup"]["ageSeconds"] >= 0
    (record,) = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert record["command"] == "drill" and record["result"] == "pass" and record["sealed"] is True
    assert_nothing_left(workdir)
    _print_result(report, False, embedded=True)  # the same report as text: the demo's seal is no real one
    text = capsys.readouterr().out
    assert "  sealed: s3://" in text and "(in the embedded demo S3, gone when the drill ends;" in text


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
        assert stored["evidence"] == {**report["evidence"], "sealed": True}  # the copy says where it is


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
    steps_ = statuses(report)
    assert steps_[3] == "FAIL" and steps_[10] == "PASS" and steps_[9] == "PASS"
    assert all(steps_[n] == "SKIP" for n in (4, 5, 6, 7, 8)), steps_
    assert "differs from the manifest" in step(report, 3)["detail"]
    assert report["stoppedAt"]["step"] == 3
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
def test_a_bug_in_a_step_still_cleans_up_and_writes_the_report(workdir: Path, tmp_path: Path) -> None:
    def explode(conn: Any) -> None:
        raise RuntimeError("boom")

    with embedded_s3("GOVERNANCE", 1) as clients, pytest.raises(RuntimeError):
        run_local(local_options(clients, workdir, tmp_path, after_restore=explode))
    (path,) = tmp_path.glob("drill-*.json")
    report = json.loads(path.read_text())
    assert report["result"] == "FAIL" and report["stoppedAt"]["step"] == 3
    assert "RuntimeError: boom" in report["stoppedAt"]["reason"] or "boom" in report["stoppedAt"]["reason"]
    assert statuses(report)[10] == "PASS"
    assert_nothing_left(workdir)


@postgres
def test_step_10_times_the_teardown_itself(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[datetime] = []
    close = Workspace.close

    def timed_close(self: Workspace) -> None:
        close(self)
        stopped.append(datetime.now(UTC))

    monkeypatch.setattr(Workspace, "close", timed_close)
    with embedded_s3("GOVERNANCE", 1) as clients:
        report = run_local(local_options(clients, workdir, tmp_path))
    cleanup = step(report, 10)
    started, finished = (datetime.fromisoformat(cleanup[k]) for k in ("startedAt", "finishedAt"))
    assert len(stopped) == 1 and started < stopped[0] <= finished
    assert cleanup["seconds"] > 0
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
def test_the_type_zoo_drilled_by_dsn_passes_and_one_changed_value_fails_naming_its_table(
    workdir: Path, tmp_path: Path
) -> None:
    """Data nobody here designed for the drill: every column type, OIDs that differ after the restore,
    database settings pg_dump does not carry (issue 13)."""

    def change_one_value(conn: Any) -> None:
        sql(conn, "update app.zoo set f8 = 0.1 + 1e-16 where id = 1")  # the next double after 0.1

    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 1) as clients:
        zoo = load_zoo(add_server(root, servers, "zoo").init().start())
        passed = run_local(local_options(clients, workdir, tmp_path, dsn=dsn_of(zoo)))
        failed = run_local(
            local_options(clients, workdir, tmp_path, dsn=dsn_of(zoo), after_restore=change_one_value)
        )
    assert passed["result"] == "PASS", [f for f in passed["findings"] if f["status"] != "PASS"]
    assert passed["database"] == "zoo" and statuses(passed)[5] == "SKIP"
    settings = next(f for f in passed["findings"] if f["check"] == "database-settings")
    assert settings["status"] == "PASS" and "owner zoo_owner" in settings["message"]
    assert failed["result"] == "FAIL"
    problems = [f["message"] for f in failed["findings"] if f["check"] == "restore-integrity"]
    assert problems == ["table app.zoo checksum differs from the manifest (5 rows)"]
    assert_nothing_left(workdir)


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
        report = run_local(local_options(clients, workdir, tmp_path, dsn=dsn_of(app.conn)))
        assert report["result"] == "PASS", [f for f in report["findings"] if f["status"] != "PASS"]
        assert statuses(report)[5] == "SKIP" and statuses(report)[3] == "PASS"
        integrity = next(f for f in report["findings"] if f["check"] == "restore-integrity")
        assert "2 tables (" in integrity["message"]  # tenants + the drill's heartbeat table
        assert scalar(app.conn, "select count(*) from tenants") == "300"  # the source is left as it was
    assert_nothing_left(workdir)


# ---- restoring the backups that exist (--from-bucket) --------------------------------------------------


def _backup_db(dsn: str, endpoint: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    argv = ["backup", "db", "--dsn", dsn, "--bucket", LOCAL_BUCKET, "--endpoint-url", endpoint]
    code = main([*argv, "--region", "us-east-1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@postgres
@pytest.mark.usefixtures("aws_keys")
def test_backup_db_writes_dump_and_manifest(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 1) as clients:
        server = add_server(root, servers, "db").init().start()
        sql(
            server.conn,
            "create table pins (tenant text primary key, region text); "
            "insert into pins values ('a', 'eu-west-1'), ('b', 'eu-central-1')",
        )
        summary = _backup_db(dsn_of(server.conn), str(clients.endpoint_url), capsys)
        assert summary["tables"] == {"public.pins": 2}
        s3 = clients.client("s3")
        manifest = json.loads(s3.get_object(Bucket=LOCAL_BUCKET, Key=summary["manifestKey"])["Body"].read())
        assert manifest["sha256"] == summary["sha256"] and manifest["format"] == "pg_dump -Fc"
        assert manifest["schema"] == "maestro-backup/pg-dump-manifest@2"
        assert manifest["databaseFacts"]["owner"] == "postgres"
        assert s3.head_object(Bucket=LOCAL_BUCKET, Key=summary["key"])["ContentLength"] == manifest["bytes"]
    assert_nothing_left(workdir)


@postgres
@pytest.mark.usefixtures("aws_keys")
def test_drill_from_bucket_restores_the_newest_stored_backup_and_counts_its_age_in_rpo(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 90) as clients:
        server = add_server(root, servers, "db").init().start()
        sql(server.conn, "create table t (id int primary key); insert into t select generate_series(1, 10)")
        endpoint, dsn = str(clients.endpoint_url), dsn_of(server.conn)
        first = _backup_db(dsn, endpoint, capsys)
        sql(server.conn, "insert into t values (11)")
        second = _backup_db(dsn, endpoint, capsys)
        common = ["--dsn", dsn, "--from-bucket", f"s3://{LOCAL_BUCKET}/backups/postgres"]
        common += ["--evidence-bucket", LOCAL_EVIDENCE_BUCKET, "--endpoint-url", endpoint]
        common += ["--workdir", str(workdir), "--report-dir", str(tmp_path), "--json"]
        newest = _drill_json(["drill", *common, "--criticality", "standard"], capsys)
        chosen = _drill_json(
            ["drill", *common, "--backup", first["key"], "--criticality", "standard"], capsys
        )
        before = _drill_json(["drill", *common, "--at", first["snapshotTime"]], capsys)
        s3 = clients.client("s3")
        stored = {o["Key"] for o in s3.list_objects_v2(Bucket=LOCAL_BUCKET)["Contents"]}
    assert newest["result"] == "PASS", newest["findings"]
    assert newest["backup"]["id"] == f"s3://{LOCAL_BUCKET}/{second['key']}"
    assert "the newest of 2 backup(s) of postgres" in newest["backup"]["why"]
    assert newest["rpoSeconds"] == pytest.approx(newest["backup"]["ageSeconds"], abs=0.01)
    assert statuses(newest)[4] == "SKIP" and statuses(newest)[5] == "SKIP"
    assert chosen["backup"]["id"] == f"s3://{LOCAL_BUCKET}/{first['key']}"
    assert before["backup"]["id"] == f"s3://{LOCAL_BUCKET}/{first['key']}"
    assert not any(k.startswith("index/") for k in stored), "a stored-backup drill writes nothing there"
    assert main(["drill", "history", "--report-dir", str(tmp_path)]) == 0
    history = capsys.readouterr().out
    assert first["key"] in history and second["key"] in history and " old)" in history
    assert_nothing_left(workdir)


def _drill_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    main(argv)
    out, err = capsys.readouterr()
    assert out, err
    return json.loads(out)


@postgres
@pytest.mark.usefixtures("aws_keys")
def test_drill_from_bucket_without_a_backup_fails_step_2_with_a_sentence(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 90) as clients:
        server = add_server(root, servers, "db").init().start()
        code = main(
            [
                "drill",
                "--dsn",
                dsn_of(server.conn),
                "--from-bucket",
                f"s3://{LOCAL_BUCKET}/nothing-here",
                "--evidence-bucket",
                LOCAL_EVIDENCE_BUCKET,
                "--endpoint-url",
                str(clients.endpoint_url),
                "--workdir",
                str(workdir),
                "--report-dir",
                str(tmp_path),
            ]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert f"step 2 (Select the backup): no backup under s3://{LOCAL_BUCKET}/nothing-here/postgres/" in out
    assert_nothing_left(workdir)


@postgres
def test_drill_history_shows_each_database_its_backups_and_the_trend_by_quarter(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with embedded_s3("GOVERNANCE", 1) as clients:
        run_local(local_options(clients, workdir, tmp_path))
        run_local(local_options(clients, workdir, tmp_path, smoke_command="exit 1"))
    # An older quarter, as an earlier drill would have left it, and a file that is not a report.
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("drill-*.json")]
    report = next(r for r in reports if r["result"] == "PASS")
    report |= {"drillId": "drill-old", "startedAt": "2026-05-02T10:00:00+00:00", "rtoSeconds": 1.0}
    (tmp_path / "drill-old.json").write_text(json.dumps(report))
    (tmp_path / "broken.json").write_bytes(b'{"caf\xe9": 1}')
    capsys.readouterr()
    assert main(["drill", "history", "--report-dir", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    history = json.loads(out)
    assert [r["result"] for r in history["drills"]] == ["PASS", "PASS", "FAIL"]
    first = history["drills"][0]
    assert first["database"] == "postgres" and first["backup"].startswith(f"s3://{LOCAL_BUCKET}/")
    assert first["rtoTargetMinutes"] == 240 and first["rpoTargetMinutes"] == 15
    quarters = [(t["quarter"], t["drills"], t["passed"], t["rtoTrend"]) for t in history["trend"]]
    now = datetime.now(UTC)
    assert quarters == [
        ("2026-Q2", 1, 1, "first"),
        (f"{now.year}-Q{(now.month - 1) // 3 + 1}", 2, 1, "worse"),
    ]
    assert "broken.json" in history["skipped"][0]["where"]
    assert err.strip().splitlines() == [f"backupctl: warning: skipped {history['skipped'][0]['reason']}"]
    assert main(["drill", "history", "--report-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "MISSED" in text and "Trend by quarter" in text and "2026-Q2" in text


def test_drill_targets_are_the_runbooks() -> None:
    assert TARGETS == CRITICALITY_TARGETS
    assert (MIN_LOCK_DAYS, MAX_LOCK_DAYS) == (MIN_EVIDENCE_LOCK_DAYS, PROGRAM_MAX_LOCK_DAYS)


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("tables: notalist", "tables: expected a list"),
        ("- a\n- b", "expected a mapping"),
        ("bogus: 1", "bogus: expected one of tables, nonEmpty, canaries, found 'bogus'"),
    ],
)
def test_bad_smoke_suite_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, text: str
) -> None:
    suite = tmp_path / "smoke.yaml"
    suite.write_text(content)
    code = main(
        ["drill", "--local", "--smoke", str(suite), "--report-dir", str(tmp_path), "--audit-log", "/dev/null"]
    )
    err = capsys.readouterr().err
    assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err


def test_pg_tools_come_from_pg_config() -> None:
    if not HAVE_PG:
        pytest.skip("PostgreSQL not installed")
    assert os.access(tool("pg_restore"), os.X_OK)


@postgres
def test_keep_leaves_the_local_servers_running_for_inspection(workdir: Path, tmp_path: Path) -> None:
    with embedded_s3("GOVERNANCE", 1) as clients:
        report = run_local(local_options(clients, workdir, tmp_path, keep=True))
    try:
        assert report["result"] == "PASS"
        assert step(report, 10)["detail"].startswith("kept for inspection (--keep)")
        data_dirs = sorted(workdir.glob("maestro-drill-*/*/data"))
        assert len(data_dirs) == 3  # source, restore, pitr
        assert len(postgres_processes(workdir)) >= 3
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


@postgres
def test_a_stored_backup_drill_never_writes_to_the_source(workdir: Path, tmp_path: Path) -> None:
    """The source of a --from-bucket drill is only asked its name (no heartbeat table added)."""
    with workspace(base=str(workdir)) as (root, servers), embedded_s3("GOVERNANCE", 1) as clients:
        server = add_server(root, servers, "db").init().start()
        opts = local_options(
            clients,
            workdir,
            tmp_path,
            dsn=dsn_of(server.conn),
            stored=Stored(LOCAL_BUCKET, "backups/postgres", Choice()),
        )
        drill = Drill("local", "--dsn database", "critical", log_dir=tmp_path)
        report = steps.run(LocalPostgres(opts, drill))
        tables = sql(server.conn, "select count(*) from pg_tables where schemaname = 'public'")
    assert statuses(report)[2] == "FAIL" and tables == [["0"]]
    assert_nothing_left(workdir)


# ---- RDS drill (moto, the account from the program's preview export) ------------------------------------


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
                return [[str(datetime.now(UTC).timestamp())]]
            if "max(at)" in statement:
                return [[str(self.newest_write.timestamp())]]
            if "from pg_tables" in statement:
                return [["public.orders"], ["public.maestro_drill_heartbeat"]]
            if statement.startswith("select count(*)"):
                return [["42"]]
            return []

        return query


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch, deployments: dict[str, Deployment]) -> Iterator[Account]:
    """The staging account as the program declares it (tests/aws_account.py), plus what its preview
    cannot hold: a VPC for the drill network the outputs name, a snapshot and a config snapshot."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        region = str(deployments["staging"].outputs["region"])
        session = boto3.Session(region_name=region)
        account = build(session, deployments["staging"].raw)
        ec2, rds = account.client("ec2"), account.client("rds")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{region}{z}")[
                "Subnet"
            ]["SubnetId"]
            for i, z in enumerate("ab")
        ]
        rds.create_db_subnet_group(
            DBSubnetGroupName=account.outputs["drillSubnetGroup"],
            DBSubnetGroupDescription="drill",
            SubnetIds=subnets,
        )
        sg = ec2.create_security_group(GroupName="drill", Description="drill", VpcId=vpc)["GroupId"]
        account.outputs["drillSecurityGroupId"] = sg  # moto's id for the group the program declares
        rds.create_db_snapshot(DBInstanceIdentifier=_source(account), DBSnapshotIdentifier="manual-1")
        snapshot = collect_stack(account.client("ssm"), account.client("secretsmanager"), account.outputs)
        write_snapshot(account.client("s3"), account.outputs["configBucket"], None, snapshot)
        yield account


def _source(account: Account) -> str:
    return str(account.outputs["databases"][0]["identifier"])


def rds_options(account: Account, tmp_path: Path, db: FakeDatabase, **extra: Any) -> RdsOptions:
    return RdsOptions(
        clients=Clients(account.session),
        outputs=account.outputs,
        report_dir=tmp_path,
        connect=db.connect,
        waiter_delay=1,
        **extra,
    )


def test_rds_drill_restores_the_newest_snapshot_into_the_drill_network_and_deletes_it(
    account: Account, tmp_path: Path
) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC) - timedelta(minutes=1))
    report = run_rds(rds_options(account, tmp_path, db))
    assert statuses(report)[3] == "PASS" and statuses(report)[10] == "PASS", report["steps"]
    assert report["backup"]["kind"] == "snapshot" and "newest available" in report["backup"]["why"]
    assert report["database"] == account.outputs["databases"][0]["name"]
    assert any(
        "insert into maestro_drill_heartbeat" in s
        for s in db.statements
        if s.startswith(f"{_source(account)}:")
    )
    rds = account.client("rds")
    idents = sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"])
    assert idents == sorted(d["identifier"] for d in account.outputs["databases"]), "drill instance gone"
    assert "waited until gone" in step(report, 10)["detail"]
    assert report["evidence"]["bucket"] == account.outputs["evidenceBucket"] and report["evidence"]["sealed"]
    config = [f for f in report["findings"] if f["check"] == "config-restore"]
    assert config and "checksum verified" in config[0]["message"]


def test_rds_smoke_command_is_pointed_at_the_restored_instance(account: Account, tmp_path: Path) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC))
    command = 'case "$PGHOST" in drill-*) test "$PGDATABASE" = postgres ;; *) exit 7 ;; esac'
    report = run_rds(rds_options(account, tmp_path, db, smoke_command=command))
    assert statuses(report)[7] == "PASS", report["steps"]
    failing = run_rds(rds_options(account, tmp_path, db, smoke_command='test "$PGHOST" = nowhere'))
    assert statuses(failing)[7] == "FAIL"


def test_rds_drill_keep_leaves_the_tagged_instance_in_the_drill_subnet_group(
    account: Account, tmp_path: Path
) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC))
    report = run_rds(rds_options(account, tmp_path, db, keep=True))
    rds = account.client("rds")
    kept = [
        i
        for i in rds.describe_db_instances()["DBInstances"]
        if i["DBInstanceIdentifier"].startswith("drill-")
    ]
    assert len(kept) == 1
    assert kept[0]["DBSubnetGroup"]["DBSubnetGroupName"] == account.outputs["drillSubnetGroup"]
    tags = {
        t["Key"]: t["Value"]
        for t in rds.list_tags_for_resource(ResourceName=kept[0]["DBInstanceArn"])["TagList"]
    }
    assert tags[DRILL_TAG] == report["drillId"]


def test_rds_point_in_time_drill_measures_rpo_from_the_newest_restored_write(
    account: Account, tmp_path: Path
) -> None:
    target = datetime.now(UTC) - timedelta(seconds=5)
    # The newest heartbeat found in the restore is 20 minutes before the target: a critical RPO miss.
    db = FakeDatabase(newest_write=target - timedelta(minutes=20))
    report = run_rds(rds_options(account, tmp_path, db, point_in_time=target))
    assert report["backup"]["kind"] == "point-in-time" and report["pointInTime"] == target.isoformat()
    assert report["rpoSeconds"] == pytest.approx(1200, abs=1)
    assert not report["rpoMet"] and report["result"] == "FAIL"
    rpo = [f for f in report["findings"] if f["check"] == "rpo"]
    assert rpo[0]["status"] == "FAIL" and "critical target of 15 min" in rpo[0]["message"]


def test_rds_point_in_time_outside_the_window_is_bad_input(account: Account, tmp_path: Path) -> None:
    db = FakeDatabase(newest_write=datetime.now(UTC))
    from backupctl.errors import BadInput

    with pytest.raises(BadInput, match="--point-in-time"):
        run_rds(rds_options(account, tmp_path, db, point_in_time=datetime.now(UTC) - timedelta(days=30)))


def test_rds_drill_refuses_prod_and_untagged_databases_and_audits_the_refusal(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_log = tmp_path / "audit.jsonl"
    outputs = account.write_outputs(tmp_path, environment="prod")
    argv = ["drill", "--outputs", str(outputs), "--report-dir", str(tmp_path), "--audit-log", str(audit_log)]
    assert main([*argv, "--stack", "prod"]) == 2
    assert "never run against prod" in capsys.readouterr().err
    rds = account.client("rds")
    arn = rds.describe_db_instances(DBInstanceIdentifier=_source(account))["DBInstances"][0]["DBInstanceArn"]
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["maestro:drill-target"])
    account.write_outputs(tmp_path)
    assert main(argv) == 2
    assert "not tagged maestro:drill-target=true" in capsys.readouterr().err
    assert len(rds.describe_db_instances()["DBInstances"]) == len(account.outputs["databases"])
    records = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert [(r["result"], r["stack"]) for r in records] == [("refused", "prod"), ("refused", "staging")]
    assert "never run against prod" in records[0]["reason"]


def test_cleanup_never_deletes_an_instance_without_the_drill_tag(account: Account) -> None:
    rds = account.client("rds")
    with pytest.raises(StepFailed, match="not tagged"):
        cleanup_rds(rds, [_source(account)], "drill-x", keep=False)
    assert rds.describe_db_instances(DBInstanceIdentifier=_source(account))["DBInstances"]


def _inventory(s3: Any, audit_bucket: str, source_bucket: str, keys: list[str]) -> None:
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
    account: Account, tmp_path: Path
) -> None:
    s3 = account.client("s3")
    bucket, audit_bucket = account.outputs["artifactsBucket"], account.outputs["auditBucket"]
    s3.put_object(Bucket=bucket, Key="artifacts/app-1.tar.gz", Body=b"x" * 11)
    _inventory(s3, audit_bucket, bucket, ["artifacts/app-1.tar.gz", "artifacts/app-0.tar.gz"])
    report = run_rds(rds_options(account, tmp_path, FakeDatabase(newest_write=datetime.now(UTC))))
    assert statuses(report)[4] == "FAIL"
    index = next(f for f in report["findings"] if f["check"] == "artifacts-index")
    assert "2 artifact(s) in the index: 1 missing" in index["message"]


def test_rds_drill_without_an_inventory_yet_skips_the_index_step_with_a_warning(
    account: Account, tmp_path: Path
) -> None:
    report = run_rds(rds_options(account, tmp_path, FakeDatabase(newest_write=datetime.now(UTC))))
    assert statuses(report)[4] == "SKIP"
    assert any(f["check"] == "artifacts-index" and f["status"] == "WARN" for f in report["findings"])
    assert report["result"] == "PASS"


def test_drill_history_reads_the_sealed_reports_from_the_evidence_bucket(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_rds(rds_options(account, tmp_path / "local", FakeDatabase(newest_write=datetime.now(UTC))))
    outputs = account.write_outputs(tmp_path)
    capsys.readouterr()
    assert (
        main(
            ["drill", "history", "--outputs", str(outputs), "--report-dir", str(tmp_path / "none"), "--json"]
        )
        == 2
    )
    assert "--report-dir" in capsys.readouterr().err  # named but missing: not silently skipped
    assert main(["drill", "history", "--outputs", str(outputs), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    (row,) = [r for r in history["drills"] if r["drillId"] == report["drillId"]]
    assert row["where"].startswith(f"s3://{account.outputs['evidenceBucket']}/evidence/drills/")
    assert row["database"] == account.outputs["databases"][0]["name"] and row["backup"] == "manual-1"
