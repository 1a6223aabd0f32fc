"""How a run that fails for a reason the tap explains ends: one clear line, exit code 1.

The reason (wrong credentials, a failed export, a bad row) is all a person needs; the
traceback says where in the tap it was noticed, which helps only when debugging, so it
is logged at DEBUG (``TAP_EXPORTS_LOGLEVEL=DEBUG``) instead of filling the log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from tap_exports.errors import TapExportsError

#: Failures whose message is the whole story.
EXPLAINED = (TapExportsError, FatalAPIError, RetriableAPIError)


@contextlib.contextmanager
def explained_failures(logger: logging.Logger) -> Iterator[None]:
    """Turn an explained failure into its message at ERROR and exit code 1.

    Invalid settings are listed one per line, worded as the SDK's discovery words them,
    so every mode (sync, discovery, ``--test``) reads the same.
    """
    try:
        yield
    except ConfigValidationError as exc:
        for error in exc.errors:
            logger.error("Config validation error: %s", error)  # noqa: TRY400 - no traceback
        sys.exit(1)
    except EXPLAINED as exc:
        logger.error("%s", exc)  # noqa: TRY400 - the traceback follows at DEBUG
        logger.debug("Where the error above was raised", exc_info=True)
        sys.exit(1)
