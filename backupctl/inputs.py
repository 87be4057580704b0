"""What a user types, read once: times given on the command line become aware UTC datetimes or a
one-line BadInput naming the option (used by config restore --at and the drill's --point-in-time)."""

from __future__ import annotations

from datetime import datetime

from backupctl.errors import BadInput
from backupctl.live.aws import as_utc

ISO_TIME = "an ISO time like 2026-11-29T06:00:00Z"


def parse_time(text: str, where: str, expected: str = ISO_TIME) -> datetime:
    """A user-given time; without a zone it is UTC."""
    try:
        moment = as_utc(text)
    except ValueError:
        raise BadInput(where, expected, text) from None
    if moment is None:
        raise BadInput(where, expected, text)
    return moment
