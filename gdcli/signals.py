"""Stop signals: Ctrl-C (SIGINT), SIGTERM (``timeout``, a scheduler, ``docker stop``)
and SIGHUP (a closed terminal) are handled alike, and end gdcli with exit code
128 + the signal's number (130, 143, 129).

- ``InterruptGuard``, around a run: the first signal asks the runner to stop after
  its current step (it then saves what it did); a second one ends it at once.
- ``EndOnStopSignal``, around a whole command: outside a run a signal ends gdcli at
  once with ``Terminated``, which the CLI reports (instead of dying without a word).

Light on purpose (no numpy): the CLI installs it for every command, ``--help`` too.
This module never prints and never exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from gdcli.errors import SIGNAL_WORDS, Terminated

__all__ = ["STOP_SIGNALS", "EndOnStopSignal", "InterruptGuard"]

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

STOP_SIGNALS: tuple[int, ...] = tuple(SIGNAL_WORDS)


class _Handlers:
    """Install ``_handle`` for every stop signal that is not ignored (``nohup``
    ignores SIGHUP, a shell's background job SIGINT); put the previous handlers back
    on exit. Handlers can only be set from the main thread; elsewhere it does nothing.
    """

    def __init__(self) -> None:
        self._previous: dict[int, _SignalHandler] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            if previous is not signal.SIG_IGN:
                self._previous[sig] = previous
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Put the previous handlers back; calling it again does nothing."""
        while self._previous:
            sig, previous = self._previous.popitem()
            # getsignal returns None for a handler installed outside Python; it
            # cannot be put back, and the default action is the closest equivalent.
            if previous is None:
                previous = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            signal.signal(sig, previous)


class EndOnStopSignal(_Handlers):
    """Outside a run, a stop signal ends gdcli at once with ``Terminated(signum)``.

    Without it SIGTERM kills the process without a word, and Ctrl-C's
    ``KeyboardInterrupt`` would be turned by typer into a silent exit 130.
    """

    decided = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.decided:
            raise Terminated(signum)

    def decide(self) -> None:
        """The outcome is known and about to be reported: a stop signal from now on
        changes nothing (it would cut the report short and leave a traceback)."""
        self.decided = True

    def settle(self) -> None:
        """Ignore stop signals from now on, also after the block: the outcome is
        decided and reported, and a late signal must not turn a saved run's exit into
        a death by that signal (Python re-raises an unhandled SIGINT at exit)."""
        for sig in list(self._previous):
            self._previous[sig] = signal.SIG_IGN
            signal.signal(sig, signal.SIG_IGN)


class InterruptGuard(_Handlers):
    """Turn the first stop signal into a polite stop request.

    Installed by the CLI around a run. The first signal only sets ``requested`` and
    ``signum``; runners poll ``should_stop`` (pass ``guard.should_stop`` as their
    callable) so the current step finishes, the trace is flushed and the summary
    written. A second signal raises ``Terminated`` at once, for a run that does not
    poll or takes too long to stop. The previous handlers are restored on exit.
    Outside the main thread the guard never requests a stop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested: bool = False
        self.signum: int | None = None
        self.finished: bool = False

    def should_stop(self) -> bool:
        """Whether a stop was requested; cheap enough to call every step."""
        return self.requested

    def finish(self) -> None:
        """The run is back, its files written: a stop signal from now on changes
        nothing. (Raised later, as the guard's block ends, it would escape the code
        that tells a whole run from a cut one, and call a saved run cut.)"""
        self.finished = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.finished:
            return
        if self.requested:
            raise Terminated(signum, "the run stopped at once, without its summary")
        self.requested = True
        self.signum = signum

    def __enter__(self) -> InterruptGuard:
        super().__enter__()
        return self
