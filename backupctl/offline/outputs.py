"""The reports of `backupctl check`, one set of verdicts rendered four ways that agree (runbook 1-4):

- ``cli``: a table by runbook section, ``[advisory]`` beside a WARN as Pulumi prints it, suppressed
  findings with their reason; ``--quiet`` shows only FAIL and WARN, ``--compact`` one line per finding;
- ``json``: the versioned document ``maestro-backup/check@1`` (``schemas/check-1.schema.json``), the same
  shape for one stack, many stacks or a deployment file;
- ``sarif``: SARIF 2.1.0 as GitHub code scanning reads it (rules with help and security-severity,
  stable fingerprints, the stack file or deployment file as location, the URN as logical location);
- ``junitxml``: one test suite per stack, one test case per verdict, so CI systems show results natively.
"""

from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backupctl import __version__
from backupctl.offline.check import Result, TargetReport, counts
from backupctl.offline.deployment import stack_name
from maestro_policies._base import SEVERITY_SCORES, Rule

SCHEMA = "maestro-backup/check@1"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}
SHOWN = {"FAIL", "WARN", "SUPPRESSED", "SKIP"}  # what the table lists per resource without -v


def _section_key(section: str) -> list[int]:
    return [int(p) for p in section.split(".") if p.isdigit()]


def _flag(result: Result) -> str:
    return " [advisory]" if result.status == "WARN" else ""


def _row(result: Result, compact: bool) -> str:
    subject = result.resource_name or "(stack)"
    head = f"    {result.status:<10} {result.rule.name + _flag(result):<46} {subject}"
    note = f"{result.message}" + (f" -- suppressed: {result.suppression[1]}" if result.suppression else "")
    return f"{head}: {note}\n" if compact else f"{head}\n               {note}\n"


def render_table(
    report: TargetReport, *, verbose: bool = False, quiet: bool = False, compact: bool = False
) -> str:
    target = report.target
    where = target.file if target.kind == "stack" else f"stack {stack_name(target.deployment) or '?'}"
    lines = [
        f"Compliance of {target.kind} {target.name} ({where}, environment {target.environment or '?'}) "
        "with the Backup and Restore Runbook\n"
    ]
    wanted = {"FAIL", "WARN"} if quiet else (SHOWN | {"PASS", "N/A"}) if verbose else SHOWN
    for section in sorted({r.rule.section for r in report.results}, key=_section_key):
        rows = [r for r in report.results if r.rule.section == section]
        out = []
        for name in dict.fromkeys(r.rule.name for r in rows):
            mine = [r for r in rows if r.rule.name == name]
            listed = [r for r in mine if r.status in wanted]
            passed = [r for r in mine if r.status == "PASS"]
            if passed and not verbose and not quiet and not [r for r in mine if r.status in ("FAIL", "WARN")]:
                out.append(f"    {'PASS':<10} {name:<46} {len(passed)} resource(s)\n")
            out += [_row(r, compact) for r in listed]
        if out:
            lines.append(f"\n  Runbook {section}\n")
            lines += out
    totals = counts(report.results)
    lines.append(
        f"\n  {totals['passed']} passed, {totals['failed']} failed, {totals['warnings']} warnings, "
        f"{totals['suppressed']} suppressed, {totals['skipped']} skipped, "
        f"{totals['notApplicable']} not applicable\n"
    )
    return "".join(lines)


def _result_dict(result: Result) -> dict[str, Any]:
    return {
        "status": result.status,
        "policy": result.rule.name,
        "level": result.level,
        "severity": result.rule.severity,
        "section": result.rule.section,
        "controls": list(result.rule.controls),
        "resource": (
            {"urn": result.urn, "type": result.resource_type, "name": result.resource_name}
            if result.urn
            else None
        ),
        "message": result.message,
        "suppression": (
            {"kind": result.suppression[0], "reason": result.suppression[1]} if result.suppression else None
        ),
    }


def render_json(reports: Sequence[TargetReport], *, policy_config: str | None, code: int) -> str:
    every = [r for report in reports for r in report.results]
    document = {
        "schema": SCHEMA,
        "tool": {"name": "backupctl", "version": __version__},
        "policyConfig": policy_config,
        "exitCode": code,
        "summary": counts(every),
        "targets": [
            {
                "kind": report.target.kind,
                "name": report.target.name,
                "file": report.target.file,
                "environment": report.target.environment,
                "resources": report.resources,
                "summary": counts(report.results),
                "findings": [_result_dict(r) for r in report.results],
            }
            for report in reports
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _help(rule: Rule) -> str:
    keys = "; ".join(
        f"{k} (default {v.get('default')}"
        + "".join(f", {w} {v[b]}" for w, b in (("minimum", "minimum"), ("maximum", "maximum")) if b in v)
        + ")"
        for k, v in rule.config.items()
    )
    return (
        f"{rule.policy.description}. Runbook section {rule.section}"
        + (f"; controls {', '.join(rule.controls)}" if rule.controls else "")
        + (f". Tunable in the policy config: {keys}" if keys else "")
        + (". Applies to prod stacks only" if rule.prod_only else "")
        + (
            f". Suppress one resource with the tag maestro:skip:{rule.name}=<reason>"
            if rule.suppressible
            else ". Cannot be suppressed in prod"
        )
        + "."
    )


def _sarif_rule(rule: Rule, level: str) -> dict[str, Any]:
    return {
        "id": rule.name,
        "name": _pascal(rule.name),
        "shortDescription": {"text": rule.text or rule.name},
        "fullDescription": {"text": rule.policy.description},
        "help": {"text": _help(rule), "markdown": _help(rule)},
        "defaultConfiguration": {"level": SARIF_LEVEL[level]},
        "properties": {
            "tags": ["security", f"runbook-{rule.section}", *rule.controls],
            "precision": "high",
            "problem.severity": "error" if SARIF_LEVEL[level] == "error" else "warning",
            "security-severity": SEVERITY_SCORES[rule.severity],
        },
    }


def fingerprint(result: Result, target: str) -> str:
    """Stable across runs: the policy and the resource URN (the target for stack-level findings)."""
    return hashlib.sha256(f"{result.rule.name}\0{result.urn or target}".encode()).hexdigest()


def artifact_uri(file: str) -> str:
    """A SARIF artifact URI: a path under the working directory stays relative (code scanning resolves it
    against the checkout); one outside it is an absolute ``file://`` URI, not a bare path."""
    return Path(file).as_uri() if file.startswith("/") else file


def _sarif_result(result: Result, index: int, target: TargetReport) -> dict[str, Any]:
    digest = fingerprint(result, target.target.name)
    physical = {"artifactLocation": {"uri": artifact_uri(target.target.file)}, "region": {"startLine": 1}}
    location: dict[str, Any] = {"physicalLocation": physical}
    if result.urn:
        location["logicalLocations"] = [
            {"fullyQualifiedName": result.urn, "name": result.resource_name, "kind": "resource"}
        ]
    entry: dict[str, Any] = {
        "ruleId": result.rule.name,
        "ruleIndex": index,
        "level": "error" if result.status == "FAIL" else "warning",
        "message": {"text": result.message},
        "locations": [location],
        "partialFingerprints": {"primaryLocationLineHash": f"{digest[:16]}:1", "maestroFinding/v1": digest},
    }
    if result.suppression:
        entry["suppressions"] = [{"kind": result.suppression[0], "justification": result.suppression[1]}]
    return entry


def information_uri(project_dir: Path | None) -> str:
    """Where a reader learns about the rules: the repository on GitHub in CI, else the README's file URI."""
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repository:
        return f"{server}/{repository}"
    return ((project_dir or Path.cwd()) / "README.md").resolve().as_uri()


def render_sarif(
    reports: Sequence[TargetReport], rules: Sequence[Rule], levels: dict[str, str], uri: str
) -> str:
    index = {rule.name: i for i, rule in enumerate(rules)}
    results = [
        _sarif_result(r, index[r.rule.name], report)
        for report in reports
        for r in report.results
        if r.status in ("FAIL", "WARN", "SUPPRESSED")
    ]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "backupctl",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": uri,
                        "rules": [_sarif_rule(rule, levels[rule.name]) for rule in rules],
                    }
                },
                "automationDetails": {"id": "backupctl-check/"},
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _testcase(suite: ET.Element, report: TargetReport, result: Result) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{report.target.name}.{result.rule.name}",
        name=f"[{result.level}][{result.rule.name}] {result.resource_name or '(stack)'}",
        file=report.target.file,
    )
    detail = f"runbook {result.rule.section}; {result.urn or 'the stack'}\n{result.message}"
    if result.status == "FAIL":
        ET.SubElement(case, "failure", type=result.level, message=result.message).text = detail
    elif result.status in ("SKIP", "N/A"):
        ET.SubElement(case, "skipped", message=f"{result.status}: {result.message}")
    elif result.status == "SUPPRESSED":
        reason = result.suppression[1] if result.suppression else ""
        ET.SubElement(case, "skipped", message=f"SUPPRESSED: {reason}").text = detail
    elif result.status == "WARN":
        ET.SubElement(case, "system-out").text = f"WARN [advisory] {detail}"


def _tally(results: Sequence[Result]) -> dict[str, str]:
    return {
        "tests": str(len(results)),
        "failures": str(sum(r.status == "FAIL" for r in results)),
        "errors": "0",
        "skipped": str(sum(r.status in ("SKIP", "N/A", "SUPPRESSED") for r in results)),
    }


def render_junit(reports: Sequence[TargetReport]) -> str:
    every = [r for report in reports for r in report.results]
    root = ET.Element("testsuites", {"name": "backupctl check", **_tally(every)})
    for report in reports:
        suite = ET.SubElement(
            root, "testsuite", {"name": f"backupctl check {report.target.name}", **_tally(report.results)}
        )
        properties = ET.SubElement(suite, "properties")
        for key, value in (("file", report.target.file), ("environment", report.target.environment)):
            ET.SubElement(properties, "property", name=key, value=value)
        for result in report.results:
            _testcase(suite, report, result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
