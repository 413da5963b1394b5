"""``python -m tracewise_cli``: the ``tracewise`` command."""

from . import main

raise SystemExit(main())
