"""Errors a user can fix. The CLI prints them as one line and exits 2; nothing else is caught."""

from __future__ import annotations

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


class RefusedError(Exception):
    """An operation refused on purpose (prod, untagged target): exit 2 with the reason."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (cleanup in every ``finally`` runs), then exit
    128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
