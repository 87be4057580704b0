"""Errors a user can fix. The CLI prints them as one line and exits 2; nothing else is caught. And the
signals that end a run: ``Interrupted``, and ``signals_held`` for work a signal must not cut short."""

from __future__ import annotations

import contextlib
import difflib
import signal
import threading
from collections.abc import Iterable, Iterator

_NOTHING = object()


class BadInput(Exception):
    """Bad config, flag, file or deployment: names what, what was expected and what was found."""

    def __init__(self, where: str, expected: str, found: object = _NOTHING) -> None:
        if found is _NOTHING:
            found_text = ""
        else:
            found_text = f", found {found}" if isinstance(found, str) else f", found {found!r}"
        super().__init__(f"{where}: expected {expected}{found_text}")

    @classmethod
    def message(cls, text: str) -> BadInput:
        """An error whose text is already in the `key: expected ..., found ...` form."""
        error = cls.__new__(cls)
        Exception.__init__(error, text)
        return error


def did_you_mean(name: str, known: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean <prefix><closest>?)`` for a misspelt ``name``, or nothing when none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


class RefusedError(Exception):
    """An operation refused on purpose (prod, untagged target): exit 2 with the reason."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (cleanup in every ``finally`` runs), then exit
    128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[list[int]]:
    """Signals that arrive meanwhile are noted, not acted on: a second Ctrl-C must not stop a cleanup
    half-way (servers left running) or lose an audit record. Only the main thread can hold them
    (elsewhere nothing is held)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum)) for s in HELD_SIGNALS}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def raise_signal(signum: int) -> None:
    """Acts on a held signal the way its handler would have."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)
