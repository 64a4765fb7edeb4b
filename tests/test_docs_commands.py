"""Every command the README and the docs show is checked, so that the docs cannot drift from
the command line: each ``asyncsim`` command line is parsed by the real command (options,
choices and types), and the cheap ones (on shipped models and profiles) are run. Benchmark
commands must name an existing script and options its ``--help`` lists."""

import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from asyncsim.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "models" / "README.md"]


def _command_names(group: click.Group) -> set[str]:
    names = set()
    for name, command in group.commands.items():
        names.add(name)
        if isinstance(command, click.Group):
            names |= _command_names(command)
    return names


COMMAND_NAMES = _command_names(cli)
#: documented commands shown with the error they give: command -> the error's first line
ERRORS: dict[str, str] = {}


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line) of every ``asyncsim`` and ``python benchmarks/...`` command in
    fenced blocks and inline code; usage synopses (with ``[...]`` or alternatives ``a|b``)
    are left out."""
    found = []
    for page in PAGES:
        text = page.read_text()
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
        lines = []
        for block in blocks:
            lines += block.replace("\\\n", " ").splitlines()
        inline = re.sub(r"```.*?```", "", text, flags=re.S)
        for mention in re.findall(r"`(asyncsim [^`]+)`", inline):
            words = mention.split()
            # a command, not a mention of one (`asyncsim run`, `asyncsim profiles compare`,
            # `asyncsim run --json`)
            named = len(words) > 1 and all(w in COMMAND_NAMES for w in words[1:])
            if (len(words) >= 3 and not words[2].startswith("-") and not named) or (
                    words[1:] == ["models"]):
                lines.append(" ".join(words))
        for number, line in enumerate(lines):
            following = lines[number + 1].strip() if number + 1 < len(lines) else ""
            if following.startswith("Error:"):  # a documented refusal: checked as such
                ERRORS[line.strip().removeprefix("$ ")] = following
            line = line.strip().removeprefix("$ ").split(" #")[0].strip()
            for part in line.split(" && "):
                if not re.match(r"asyncsim |python benchmarks/", part):
                    continue
                if "[" in part or "|" in part or "..." in part:
                    continue
                found.append((f"{page.name}:{number}", part))
    return found


COMMANDS = documented_commands()


def _resolve(args: list[str]) -> None:
    """Parse ``args`` the way ``asyncsim`` would, down to the subcommand (no callback runs)."""
    command: click.Command = cli
    ctx = command.make_context("asyncsim", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # protected_args: deprecated in Click 8.2, still set
            warnings.simplefilter("ignore", DeprecationWarning)
            pending = [*ctx.protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, pending)
        command = sub
        ctx = sub.make_context(name, rest, parent=ctx)


def test_the_docs_show_commands_of_every_kind():
    names = {cmd.split()[1] for _, cmd in COMMANDS if cmd.startswith("asyncsim ")}
    assert {"run", "train", "sweep", "plot", "convert", "models", "profiles"} <= names


@pytest.mark.parametrize("where,command", [c for c in COMMANDS if c[1].startswith("asyncsim")],
                         ids=[c[0] for c in COMMANDS if c[1].startswith("asyncsim")])
def test_documented_command_parses(where, command, monkeypatch):
    monkeypatch.chdir(ROOT)
    _resolve(shlex.split(command)[1:])


def _cheap(command: str) -> bool:
    """Listing commands, and runs of shipped models on shipped profiles (no input files)."""
    args = shlex.split(command)[1:]
    if args[0] == "models" or args[:2] in (["profiles", "list"], ["data", "list"]):
        return True
    placeholders = any(a.isupper() for a in args)  # MODEL, NAME, FILE
    return args[0] == "run" and not placeholders and not any(
        a.endswith((".yaml", ".nir", ".npz")) for a in args)


@pytest.mark.parametrize("command", sorted({c for _, c in COMMANDS
                                            if c.startswith("asyncsim") and _cheap(c)}))
def test_cheap_documented_command_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files a command writes land here
    args = shlex.split(command)[1:]
    if args[0] == "run":  # a few samples are enough to show the command works
        if "--samples" in args:
            args[args.index("--samples") + 1] = "4"
        else:
            args += ["--samples", "4"]
    result = CliRunner().invoke(cli, args)
    if command in ERRORS:
        assert result.exit_code == 2, f"{command}\n{result.output}"
        assert ERRORS[command] in result.output.replace("\n", " "), result.output
    else:
        assert result.exit_code == 0, f"{command}\n{result.output}"


@pytest.mark.parametrize("command", sorted({c for _, c in COMMANDS
                                            if c.startswith("python benchmarks/")}))
def test_documented_benchmark_command_exists_with_its_options(command):
    args = shlex.split(command)[1:]
    script = ROOT / args[0]
    assert script.is_file(), command
    options = [a for a in args[1:] if a.startswith("--")]
    if options:
        helptext = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=300).stdout
        for option in options:
            assert option in helptext, f"{command}: {option} not in --help"
