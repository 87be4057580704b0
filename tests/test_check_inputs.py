"""`check` and `preview` under bad input (issue 12): a table of bad inputs, each exit 2 (or, for a wrong
value inside a resource, a finding with exit 1) with one stderr line, no traceback, nothing written; and
property-based tests that throw malformed deployments and policy configs at `check`: only 0, 1 or 2 ever
comes back, never an uncaught exception (exit 3) or a traceback."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backupctl.cli import main
from maestro_policies import RULES
from tests.conftest import PROJECT_DIR

FIXTURE = PROJECT_DIR / "tests" / "fixtures" / "stack-export-prod.json"
BASE: dict[str, Any] = json.loads(FIXTURE.read_text())
LEGACY_DB = "urn:pulumi:prod::maestro-backup::aws:rds/instance:Instance::legacy-db"


def changed(edit: Callable[[dict[str, Any]], object]) -> str:
    """The fixture export with ``edit`` applied, as JSON text."""
    dep = copy.deepcopy(BASE)
    edit(dep)
    return json.dumps(dep)


def resource(dep: dict[str, Any], urn: str = LEGACY_DB) -> dict[str, Any]:
    return next(r for r in dep["deployment"]["resources"] if r["urn"] == urn)


def invoke(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


# (name, files to create {name: text or bytes or "<dir>"}, argv with {tmp}, exit, words in stderr)
Row = tuple[str, dict[str, Any], list[str], int, str]
DIR = "<dir>"
ROWS: list[Row] = [
    ("deployment is a directory", {"d": DIR}, ["check", "--deployment", "{tmp}/d"], 2, "found a directory"),
    ("deployment missing", {}, ["check", "--deployment", "{tmp}/none.json"], 2, "found no such file"),
    (
        "deployment not UTF-8",
        {"x.json": b'{"a": "\xff"}'},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "not UTF-8",
    ),
    (
        "deployment not JSON",
        {"x.json": "{nope"},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "invalid JSON",
    ),
    (
        "deployment 1e400",
        {
            "x.json": changed(lambda d: resource(d)["inputs"].update(backupRetentionPeriod=7)).replace(
                ": 7,", ": 1e400,"
            )
        },
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "the number 1e400 is out of range",
    ),
    (
        "deployment 400-digit number",
        {
            "x.json": changed(lambda d: None).replace(
                '"backupRetentionPeriod": 1', '"backupRetentionPeriod": ' + "9" * 400
            )
        },
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "400-digit number",
    ),
    (
        'inputs: "str"',
        {"x.json": changed(lambda d: resource(d).update(inputs="str"))},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "deployment.resources[3].inputs: expected an object of properties, found str",
    ),
    (
        'propertyDependencies: {"a": 5}',
        {"x.json": changed(lambda d: resource(d).update(propertyDependencies={"a": 5}))},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "propertyDependencies.a: expected a list of URN strings, found 5",
    ),
    (
        "dependencies not a list",
        {"x.json": changed(lambda d: resource(d).update(dependencies="x"))},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "dependencies: expected a list of URN strings",
    ),
    (
        "urn not a URN",
        {"x.json": changed(lambda d: resource(d).update(urn="legacy-db"))},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "urn: expected a Pulumi URN, found legacy-db",
    ),
    (
        "resources not a list",
        {"x.json": json.dumps({"deployment": {"resources": {}}})},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "deployment.resources: expected a list of resources",
    ),
    (
        "export is a list",
        {"x.json": "[]"},
        ["check", "--deployment", "{tmp}/x.json"],
        2,
        "expected a stack export",
    ),
    (
        'backupRetentionPeriod: "abc" is a finding',
        {"x.json": changed(lambda d: resource(d)["inputs"].update(backupRetentionPeriod="abc"))},
        ["check", "--deployment", "{tmp}/x.json", "--quiet", "--check", "rds-instance-backup-retention"],
        1,
        "",
    ),
    (
        'rotationPeriodInDays: "x" is a finding',
        {
            "x.json": changed(
                lambda d: resource(d, d["deployment"]["resources"][2]["urn"])["inputs"].update(
                    enableKeyRotation=True, rotationPeriodInDays="x"
                )
            )
        },
        ["check", "--deployment", "{tmp}/x.json", "--quiet", "--check", "kms-key-rotation"],
        1,
        "",
    ),
    (
        "policy config is a directory",
        {"c": DIR},
        ["check", "--deployment", str(FIXTURE), "--policy-config", "{tmp}/c"],
        2,
        "found a directory",
    ),
    (
        "policy config not UTF-8",
        {"c.json": b"{\xfe}"},
        ["check", "--deployment", str(FIXTURE), "--policy-config", "{tmp}/c.json"],
        2,
        "not UTF-8",
    ),
    (
        "policy config 1e400",
        {"c.json": '{"kms-key-rotation": {"maxRotationDays": 1e400}}'},
        ["check", "--deployment", str(FIXTURE), "--policy-config", "{tmp}/c.json"],
        2,
        "kms-key-rotation.maxRotationDays: expected an integer >= 90 and <= 365",
    ),
    (
        "policy config Mandatory",
        {"c.json": '{"kms-key-rotation": "Mandatory"}'},
        ["check", "--deployment", str(FIXTURE), "--policy-config", "{tmp}/c.json"],
        2,
        "found 'Mandatory'",
    ),
    (
        "a new output directory is not made for a refused check",
        {"c.json": '{"kms-key-rotation": "Advisory"}'},
        [
            "check",
            "--deployment",
            str(FIXTURE),
            "-o",
            "json",
            "--output-file-path",
            "{tmp}/new/results",
            "--policy-config",
            "{tmp}/c.json",
        ],
        2,
        "found 'Advisory'",
    ),
    (
        "suppressions is a directory",
        {"s": DIR},
        ["check", "--deployment", str(FIXTURE), "--suppressions", "{tmp}/s"],
        2,
        "found a directory",
    ),
    (
        "unknown output format",
        {},
        ["check", "--deployment", str(FIXTURE), "-o", "html"],
        2,
        "expected formats among cli, json, sarif, junitxml",
    ),
    (
        "output dir is a file",
        {"f": "x"},
        ["check", "--deployment", str(FIXTURE), "-o", "json", "--output-file-path", "{tmp}/f"],
        2,
        "expected a directory, found a file",
    ),
    (
        "output dir under a file",
        {"f": "x"},
        ["check", "--deployment", str(FIXTURE), "--output-file-path", "{tmp}/f/out"],
        2,
        "a directory that can be created",
    ),
    (
        "environment without deployment",
        {},
        ["check", "--environment", "prod"],
        2,
        "--environment prod: expected --deployment",
    ),
    (
        "a directory named like a stack file, checked by name",
        {"Pulumi.yaml": (PROJECT_DIR / "Pulumi.yaml").read_text(), "Pulumi.qa.yaml": DIR},
        ["--project-dir", "{tmp}", "check", "--stack", "qa"],
        2,
        "{tmp}/Pulumi.qa.yaml: expected a stack file, found a directory",
    ),
    (
        "a directory named like a stack file, among all stacks",
        {"Pulumi.yaml": (PROJECT_DIR / "Pulumi.yaml").read_text(), "Pulumi.qa.yaml": DIR},
        ["--project-dir", "{tmp}", "preview"],
        2,
        "{tmp}/Pulumi.qa.yaml: expected a stack file, found a directory",
    ),
    (
        "environment in capitals",
        {},
        ["check", "--deployment", str(FIXTURE), "--environment", "PROD"],
        2,
        "argument --environment: invalid choice: 'PROD' (choose from 'staging', 'prod')",
    ),
    (
        "unknown stack",
        {},
        ["check", "--stack", "nope"],
        2,
        "--stack: expected one of the project's stacks (prod, staging), found nope",
    ),
    (
        "missing project dir",
        {},
        ["check", "--project-dir", "{tmp}/none"],
        2,
        "expected a directory of a Pulumi project",
    ),
    (
        "list-policies with a stack",
        {},
        ["check", "--list-policies", "--stack", "prod"],
        2,
        "--list-policies with --stack",
    ),
    (
        "unknown policy to check",
        {},
        ["check", "--deployment", str(FIXTURE), "--check", "kms-rotation"],
        2,
        "did you mean",
    ),
    (
        "misspelt policy setting",
        {"c.json": '{"rds-instance-backup-retention": {"minRetentionDay": 7}}'},
        ["check", "--deployment", str(FIXTURE), "--policy-config", "{tmp}/c.json"],
        2,
        "rds-instance-backup-retention.minRetentionDay: expected one of the policy's keys (minRetentionDays) "
        "(did you mean minRetentionDays?), found 'minRetentionDay'",
    ),
    (
        "misspelt suppression key",
        {"s.json": '{"suppressions": [{"policy": "kms-key-rotation", "resource": "*", "reasn": "x"}]}'},
        ["check", "--deployment", str(FIXTURE), "--suppressions", "{tmp}/s.json"],
        2,
        "suppressions[0].reasn: expected only policy, resource and reason, found 'reasn'",
    ),
    (
        "preview --out is a directory",
        {"o": DIR},
        ["preview", "--stack", "staging", "--out", "{tmp}/o"],
        2,
        "--out {tmp}/o: expected a file path to write, found a directory",
    ),
    (
        "preview --out in a missing directory",
        {},
        ["preview", "--stack", "staging", "--out", "{tmp}/no/x.json"],
        2,
        "expected a file in an existing directory",
    ),
    (
        "preview unknown stack",
        {},
        ["preview", "--stack", "nope", "--out", "{tmp}/x.json"],
        2,
        "expected one of the project's stacks",
    ),
]


@pytest.mark.parametrize(("name", "files", "argv", "code", "words"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, name: str, files: dict[str, Any], argv: list[str], code: int, words: str
) -> None:
    for file, content in files.items():
        if content == DIR:
            (tmp_path / file).mkdir()
        elif isinstance(content, bytes):
            (tmp_path / file).write_bytes(content)
        else:
            (tmp_path / file).write_text(content)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    got, out, err = invoke(
        ["--project-dir", str(PROJECT_DIR), *args] if "--project-dir" not in args else args
    )
    assert got == code, (name, err)
    assert "Traceback" not in err
    if code == 2:
        assert out == ""
        [line] = err.splitlines()
        assert line.startswith("backupctl: error: ") and words.replace("{tmp}", str(tmp_path)) in line, line
    else:
        assert err == "" and "FAIL" in out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "nothing may be written"


def test_the_table_has_at_least_twenty_rows() -> None:
    assert len(ROWS) >= 20


# --- property-based: malformed deployments and policy configs ----------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(["Enabled", "ENABLED", "aws:kms", "cron(0 3 * * ? *)", "urn:pulumi:prod::p::t::n"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
FIELDS = [
    "urn",
    "type",
    "custom",
    "parent",
    "dependencies",
    "propertyDependencies",
    "inputs",
    "outputs",
    "protect",
]
PROPS = [
    "tags",
    "backupRetentionPeriod",
    "rotationPeriodInDays",
    "enableKeyRotation",
    "kmsKeyId",
    "policy",
    "rules",
    "bucket",
    "versioningConfiguration",
    "storageEncrypted",
]


def _dump(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


@st.composite
def malformed_deployments(draw: st.DrawFn) -> str:
    dep = copy.deepcopy(BASE)
    resources = dep["deployment"]["resources"]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        target = resources[draw(st.integers(min_value=0, max_value=len(resources) - 1))]
        if draw(st.booleans()):
            target[draw(st.sampled_from(FIELDS))] = draw(VALUES)
        else:
            props = target.setdefault("inputs", {})
            if isinstance(props, dict):
                props[draw(st.sampled_from(PROPS))] = draw(VALUES)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return _dump(draw(VALUES))  # now and then not an export at all
    return _dump(dep)


@st.composite
def malformed_policy_configs(draw: st.DrawFn) -> str:
    names = [r.name for r in RULES] + ["all", "environments", "kms-key-rotaton"]
    keys = ["enforcementLevel", "minRetentionDays", "maxRotationDays", "minLockDays", "breakGlassRoles", "x"]
    levels = st.sampled_from(["advisory", "mandatory", "remediate", "disabled", "Mandatory", ""])
    entry = levels | st.dictionaries(st.sampled_from(keys), VALUES | levels, max_size=3) | VALUES
    document = draw(st.dictionaries(st.sampled_from(names), entry, max_size=4) | VALUES)
    return _dump(document)


def _only_contract_exits(argv: list[str]) -> None:
    code, out, err = invoke(argv)
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("backupctl: error: ") and out == ""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=malformed_deployments())
def test_any_malformed_deployment_is_0_1_or_2_never_a_crash(tmp_path: Path, text: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(text)
    _only_contract_exits(["check", "--deployment", str(path)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=malformed_policy_configs())
def test_any_malformed_policy_config_is_0_1_or_2_never_a_crash(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy-config.json"
    path.write_text(text)
    _only_contract_exits(["check", "--deployment", str(FIXTURE), "--policy-config", str(path)])
