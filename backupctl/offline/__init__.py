"""Offline work on the Pulumi project (runbook 1-4 before anything is deployed): stack configuration
(stackconfig), the program under mocks (mocks, preview), previews cached and run in workers (previews),
deployments read and checked (deployment), the policy configuration and suppressions (policyconfig,
suppressions), the policy runner (check), its reports (outputs) and the check command end to end (gate)."""
