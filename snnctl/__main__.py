"""`python -m snnctl` = the `snnctl` command (handy where the console script is not on PATH)."""

from snnctl.cli import main

raise SystemExit(main())
