"""Offline work on the Pulumi project (runbook 1-4 before anything is deployed): stack configuration,
the program under mocks (preview) and the policy runner (check)."""
