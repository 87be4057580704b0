"""`python -m backupctl`: the same entry point as the `backupctl` console script."""

from backupctl.cli import main

raise SystemExit(main())
