"""The CrossGuard pack: `pulumi preview --policy-pack policy`. Only builds the pack; the policies live in
``maestro_policies`` so backupctl runs the very same functions offline. Building a PolicyPack outside
the Pulumi engine blocks forever, so nothing else may import this file."""

from pulumi_policy import EnforcementLevel, Policy, PolicyPack

from maestro_policies import ALL_POLICIES, initial_config

PolicyPack(
    name="maestro-backup-runbook",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list[Policy](ALL_POLICIES),
    initial_config=initial_config(),
)
