"""`python -m snnctl.cli` = the `snnctl` command."""

from snnctl.cli import main

raise SystemExit(main())
