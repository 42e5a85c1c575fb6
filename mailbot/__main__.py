"""``python -m mailbot``: the same as the ``mailbot`` console script."""

from mailbot.cli import main

# Guarded: a parse worker process imports the main module again (multiprocessing).
if __name__ == "__main__":
    raise SystemExit(main())
