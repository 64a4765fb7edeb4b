"""The results table of a sweep: a CSV file, one row per point, that is never lost.

Rows are appended as points finish, each with a single ``write`` on a file opened for
appending, then flushed to disk (``fsync``). A process killed in the middle of a write can leave
at most one incomplete last line (no newline at its end); reading drops it, and resuming
truncates it away and runs its point again. No field contains a newline (errors are folded to
one line), so every complete line is a complete row. When the sweep ends, the file is rewritten
in point order (atomically: a temporary file renamed into place).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import InputError

#: columns kept as text when read back (a point id such as "123e45678901" is not a number)
TEXT_COLUMNS = ("point_id", "model", "profile", "status", "error", "unknown_figures")


def format_row(columns: list[str], row: dict[str, Any]) -> str:
    """One CSV line (with its newline); floats keep full precision, None is empty."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        ["" if row.get(c) is None else repr(row[c]) if isinstance(row[c], float) else row[c]
         for c in columns])
    return buffer.getvalue()


def parse_value(text: str) -> Any:
    """CSV text back to a number where it is one; empty text is None."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class ResultsFile:
    """An append-only CSV results file with a fixed header.

    Args:
        path: the CSV file.
        columns: the header; an existing file must have exactly these columns.
        resume: continue an existing file (else an existing file is an error: nothing already
            written is overwritten).
    """

    def __init__(self, path: str | Path, columns: list[str], resume: bool = False):
        self.path = Path(path)
        self.columns = list(columns)
        if self.path.exists() and not resume:
            raise InputError(f"{self.path}: results file exists; pass --resume to continue "
                             f"it, or write to another file")
        if self.path.exists():
            # prove the file is a results file of this sweep before changing a byte of it
            header, _ = _read(self.path)
            if header != self.columns:
                raise InputError(f"{self.path}: not a results file of this sweep (expected "
                                 f"{len(self.columns)} columns starting {self.columns[:6]}, "
                                 f"got {header[:6]}...; another sweep or asyncsim version)")
            self._drop_incomplete_line()
        else:
            write_text_atomic(self.path, format_row(self.columns, dict(zip(
                self.columns, self.columns, strict=True))))

    def rows(self) -> list[dict[str, Any]]:
        """The rows written so far."""
        return _read(self.path)[1]

    def append(self, row: dict[str, Any]) -> None:
        """Add one row, durably."""
        line = format_row(self.columns, row).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the whole table (atomically), e.g. in point order or without some rows."""
        text = format_row(self.columns, dict(zip(self.columns, self.columns, strict=True)))
        text += "".join(format_row(self.columns, r) for r in rows)
        write_text_atomic(self.path, text)

    def _drop_incomplete_line(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The complete rows of a results file, numbers parsed (an incomplete last line, left by
    a killed sweep, is ignored)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such results file")
    return _read(path)[1]


def _read(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a results file (not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the results file ({exc.strerror})") from None
    if not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputError(f"{path}: not a results file (not CSV: {exc})") from None
    if not lines:
        raise InputError(f"{path}: empty results file (no header)")
    header = lines[0]
    rows = []
    for number, values in enumerate(lines[1:], start=2):
        if len(values) != len(header):
            raise InputError(f"{path}: line {number} has {len(values)} fields, expected "
                             f"{len(header)}")
        rows.append({k: v if k in TEXT_COLUMNS else parse_value(v)
                     for k, v in zip(header, values, strict=True)})
    return header, rows
