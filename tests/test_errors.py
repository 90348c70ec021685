"""How a command ends: a message and a status a shell (and DVC) understands, never a half-output."""

from __future__ import annotations

import signal
import threading

import pytest

from rewardlab.core.errors import UserError, run_main
from rewardlab.core.outputs import atomic_dir


def test_a_user_error_exits_2_with_the_message_only(capsys):
    def main(argv):
        raise UserError("data.source = 'x.txt': unsupported file type")

    with pytest.raises(SystemExit) as exited:
        run_main(main, [])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "rewardlab: error: data.source = 'x.txt': unsupported file type\n"
    )


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_write_exits_128_plus_it_and_leaves_no_temporary(
    tmp_path, capsys, signum, status
):
    def main(argv):
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "half.txt").write_text("half")
            # To this thread: a process-wide kill may land on another thread (earlier tests leave
            # some), and Python then runs the handler some bytecodes later, after the line below.
            signal.pthread_kill(threading.get_ident(), signum)
            raise AssertionError("the signal should have stopped the stage")

    # Ctrl-C raises KeyboardInterrupt in a command's fresh process; this one is shared with every
    # earlier test (once, this test saw no KeyboardInterrupt), so Python's own handler is put
    # back, at the OS level too, for the duration.
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exited:
            run_main(main, [])
    finally:
        signal.signal(signal.SIGINT, interrupt)
    assert exited.value.code == status
    assert "unfinished outputs were discarded" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored afterwards
