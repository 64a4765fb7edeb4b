"""Writing files so that they appear whole or not at all."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import InputError


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file, and an existing file survives a failed write.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}-{os.path.basename(path)}")
    # mode 0o666 under the process's umask, as for any new file (mkstemp's 0600 would hide
    # shipped files from other users)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def check_output_path(path: str | os.PathLike, what: str = "output file") -> Path:
    """Refuse, before any work is done, a path the result could not be written to: its folder
    is missing, not a folder or not writable, or the path is a folder."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InputError(f"{path}: the {what} is a folder, expected a file name")
    if not folder.exists():
        raise InputError(f"{path}: the {what}'s folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{path}: the {what}'s folder {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{path}: the {what}'s folder {folder} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{path}: the {what} exists and is not writable")
    return p
