"""Command-line options derived from the parameter schema (:mod:`asyncsim.config`).

Every schema field of a configuration dataclass becomes one click option with the field's
help text, choices and default (shown, not applied): an option the user does not give stays
None, so that only given values reach the API, where they are validated with the same error
text as in Python and in sweeps (and override a chip profile's settings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from asyncsim.config import schema_fields


def _default_text(f: dataclasses.Field) -> str:
    default = f.default
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def _option(f: dataclasses.Field) -> Callable:
    meta = f.metadata
    names = meta["cli"] if meta["cli"] is not None else (f"--{f.name.replace('_', '-')}",)
    help_text = f"{meta['help']} [default: {_default_text(f)}]"
    kind = meta["kind"]
    if kind == "bool":
        long = names[0]
        return click.option(f"{long}/--no-{long[2:]}", f.name, default=None, help=help_text)
    if kind in ("choice", "policy"):
        kind_type: Any = click.Choice(list(meta["choices"]), case_sensitive=False)
    elif kind == "int":
        kind_type = int
    elif kind == "float":
        kind_type = float
    else:  # sync: an integer or fan-in, parsed by the API
        kind_type = str
    return click.option(*names, f.name, type=kind_type, default=None, help=help_text,
                        metavar="INT|fan-in" if kind == "sync" else None)


def schema_options(config_class: type, skip: tuple[str, ...] = ()) -> Callable:
    """A decorator adding one option per schema field of ``config_class`` (but ``skip``)."""
    fields = [f for f in schema_fields(config_class) if f.name not in skip]

    def decorate(command: Callable) -> Callable:
        for f in reversed(fields):
            command = _option(f)(command)
        return command

    return decorate


def given(params: dict[str, Any], config_class: type) -> dict[str, Any]:
    """The values of ``config_class``'s options that the user gave."""
    names = {f.name for f in schema_fields(config_class)}
    return {k: v for k, v in params.items() if k in names and v is not None}
