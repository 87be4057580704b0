"""`backupctl adopt` (issue 10 item 11): an import file `pulumi import --file` accepts, at the program's
URN, and a true account of what the first `pulumi up` keeps and changes.

The file's shape is checked against pulumi's own importSpec (pkg/cmd/pulumi/operations/import.go): only
its fields, every parent resolvable inside the file, components without ids, and each URN rebuilt the
way the engine builds it (``NewURN(stack, project, parentURN.QualifiedType(), type, logicalName)``)
equal to the URN the program gives the resource in the preview.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from backupctl.cli import main
from backupctl.live.adopt import SPEC_FIELDS
from backupctl.offline.preview import close_runtime, preview_stack

REGION = "eu-west-1"
LEGACY = "legacy-orchestrator"


def _mark(project: Path, **adopt: str) -> None:
    path = project / "Pulumi.staging.yaml"
    stack = yaml.safe_load(path.read_text())
    for db in stack["config"]["maestro-backup:databases"]:
        if db["name"] in adopt:
            db["adoptIdentifier"] = adopt[db["name"]]
    path.write_text(yaml.safe_dump(stack))


def _legacy(session: Any, *, encrypted: bool = True) -> None:
    key = session.client("kms").create_key()["KeyMetadata"]["Arn"]
    session.client("rds").create_db_instance(
        DBInstanceIdentifier=LEGACY,
        Engine="postgres",
        EngineVersion="14",
        DBInstanceClass="db.m5.large",
        AllocatedStorage=100,
        MasterUsername="orders_owner",
        MasterUserPassword="not-a-real-password",
        BackupRetentionPeriod=1,
        StorageEncrypted=encrypted,
        **({"KmsKeyId": key} if encrypted else {}),
        DeletionProtection=False,
    )


def _urn(entries: dict[str, dict[str, Any]], name: str, stack: str, project: str) -> str:
    entry = entries[name]
    qualified = entry["type"]
    if entry.get("parent"):
        parent_type = _urn(entries, entry["parent"], stack, project).split("::")[2]
        qualified = f"{parent_type}${entry['type']}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{entry['logicalName']}"


def _adopt(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, Any, str]:
    out = tmp_path / "import.json"
    code = main(
        ["--project-dir", str(project), "adopt", "--stack", "staging", "--out", str(out), "--json", *extra]
    )
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def test_the_import_file_puts_the_instance_at_the_programs_urn(
    aws: Any, project_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _mark(project_copy, orchestrator=LEGACY)
    _legacy(aws)
    code, _, err = _adopt(project_copy, tmp_path, capsys)
    assert code == 0, err
    document = json.loads((tmp_path / "import.json").read_text())
    assert set(document) == {"resources"}
    entries = {e["name"]: e for e in document["resources"]}
    assert len(entries) == len(document["resources"]), "names are unique"
    for entry in document["resources"]:
        assert set(entry) <= set(SPEC_FIELDS), entry
        assert entry.get("component", False) == ("id" not in entry), entry
        assert not entry.get("parent") or entry["parent"] in entries, entry
    (instance,) = [e for e in document["resources"] if e["type"] == "aws:rds/instance:Instance"]
    assert instance["id"] == LEGACY and instance["version"] == "7.51.1"
    preview = preview_stack(project_copy, "staging")
    close_runtime()
    expected = {
        r["urn"]
        for r in preview["deployment"]["resources"]
        if r["type"] in {e["type"] for e in document["resources"]}
        and r["urn"].rsplit("::", 1)[-1] in {e["logicalName"] for e in document["resources"]}
    }
    rebuilt = {_urn(entries, name, "staging", "maestro-backup") for name in entries}
    assert rebuilt == expected and len(rebuilt) == 3  # Platform, Database, Instance
    assert "next: pulumi import --stack staging --file" in err


def test_the_report_says_what_is_kept_and_what_the_first_up_changes(
    aws: Any, project_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _mark(project_copy, orchestrator=LEGACY)
    _legacy(aws)
    _, report, _ = _adopt(project_copy, tmp_path, capsys)
    by_check = {f["check"]: f for f in report["findings"]}
    assert "kept as the instance has it ('db.m5.large'" in by_check["adopt-instanceClass"]["message"]
    assert "kept as the instance has it ('orders_owner'" in by_check["adopt-username"]["message"]
    assert by_check["adopt-deletionProtection"]["status"] == "WARN"
    assert "False -> True" in by_check["adopt-deletionProtection"]["message"]
    # orchestrator is critical: AWS Backup owns its retention and window, so the program leaves them.
    assert "kept as the instance has it (1;" in by_check["adopt-backupRetentionPeriod"]["message"]
    assert by_check["adopt-tags"]["status"] == "WARN"  # the runbook's tags select it for AWS Backup


def test_an_unencrypted_instance_is_refused_and_nothing_is_written(
    aws: Any, project_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _mark(project_copy, orchestrator=LEGACY)
    _legacy(aws, encrypted=False)
    code, report, _ = _adopt(project_copy, tmp_path, capsys)
    assert code == 1 and not (tmp_path / "import.json").exists()
    assert [f["check"] for f in report["findings"] if f["status"] == "FAIL"] == ["adopt-encryption"]


@pytest.mark.parametrize(
    ("adopt", "extra", "text"),
    [
        ({}, (), "adoptIdentifier: expected the existing instance's identifier on each database to adopt"),
        ({"orchestrator": LEGACY}, ("--database", "billing"), "--database billing: expected a database of"),
        (
            {"orchestrator": "gone-instance"},
            (),
            "adoptIdentifier gone-instance: expected an existing RDS instance",
        ),
        (
            {"orchestrator": "Not_An_Identifier"},
            (),
            "adoptIdentifier: expected an existing RDS instance identifier",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    aws: Any,
    project_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    adopt: dict[str, str],
    extra: tuple[str, ...],
    text: str,
) -> None:
    _mark(project_copy, **adopt)
    _legacy(aws)
    code, report, err = _adopt(project_copy, tmp_path, capsys, *extra)
    assert code == 2 and report is None
    assert len(err.strip().splitlines()) == 1 and err.startswith("backupctl: error: "), err
    assert text in err


def test_the_region_is_checked_as_in_the_preview_and_skip_region_validation_is_honoured(
    aws: Any, project_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _mark(project_copy, orchestrator=LEGACY)
    path = project_copy / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace(f"aws:region: {REGION}", "aws:region: eu-westt-1"))
    code, _, err = _adopt(project_copy, tmp_path, capsys)
    assert code == 2 and "aws:region: expected a region pulumi-aws knows (did you mean eu-west-1?)" in err
    stack = yaml.safe_load(path.read_text())
    stack["config"]["aws:skipRegionValidation"] = True
    path.write_text(yaml.safe_dump(stack))
    _, _, err = _adopt(project_copy, tmp_path, capsys)
    assert "pulumi-aws knows" not in err, err  # read from the stack file, as the provider reads it
