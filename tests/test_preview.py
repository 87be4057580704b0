"""`backupctl preview`: the deployment's shape, and one-line errors for bad stacks."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi.runtime import stack as pulumi_stack

from backupctl.cli import main
from backupctl.errors import BadInput
from backupctl.offline import preview
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


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


RETENTION_LINE = "  maestro-backup:vaultLockMode: governance\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "  maestro-backup:backupRetentionDay: 10\n",
            "Pulumi.staging.yaml: maestro-backup:backupRetentionDay: expected a key the program reads "
            "(did you mean maestro-backup:backupRetentionDays?), found a key nothing reads",
        ),
        ("  maestro-backup:weeklyRetentionDays: 1e26\n", "weeklyRetentionDays: expected an integer >= 30"),
        ("  maestro-backup:weeklyRetentionDays: 1e400\n", "found 'inf'"),
        (
            "  maestro-backup:weeklyRetentionDays: " + "9" * 400 + "\n",
            "weeklyRetentionDays: expected an integer",
        ),
        ("  maestro-backup:weeklyRetentionDays: 401\n", "and <= 400"),
        ("  maestro-backup:evidenceLockDays: 99999\n", "and <= 36500"),
        # Pulumi reads YAML 1.2: `yes` is the string "yes", which the program refuses as a boolean.
        ("yes", "deletionProtection: expected true or false, found 'yes'"),
        # Go's YAML library refuses a key given twice; PyYAML would silently keep the last one.
        (
            "  maestro-backup:vaultLockMode: none\n",
            "expected valid YAML, found the key maestro-backup:vaultLockMode given twice",
        ),
    ],
)
def test_stack_file_mistakes_are_one_line_naming_the_key(
    project_copy: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    path = project_copy / "Pulumi.staging.yaml"
    if line == "yes":
        _edit(path, "deletionProtection: true", "deletionProtection: yes")
    else:
        _edit(path, RETENTION_LINE, RETENTION_LINE + line)
    code = main(["preview", "--stack", "staging", "--project-dir", str(project_copy)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and expected in err[-1], err
    assert "Pulumi.staging.yaml" in err[-1].split(": expected")[0]


def test_a_bad_default_in_the_project_file_is_blamed_on_the_project_file(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(project_copy / "Pulumi.yaml", "    default: 30\n", "    default: 3\n")
    code = main(["preview", "--stack", "staging", "--project-dir", str(project_copy)])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(
        "backupctl: error: Pulumi.yaml: maestro-backup:weeklyRetentionDays: expected an integer >= 30"
    ), last


def test_a_secure_value_is_opaque_offline_and_said_so_with_verbose(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(
        project_copy / "Pulumi.staging.yaml",
        "  maestro-backup:alertEmail: sre-staging@maestro.example\n",
        "  maestro-backup:alertEmail:\n    secure: v1:AAABAF2cNm1hdHJpeA==:Zm9vYmFy\n",
    )
    code = main(["preview", "--stack", "staging", "--project-dir", str(project_copy), "-v"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "maestro-backup:alertEmail is a secure value: not decrypted offline, taken as valid" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--project-dir", "/nonexistent"),
            "--project-dir /nonexistent: expected a directory of a Pulumi project, found no such directory",
        ),
    ],
)
def test_project_dir_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    assert main(["preview", *args]) == 2
    assert capsys.readouterr().err.strip() == f"backupctl: error: {expected}"


def test_a_stack_file_that_is_not_utf8_is_one_line(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_copy / "Pulumi.staging.yaml").write_bytes(b"config:\n  aws:region: eu-west-1 \xff\n")
    assert main(["preview", "--stack", "staging", "--project-dir", str(project_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("expected a readable UTF-8 YAML file, found bytes that are not UTF-8 at offset 32"), (
        err
    )


REVIEWED_WAIT_FOR_RPCS = "c0f9027f85ad0925"  # sha256 prefix of its source in pulumi 3.272.0

# The offline preview's own wait for outstanding outputs and its paused garbage collector
# (backupctl.offline.preview.quiescence) must change nothing but the time.


def _with_sdk_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "quiescence", contextlib.nullcontext)


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_the_linear_wait_records_the_same_deployment_as_the_sdks(
    stack_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = preview.preview_stack(PROJECT_DIR, stack_name)
    _with_sdk_wait(monkeypatch)
    assert preview.preview_stack(PROJECT_DIR, stack_name) == ours


FAILING_PROGRAM = """
import pulumi
import pulumi_aws as aws

bucket = aws.s3.Bucket("b")
chain = bucket.arn
for _ in range(50):
    chain = chain.apply(lambda v: v + "x")
chain.apply(lambda v: {failure})
pulumi.export("ok", bucket.arn)
"""


@pytest.mark.parametrize(
    ("failure", "error"),
    [("1 / 0", ZeroDivisionError), ("(_ for _ in ()).throw(pulumi.RunError('refused'))", BadInput)],
)
def test_a_failing_output_fails_the_preview_as_under_the_sdks_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str, error: type[Exception]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: tiny\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (tmp_path / "__main__.py").write_text(FAILING_PROGRAM.format(failure=failure))
    with pytest.raises(error) as ours:
        preview.preview_stack(tmp_path, "dev")
    assert gc.isenabled() and pulumi_stack.wait_for_rpcs is not preview.wait_for_rpcs_linear
    _with_sdk_wait(monkeypatch)
    with pytest.raises(error) as sdks:
        preview.preview_stack(tmp_path, "dev")
    assert str(ours.value) == str(sdks.value)


def test_the_sdk_wait_replaced_offline_is_the_one_reviewed() -> None:
    """``wait_for_rpcs_linear`` restates pulumi 3.272.0's ``wait_for_rpcs``; a new SDK needs a new review."""
    source = inspect.getsource(pulumi_stack.wait_for_rpcs)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == REVIEWED_WAIT_FOR_RPCS, f"pulumi's wait_for_rpcs changed ({digest}): review quiescence"


def test_a_misspelt_region_fails_offline_as_the_provider_would_unless_validation_is_skipped(
    project_copy: Path,
) -> None:
    path = project_copy / "Pulumi.staging.yaml"
    _edit(path, "aws:region: eu-west-1\n", "aws:region: eu-westt-1\n")
    result = _run("--project-dir", str(project_copy), "preview", "--stack", "staging", "--no-cache")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "backupctl: error: Pulumi.staging.yaml: aws:region: expected a region pulumi-aws knows "
        "(did you mean eu-west-1?), found 'eu-westt-1'"
    )
    _edit(path, "aws:region: eu-westt-1\n", "aws:region: eu-westt-1\n  aws:skipRegionValidation: true\n")
    result = _run("--project-dir", str(project_copy), "preview", "--stack", "staging", "--no-cache")
    assert result.returncode == 0, result.stderr
