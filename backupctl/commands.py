"""Sub-commands beyond preview register here, each from its own module."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the sub-commands of the other modules to the parser (kept lazy: imports happen on use)."""
    del sub
    _ = argparse
