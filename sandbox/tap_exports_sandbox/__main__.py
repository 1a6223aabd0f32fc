"""``python -m tap_exports_sandbox``: the same as the ``tap-exports-sandbox`` command."""

from tap_exports_sandbox.cli import main

raise SystemExit(main())
