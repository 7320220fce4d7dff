"""``python -m lrcast``: the same command line as the ``lrcast`` script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
