"""`python -m daemon` is the same as the `dropcast` command."""

from daemon.cli import main

raise SystemExit(main())
