"""The shape of the code (the architecture issue's limits) and the absence of hidden global
state: checked on the installed package's source."""

import ast
from pathlib import Path

import networkx as nx
import numba
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import random_inputs

import asyncsim
from asyncsim import Simulator, random_feedforward
from asyncsim.config import SimConfig, schema_fields
from asyncsim.training import TrainConfig

PACKAGE = Path(asyncsim.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
# installed, the command line is asyncsim/cli; in a checkout it lies beside the package
CHECKOUT_CLI = [] if (PACKAGE / "cli").is_dir() else sorted((PACKAGE.parent / "cli").glob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every asyncsim module imported anywhere in ``path`` (inside functions too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("asyncsim")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("asyncsim"):
                found.add(target)
                # "from . import x" and "from .pkg import module" name modules too
                found |= {f"{target}.{a.name}" for a in node.names}
    return found


def test_asyncsim_has_no_import_cycle():
    """Edges: every import anywhere in a module, plus the packages whose ``__init__`` such an
    import runs first (but the module's own packages, which Python initializes before it)."""
    modules = {_module_name(p): p for p in SOURCES}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name in modules:
        own = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        for target in _imports(modules[name]):
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                step = ".".join(parts[:k])
                if step in modules and step != name and step not in own:
                    graph.add_edge(name, step)
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], cycles


def _functions():
    for path in SOURCES + CHECKOUT_CLI:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                yield (f"{path.relative_to(PACKAGE.parent)}:{node.name}",
                       node.end_lineno - node.lineno + 1,
                       len(a.args) + len(a.kwonlyargs) + len(a.posonlyargs))


def test_no_function_is_longer_than_120_lines():
    long = [(name, lines) for name, lines, _ in _functions() if lines > 120]
    assert long == []


def test_no_function_takes_more_than_16_parameters():
    wide = [(name, n) for name, _, n in _functions() if n > 16]
    assert wide == []


def test_every_simulation_parameter_is_a_run_option_with_its_choices():
    from asyncsim.cli.main import cli

    text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    for f in schema_fields(SimConfig):
        names = f.metadata["cli"] or (f"--{f.name.replace('_', '-')}",)
        assert names[0] in text, f.name
        for choice in f.metadata["choices"]:
            assert choice in text, (f.name, choice)
    train = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output
    for f in schema_fields(TrainConfig):
        names = f.metadata["cli"] or (f"--{f.name.replace('_', '-')}",)
        assert names[0] in train, f.name


@pytest.mark.parametrize("field,value", [("forward_group", 0), ("refractory_dropout", 1.5),
                                         ("stop", "never"), ("seed", 2**70)])
def test_the_api_and_the_cli_refuse_a_value_with_the_same_text(field, value):
    from asyncsim import InputError
    from asyncsim.cli.main import cli

    with pytest.raises(InputError) as info:
        SimConfig(**{field: value})
    option = "--" + field.replace("_", "-")
    result = CliRunner().invoke(cli, ["run", "nmnist-untrained", "--samples", "1", option,
                                      str(value)])
    assert result.exit_code == 2
    if field != "stop":  # click checks choices itself, with its own text
        assert str(info.value) in result.output


def test_threads_are_restored_after_every_run_including_recording_and_errors():
    net = random_feedforward([6, 5, 3], seed=1, gain=2.0)
    inputs = random_inputs(4, 2, 6, rate=0.5, seed=1)
    before = numba.get_num_threads()
    Simulator(net).run(inputs, threads=1, record=True)
    assert numba.get_num_threads() == before
    with pytest.raises(asyncsim.InputError):
        Simulator(net).run(np.zeros((2, 2, 7), np.uint8), threads=1)
    assert numba.get_num_threads() == before


def test_plotting_does_not_switch_the_matplotlib_backend(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    before = matplotlib.get_backend()
    from asyncsim.sweeps.plots import plot_results

    plot_results([{"x": 1.0, "y": 2.0, "status": "ok"}, {"x": 2.0, "y": 3.0, "status": "ok"}],
                 "x", "y", tmp_path / "p.png")
    assert matplotlib.get_backend() == before
    assert (tmp_path / "p.png").stat().st_size > 0


def test_every_subpackage_of_the_checkout_is_installed():
    """A subpackage missing from pyproject's package list imports from a checkout but not after
    `pip install .` (this broke CI once: `asyncsim.nir_io`)."""
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    in_checkout = {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / "asyncsim").rglob("__init__.py")
    }
    assert in_checkout - listed == set()
    for name in sorted(in_checkout):
        __import__(name)
