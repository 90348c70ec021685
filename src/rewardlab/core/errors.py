"""One exception type for mistakes a person can fix, and the runner that turns it into a message.

Stages raise :class:`UserError` for bad params, bad data or an unreachable Hub; the runner prints
the message (no traceback wall) and exits with status 2. Real bugs still raise normally.

Signals: SIGTERM is turned into an exception, like Ctrl-C already is, so ``finally`` blocks run
and the atomic writers in :mod:`rewardlab.core.outputs` remove their temporaries on the way out. An
interrupted command exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as a shell
reports a process killed by that signal, so DVC and scripts see a failure.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem in params, data or environment, described so a person knows what to change."""


class StageInterrupted(Exception):
    """A stage stopped on a signal before finishing; its unfinished outputs were discarded."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def run_main(
    main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None
) -> None:
    """Run a command's ``main``: a user error exits 2, an interrupt 128 + signal, no traceback."""
    try:
        with sigterm_raises():
            main(argv)
    except UserError as exc:
        print(f"rewardlab: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except StageInterrupted as exc:
        print(f"rewardlab: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        message = "interrupted (SIGINT); unfinished outputs were discarded."
        print(f"rewardlab: {message}", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`StageInterrupted` instead of killing outright."""

    def raise_interrupted(signum: int, frame: object) -> None:
        raise StageInterrupted("interrupted (SIGTERM); unfinished outputs were discarded.", signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    previous = signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
