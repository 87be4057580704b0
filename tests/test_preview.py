"""`backupctl preview`: the deployment's shape, and one-line errors for bad stacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backupctl.cli import main
from tests.conftest import PROJECT_DIR, Deployment


def test_every_resource_has_urn_type_and_a_component_parent(stack: Deployment) -> None:
    assert stack.raw["version"] == 3
    root = stack.resources[0]
    assert root["type"] == "pulumi:pulumi:Stack" and root["parent"] is None
    for r in stack.resources[1:]:
        assert r["urn"].startswith("urn:pulumi:") and r["type"], r
        parent = stack.by_urn[r["parent"]]
        assert not parent["custom"], f"{r['urn']} has a custom parent"
        if r["custom"]:
            assert r["id"], r["urn"]
            assert parent["type"].startswith("maestro:"), r["urn"]


def test_components_use_the_maestro_type_tokens(stack: Deployment) -> None:
    for r in stack.resources[1:]:
        if not r["custom"]:
            module, cls = r["type"].split(":")[1:]
            assert r["type"].startswith("maestro:") and module and cls[0].isupper(), r["urn"]


def test_bucket_settings_record_the_bucket_dependency(stack: Deployment) -> None:
    bucket_urns = {r["urn"] for r in stack.of_type("aws:s3/bucket:Bucket")}
    for r in stack.of_type("aws:s3/bucketVersioning:BucketVersioning"):
        assert set(r["propertyDependencies"]["bucket"]) & bucket_urns, r["urn"]


def test_preview_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["--project-dir", str(PROJECT_DIR), "preview", "--stack", "staging", "--out", str(a)]) == 0
    assert main(["--project-dir", str(PROJECT_DIR), "preview", "--stack", "staging", "--out", str(b)]) == 0
    assert a.read_text() == b.read_text()
    assert json.loads(a.read_text())["deployment"]["resources"]


def _run(*args: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backupctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_preview_of_both_stacks_prints_a_summary_and_exits_cleanly() -> None:
    result = _run("preview")
    assert result.returncode == 0, result.stderr
    assert "Stack staging:" in result.stdout and "Stack prod:" in result.stdout
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_unknown_stack_is_one_line_and_exit_2() -> None:
    result = _run("preview", "--stack", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "backupctl: error: --stack: expected one of the project's stacks (prod, staging), found nope"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("stack_text", "expected"),
    [
        ("config: [oops\n", "Pulumi.staging.yaml:2: expected valid YAML"),
        (
            "config:\n  maestro-backup:backupRetentionDays: 3\n",
            "Pulumi.staging.yaml: aws:region: expected an AWS region like eu-west-1, found None",
        ),
        ("- just a list\n", "expected a YAML mapping, found list"),
    ],
)
def test_broken_stack_file_is_one_line_and_exit_2(project_copy: Path, stack_text: str, expected: str) -> None:
    (project_copy / "Pulumi.staging.yaml").write_text(stack_text)
    result = _run("--project-dir", str(project_copy), "preview", "--stack", "staging")
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("backupctl: error:") and expected in last, last
    assert "Traceback" not in result.stderr


def test_bad_value_in_a_real_stack_file_names_the_key(project_copy: Path) -> None:
    path = project_copy / "Pulumi.staging.yaml"
    path.write_text(
        path.read_text().replace(
            "  maestro-backup:vaultLockMode: governance\n",
            "  maestro-backup:vaultLockMode: governance\n  maestro-backup:backupRetentionDays: 3\n",
        )
    )
    result = _run("--project-dir", str(project_copy), "preview", "--stack", "staging")
    assert result.returncode == 2
    assert "maestro-backup:backupRetentionDays: expected an integer >= 7" in result.stderr
    assert "Traceback" not in result.stderr
