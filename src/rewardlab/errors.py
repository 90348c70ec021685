"""One exception type for mistakes a person can fix, and the runner that turns it into a message.

Stages raise :class:`UserError` for bad params, bad data or an unreachable Hub; the runner prints
the message (no traceback wall) and exits with status 2. Real bugs still raise normally.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem in params, data or environment, described so a person knows what to change."""


def run_main(
    main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None
) -> None:
    """Run a command's ``main`` and exit 2 with the message on a :class:`UserError`."""
    try:
        main(argv)
    except UserError as exc:
        print(f"rewardlab: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
