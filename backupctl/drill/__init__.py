"""The quarterly restore drill (runbook 2): the ten checklist steps of 2.1 written once in ``steps`` over
a ``Target`` (``local``: throwaway PostgreSQL; ``rds``: the staging drill network), the step recorder,
PostgreSQL tools, dumps with manifests, the artifacts index, smoke tests and the sealed report."""
