"""backup-restore-testing-isolated: AWS Backup restore tests restore into the isolated drill network,
never into defaults (runbook 2.1 step 1).

A restore testing selection that does not override the subnet group and the security groups restores
into the default VPC and security group
(https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html).
Override keys are not case sensitive.
"""

from __future__ import annotations

from collections.abc import Mapping

from maestro_policies._base import BACKUP_VAULT, get, of_type, stack_rule
from maestro_policies._wiring import RESTORE_TESTING_SELECTION

REQUIRED_OVERRIDES = {
    "RDS": ("dbsubnetgroupname", "vpcsecuritygroupids"),
    "Aurora": ("dbsubnetgroupname", "vpcsecuritygroupids"),
}


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    for selection in of_type(list(args.resources), RESTORE_TESTING_SELECTION):
        kind = str(get(selection.props, "protectedResourceType", default=""))
        overrides = get(selection.props, "restoreMetadataOverrides", default={})
        keys = {str(k).lower() for k in overrides} if isinstance(overrides, Mapping) else set()
        missing = [k for k in REQUIRED_OVERRIDES.get(kind, ()) if k not in keys]
        if missing:
            report_violation(
                f"restore testing selection `{selection.name}` ({kind}) does not override "
                f"{', '.join(missing)}: restored databases land in the default network; override them with "
                "the drill subnet group and security group",
                selection.urn,
            )


RULE = stack_rule(
    "backup-restore-testing-isolated",
    "restore tests restore into the drill subnet group and security group, never defaults",
    "2",
    (),
    (BACKUP_VAULT,),
    validate,
)
