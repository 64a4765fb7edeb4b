"""Which asyncsim computed a result: its version and a fingerprint of its source code (so that
two installations of the same version number with different code are told apart)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

VERSION = "0.1.0"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """12 hex digits: a hash of every Python source file of the installed package."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def version_string() -> str:
    """``VERSION+fingerprint``, e.g. ``0.1.0+3f2a9c1d0b7e``."""
    return f"{VERSION}+{fingerprint()}"
