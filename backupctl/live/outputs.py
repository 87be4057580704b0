"""Stack outputs for the live commands: `pulumi stack output --json` saved to a file, piped on stdin, or
fetched with the pulumi CLI when it is on PATH. A `pulumi stack export` file works too (the root stack's
outputs are taken from it). Every problem is a one-line BadInput naming the file and key."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from backupctl.errors import BadInput
from backupctl.files import parse_json, read_text

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
DATABASE_KEYS = ("identifier", "criticality", "rpoMinutes", "rtoMinutes")


def key_arns(outputs: dict[str, Any]) -> dict[str, str]:
    """The stack's keys by purpose, the DR region's as ``<purpose>-dr`` (runbook 3 covers every CMK)."""
    arns = {str(k): str(v) for k, v in outputs["keyArns"].items()}
    dr = outputs.get("drKeyArns") or {}
    return arns | ({f"{k}-dr": str(v) for k, v in dr.items()} if isinstance(dr, dict) else {})


def _parse(text: str, where: str) -> dict[str, Any]:
    data = parse_json(text, where, "JSON from `pulumi stack output --json`")
    if isinstance(data, dict) and isinstance(data.get("deployment"), dict):
        resources = data["deployment"].get("resources") or []
        root = [r for r in resources if r.get("type") == "pulumi:pulumi:Stack"]
        data = root[0].get("outputs", {}) if root else {}
    if not isinstance(data, dict):
        raise BadInput(where, "a JSON object of stack outputs", type(data).__name__)
    if not data:
        raise BadInput(where, "stack outputs (run `pulumi up` first)", "a stack without outputs")
    return data


def load_outputs(stack: str | None, path: str | None) -> tuple[dict[str, Any], str]:
    """Returns the outputs and where they came from."""
    if path == "-":
        return _parse(sys.stdin.read(), "stdin"), "stdin"
    if path:
        text = read_text(path, "--outputs", "a saved `pulumi stack output --json` file")
        return _parse(text, path), path
    if not stack:
        raise BadInput("--stack/--outputs", "a stack name or an outputs file")
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise BadInput(
            "--outputs",
            f"a file from `pulumi stack output --json --stack {stack}` (no pulumi CLI on PATH)",
            "nothing",
        )
    done = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", stack],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BadInput(f"pulumi stack output --stack {stack}", "the stack's outputs", last)
    return _parse(done.stdout, f"stack {stack}"), f"pulumi stack {stack}"


def require(outputs: dict[str, Any], keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if outputs.get(k) in (None, "", [], {})]
    if missing:
        raise BadInput(f"{where}: output `{missing[0]}`", "a value from the maestro-backup program", "none")
    region = outputs.get("region")
    if "region" in keys and not (isinstance(region, str) and REGION.match(region)):
        raise BadInput(f"{where}: output `region`", "an AWS region like eu-west-1", region)
    if "databases" in keys:
        dbs = outputs["databases"]
        if not isinstance(dbs, list):
            raise BadInput(f"{where}: output `databases`", "a list", type(dbs).__name__)
        for i, db in enumerate(dbs):
            missing_db = [k for k in DATABASE_KEYS if not isinstance(db, dict) or k not in db]
            if missing_db:
                raise BadInput(f"{where}: output `databases[{i}].{missing_db[0]}`", "a value", "none")
    if "keyArns" in keys and not isinstance(outputs["keyArns"], dict):
        raise BadInput(f"{where}: output `keyArns`", "an object purpose -> key ARN", outputs["keyArns"])


def check_region(outputs: dict[str, Any], requested: str | None) -> str:
    region = str(outputs["region"])
    if requested and requested != region:
        raise BadInput("--region", f"the stack's region {region}", requested)
    return region
