"""``python -m tap_exports.sandbox``: the same as the ``tap-exports-sandbox`` command."""

from tap_exports.sandbox.cli import main

raise SystemExit(main())
