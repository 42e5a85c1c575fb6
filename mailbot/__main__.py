"""``python -m mailbot``: the same as the ``mailbot`` console script."""

from mailbot.cli import main

raise SystemExit(main())
