"""Adopting an existing RDS instance into a stack (runbook 1.1): the `pulumi import --file` that puts it
at the program's URN, and what the first `pulumi up` after it will and will not change.

Why a file and not the ``import`` resource option: since Pulumi 3.174 the option imports and then
updates in the same `up` (pulumi/pulumi#19339), with no review between; older CLIs fail unless every
declared input matches. `pulumi import --file` writes the state only, protected, and `pulumi preview
--diff` shows the rest. The file names the whole parent chain as components (``"component": true``),
so the URN is the program's; a component already in the state is kept as it is (the engine issues a
"same" step for an existing URN). Format: ``importFile``/``importSpec`` in pulumi's
pkg/cmd/pulumi/operations/import.go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backupctl.findings import Finding

INSTANCE = "aws:rds/instance:Instance"
STACK = "pulumi:pulumi:Stack"
# What `pulumi import --file` reads of each resource (importSpec's JSON names).
SPEC_FIELDS = (
    "type",
    "name",
    "id",
    "parent",
    "provider",
    "version",
    "properties",
    "component",
    "logicalName",
)

# Program input -> how to read the same setting from DescribeDBInstances.
LIVE_FIELDS: Mapping[str, Any] = {
    "engineVersion": lambda i: i.get("EngineVersion"),
    "instanceClass": lambda i: i.get("DBInstanceClass"),
    "allocatedStorage": lambda i: i.get("AllocatedStorage"),
    "storageType": lambda i: i.get("StorageType"),
    "multiAz": lambda i: i.get("MultiAZ"),
    "storageEncrypted": lambda i: i.get("StorageEncrypted"),
    "kmsKeyId": lambda i: i.get("KmsKeyId"),
    "dbName": lambda i: i.get("DBName"),
    "username": lambda i: i.get("MasterUsername"),
    "manageMasterUserPassword": lambda i: bool(i.get("MasterUserSecret")),
    "dbSubnetGroupName": lambda i: i.get("DBSubnetGroup", {}).get("DBSubnetGroupName"),
    "vpcSecurityGroupIds": lambda i: sorted(g["VpcSecurityGroupId"] for g in i.get("VpcSecurityGroups", [])),
    "backupRetentionPeriod": lambda i: i.get("BackupRetentionPeriod"),
    "backupWindow": lambda i: i.get("PreferredBackupWindow"),
    "maintenanceWindow": lambda i: i.get("PreferredMaintenanceWindow"),
    "copyTagsToSnapshot": lambda i: i.get("CopyTagsToSnapshot"),
    "deletionProtection": lambda i: i.get("DeletionProtection"),
    "publiclyAccessible": lambda i: i.get("PubliclyAccessible"),
    "iamDatabaseAuthenticationEnabled": lambda i: i.get("IAMDatabaseAuthenticationEnabled"),
    "performanceInsightsEnabled": lambda i: i.get("PerformanceInsightsEnabled"),
    "enabledCloudwatchLogsExports": lambda i: sorted(i.get("EnabledCloudwatchLogsExports", [])),
    "tags": lambda i: {t["Key"]: t["Value"] for t in i.get("TagList", [])},
}


@dataclass(frozen=True)
class Adoption:
    """One database to adopt: its preview resource (program inputs, URN) and the live instance."""

    name: str
    resource: dict[str, Any]
    live: dict[str, Any]

    @property
    def identifier(self) -> str:
        return str(self.live["DBInstanceIdentifier"])


def _variable(logical_name: str) -> str:
    return re.sub(r"\W", "_", logical_name)


def _chain(by_urn: Mapping[str, dict[str, Any]], resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The component ancestors of ``resource``, outermost first (the root stack left out)."""
    chain = []
    parent = by_urn.get(resource.get("parent") or "")
    while parent is not None and parent["type"] != STACK:
        chain.append(parent)
        parent = by_urn.get(parent.get("parent") or "")
    return chain[::-1]


def import_file(
    deployment: Mapping[str, Any], adoptions: Sequence[Adoption], provider_version: str
) -> dict[str, Any]:
    """The `pulumi import --file` document for ``adoptions``, parent chain included."""
    by_urn = {r["urn"]: r for r in deployment["deployment"]["resources"]}
    entries: dict[str, dict[str, Any]] = {}
    for adoption in adoptions:
        parent_name = ""
        for component in _chain(by_urn, adoption.resource):
            logical = component["urn"].rsplit("::", 1)[-1]
            name = _variable(logical)
            entry: dict[str, Any] = {"type": component["type"], "name": name, "logicalName": logical}
            entry |= {"component": True, **({"parent": parent_name} if parent_name else {})}
            entries.setdefault(name, entry)
            parent_name = name
        logical = adoption.resource["urn"].rsplit("::", 1)[-1]
        entries[_variable(logical)] = {
            "type": INSTANCE,
            "name": _variable(logical),
            "logicalName": logical,
            "id": adoption.identifier,  # RDS instances import by identifier
            "parent": parent_name,
            "version": provider_version,
        }
    return {"resources": list(entries.values())}


def _same(program: Any, live: Any) -> bool:
    if isinstance(program, list):
        return sorted(map(str, program)) == sorted(map(str, live or []))
    if isinstance(program, dict):
        return all(live.get(k) == v for k, v in program.items()) if isinstance(live, dict) else False
    return program == live


def first_up(adoption: Adoption) -> list[Finding]:
    """Per setting: kept as the instance has it (ignored), changed by the first `up`, or already right.
    A FAIL is what adoption cannot fix (an unencrypted instance: runbook 1.1 needs a CMK)."""
    inputs = adoption.resource["inputs"]
    kept = set(adoption.resource.get("ignoreChanges", []))
    ident = adoption.identifier
    findings: list[Finding] = []
    if not adoption.live.get("StorageEncrypted"):
        findings.append(
            Finding(
                "FAIL",
                "1.1",
                "adopt-encryption",
                ident,
                f"instance `{ident}` is not encrypted: adoption cannot change that; copy a snapshot with the "
                "stack's rds CMK, restore it, and adopt the restored instance (runbook 1.1)",
            )
        )
    for field, read in LIVE_FIELDS.items():
        if field not in inputs:
            continue
        program, live = inputs[field], read(adoption.live)
        if field in kept:
            status, text = (
                "PASS",
                f"kept as the instance has it ({live!r}; the program would say {program!r})",
            )
        elif _same(program, live):
            status, text = "PASS", f"already {live!r}"
        else:
            status, text = "WARN", f"changes on the first `pulumi up`: {live!r} -> {program!r}"
        findings.append(Finding(status, "1.1", f"adopt-{field}", ident, f"`{ident}` {field}: {text}", False))
    return findings
