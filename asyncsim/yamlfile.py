"""Reading YAML files with errors users can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InputError


def read_yaml(path: Path) -> Any:
    """Parse ``path``; a syntax or read problem becomes a one-line :class:`InputError` (without
    the path: callers add it)."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file: {exc}") from None
