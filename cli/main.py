"""The ``asyncsim`` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from asyncsim import InputError, Simulator, load_model, save_model
from asyncsim.atomic import check_output_path
from asyncsim.compile import compile_network
from asyncsim.config import SimConfig
from asyncsim.datasets import BUILTIN as BUILTIN_DATA
from asyncsim.datasets import load_dataset
from asyncsim.hardware import ChipSimulator, load_profile, shipped_profiles
from asyncsim.hardware.mapping import STRATEGIES
from asyncsim.model_io import resolve_model_path, shipped_models
from asyncsim.network import RESET_ALIASES, RESET_MODES
from asyncsim.nir_io.conventions import CONVENTIONS
from asyncsim.presets import PRESETS, get_preset, preset_config
from asyncsim.simulator import early_decision as early_decision_curve
from asyncsim.sweeps import EXECUTORS, load_sweep, read_results, run_sweep
from asyncsim.sweeps.plots import (
    is_training_curves,
    plot_profiles,
    plot_report,
    plot_results,
    plot_training_curves,
)
from asyncsim.training import (
    OUTPUT_LAYERS,
    TrainConfig,
    build_network,
    evaluate,
    held_out_data,
    train,
)

from .options import given, schema_options

RESET_CHOICES = [*RESET_MODES, *RESET_ALIASES]
GENERATED = {
    "nmnist-like": "spatial, N-MNIST-shaped: 2312 features, 10 classes, 10 steps of 10 ms",
    "shd-like": "temporal, SHD-shaped: 350 channels, 20 classes, 100 steps of 10 ms",
    "dvs-like": "event camera, DVS-gesture-shaped: 2 x 32 x 32 inputs, 11 classes of moving "
                "shapes, 30 steps of 20 ms",
    "cifar-like": "static images, CIFAR-10-shaped: 3 x 32 x 32 inputs rate-coded (counts 0-4), "
                  "10 classes, 4 steps of 1 ms",
    "yin-yang": "Yin-Yang (Kriener et al.): 5 spike-time inputs, 3 classes, 30 steps of 1 ms",
    "sequence": "sequence detection: 2 inputs, 2 classes told by order, 11 steps of 1 ms",
    "randman": "random manifolds (Zenke): 100 units, 4 classes, 50 steps of 1 ms",
}
#: columns where lower is better, for the Pareto front against accuracy
COSTS = ("energy_j", "energy_dynamic_j", "energy_static_j", "energy", "latency_s", "sops",
         "input_sops", "spikes_to_first_output", "forward_steps", "density", "cores_used")


def model_reading_options(command):
    """--dt, --nir-convention and --reset: how to read a model (NIR needs the first two)."""
    for option in reversed((
            click.option("--dt", "dt_ms", type=float, default=None,
                         help="Timestep in milliseconds, for NIR models (NIR stores none)."),
            click.option("--nir-convention", type=click.Choice(list(CONVENTIONS)),
                         default="nir", show_default=True,
                         help="How to read a NIR model: the exporting framework's "
                              "conventions (docs/ecosystem.md)."),
            click.option("--reset", type=click.Choice(RESET_CHOICES), default=None,
                         help="The reset of every layer: zero, subtract, subtract_delayed, "
                              "zero_hold (NIR does not store it) [default: the model's, or "
                              "the NIR convention's]."))):
        command = option(command)
    return command


class _Group(click.Group):
    """Reports bad input, ours and click's usage errors alike, as one line on standard error
    and exits with code 2 (no traceback, no usage block)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            _fail(exc.format_message(), 2)
        except InputError as exc:
            _fail(str(exc), 2)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)


def _compile_notice(training: bool = False) -> None:
    """Say why the first run waits: Numba compiles the kernels it uses once (about a
    minute); a run that only simulates asks about the simulation kernel alone."""
    from asyncsim.warmup import kernels_compiled

    if kernels_compiled(training) is False:
        click.echo("Compiling the simulation kernels (first use only, about a minute; later "
                   "runs reuse them; `asyncsim warmup` compiles them ahead)...", err=True)


def _fail(message: str, code: int) -> None:
    click.echo("Error: " + " ".join(message.split()), err=True)
    sys.exit(code)


@click.group(cls=_Group)
@click.version_option(package_name="asyncsim")
def cli() -> None:
    """Simulate trained spiking networks on asynchronous neuromorphic hardware."""


@cli.command()
@click.argument("model")
@click.option("--data", default=None,
              help=f"Dataset: a built-in name ({', '.join(BUILTIN_DATA)}) or a file (asyncsim "
                   f"data list) [default: the model's own dataset].")
@click.option("--samples", type=click.IntRange(min=1), default=256, show_default=True,
              help="Number of samples to simulate.")
@schema_options(SimConfig)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Numba threads [default: all].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write the report (with per-sample arrays) to this JSON file.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar [default: when standard error is a terminal].")
@click.option("--profile", default=None,
              help="Emulate a chip: a shipped profile's name or a profile YAML file. Options "
                   "given on the command line override the profile's settings.")
@click.option("--mapping", type=click.Choice(STRATEGIES), default="sequential",
              show_default=True, help="Placement of neurons on the chip's cores.")
@click.option("--quantize/--no-quantize", default=True, show_default=True,
              help="Round weights to the profile's weight precision.")
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False), default=None,
              help="Record the schedule and write it to this .npz file (asyncsim.trace).")
@click.option("--early-decision", default=None, metavar="STEPS",
              help="Also measure accuracy when deciding STEPS forward steps after the first "
                   "output spike (comma list, e.g. 0,1,2,4; paper figure 5).")
@model_reading_options
@click.option("--allow-large", is_flag=True,
              help="Go ahead with work estimated to exceed this machine's memory.")
def run(model, data, samples, threads, json_path, progress, profile, mapping, quantize,
        trace_path, early_decision, dt_ms, nir_convention, reset, allow_large, **parameters):
    """Simulate MODEL (a model YAML file, a folder, a shipped model's name, or a .nir file
    with --dt)."""
    for path, what in ((json_path, "report file"), (trace_path, "trace file")):
        if path:
            check_output_path(path, what)
    settings = given(parameters, SimConfig)
    steps = _step_list(early_decision) if early_decision else None
    network = _load(model, dt_ms, nir_convention, reset)
    seed = settings.get("seed", 0)
    if profile:
        sim = ChipSimulator(network, profile, mapping=mapping, quantize=quantize,
                            allow_large=allow_large, **settings)
    else:
        sim = Simulator(network, allow_large=allow_large, **settings)
    dataset = _load_data(data or network.metadata.get("dataset", "nmnist-like"), samples, seed,
                         allow_large)
    if dataset.n_samples > samples:
        dataset = dataset.subset(samples)
    show = sys.stderr.isatty() if progress is None else progress
    (sim.simulator if profile else sim).validate(dataset.inputs, dataset.labels)
    _compile_notice()
    report = sim.run(dataset.inputs, dataset.labels, threads=threads, progress=show,
                     batch_size=32 if show else None, record=trace_path is not None)
    click.echo(f"data         {dataset.name}")
    click.echo(report.summary())
    extra = {}
    if steps:
        inner = sim.simulator if profile else sim
        curve = early_decision_curve(inner, dataset.inputs, dataset.labels, steps,
                                     threads=threads)
        extra["early_decision"] = curve
        click.echo("early decision (accuracy): " + ", ".join(f"{k}: {v:.4f}"
                                                             for k, v in curve.items()))
    if json_path:
        report.to_json(json_path, extra=extra)
        click.echo(f"report written to {json_path}")
    if trace_path:
        report.trace.save(trace_path)
        click.echo(f"trace written to {trace_path}")


def _load_data(name: str, samples: int, seed: int, allow_large: bool):
    """The dataset, saying so when generating takes a while (thousands of samples)."""
    def announce(n: int) -> None:
        if n >= 1000:
            click.echo(f"generating {n} samples of {name} (seed {seed})...", err=True)

    return load_dataset(name, n_samples=samples, seed=seed, allow_large=allow_large,
                        announce=announce)


def _load(model: str, dt_ms, convention: str, reset: str | None):
    """The model, with every layer's reset replaced when ``reset`` is given (for a NIR model
    through its convention, which may map it)."""
    if str(model).lower().endswith(".nir"):
        options = {} if convention == "nir" and reset is None else {
            "convention": convention, "reset": reset}
        return load_model(model, dt_ms=dt_ms, **options)
    network = load_model(model)
    if reset is not None:
        network.layers = [replace(layer, reset=reset) for layer in network.layers]
    return network


def _step_list(text: str) -> list[int]:
    try:
        steps = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 0:
        raise InputError(f"--early-decision: expected a comma list of integers >= 0 such as "
                         f"0,1,2,4, got {text!r}")
    return steps


#: ``asyncsim train`` options that describe the network built from an architecture string
ARCHITECTURE_OPTIONS = ("tau_m_ms", "dt_ms", "threshold", "synapse", "tau_syn_ms", "readout",
                        "readout_tau_ms")


@cli.command("train")
@click.argument("model", required=False)
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
              help="A task's recipe (the paper's hyperparameters, the task's generated data "
                   "and architecture); every option given explicitly wins over it. MODEL "
                   "defaults to the preset's architecture.")
@click.option("--data", default=None,
              help="Training data: a built-in name or a file (asyncsim data list). "
                   "[default: the preset's, else nmnist-like]")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Training samples. [default: the preset's, else 1024]")
@click.option("--test-samples", type=click.IntRange(min=0), default=256, show_default=True,
              help="Built-in data only: held-out samples (drawn with another seed) for the "
                   "test accuracy, measured after every epoch.")
@schema_options(TrainConfig)
@click.option("--tau-m-ms", type=float, default=None,
              help="For an architecture string: membrane time constant, milliseconds. "
                   "[default: the preset's, else 1.0]")
@click.option("--dt-ms", type=float, default=None,
              help="For an architecture string: timestep, milliseconds. "
                   "[default: the preset's, else 10.0]")
@click.option("--threshold", type=float, default=None,
              help="For an architecture string: U_thr. [default: the preset's, else 0.3]")
@click.option("--synapse", type=click.Choice(["instant", "current"]), default="instant",
              show_default=True,
              help="For an architecture string: instant or current-based (CUBA) synapses.")
@click.option("--tau-syn-ms", type=float, default=5.0, show_default=True,
              help="For an architecture string with --synapse current: synaptic time "
                   "constant, milliseconds.")
@click.option("--readout", type=click.Choice(list(OUTPUT_LAYERS)), default="spikes",
              show_default=True,
              help="For an architecture string: a spiking output layer read out by its spike "
                   "counts, or a leaky integrator (li) read out, and trained, by its "
                   "membranes after the last timestep.")
@click.option("--readout-tau-ms", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="For --readout li: the integrator's membrane time constant, milliseconds. "
                   "[default: --tau-m-ms]")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True,
              help="Where to write the trained model (YAML; weights beside it).")
@click.option("--curves", "curves_path", type=click.Path(dir_okay=False), default=None,
              help="Training curves CSV, rewritten after every epoch (asyncsim plot draws "
                   "it). [default: --out's name with .curves.csv]")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file written after every epoch.")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint.")
@click.option("--progress/--no-progress", default=None)
@click.option("--allow-large", is_flag=True,
              help="Go ahead with work estimated to exceed this machine's memory.")
def train_command(model, preset, data, samples, test_samples, out_path, curves_path,
                  checkpoint, resume, progress, allow_large, **parameters):
    """Train MODEL (a model file, a shipped model, or an architecture such as
    2312-64-64-64-10) with the asynchronous schedule in the loop."""
    recipe = get_preset(preset) if preset else None
    if model is None:
        if recipe is None:
            raise InputError("train: expected MODEL (a model or an architecture such as "
                             "2312-64-64-64-10) or --preset")
        model = recipe.architecture

    data = data or (recipe.data if recipe else "nmnist-like")
    samples = samples or (recipe.samples if recipe else 1024)
    # an architecture string's settings: given > the preset's > build_network's defaults
    # (the rest of ``parameters`` are TrainConfig's)
    given_network = {key: parameters.pop(key) for key in ARCHITECTURE_OPTIONS}
    neurons = recipe.network_options() if recipe else {}
    neurons.update({key: value for key, value in given_network.items() if value is not None})
    curves_path = curves_path or str(Path(out_path).with_suffix("")) + ".curves.csv"
    for path, what in ((out_path, "model file"), (curves_path, "training curves file"),
                       (checkpoint, "checkpoint file")):
        if path:
            check_output_path(path, what)
    given_fields = given(parameters, TrainConfig)
    config = (preset_config(preset, **given_fields) if preset
              else TrainConfig(**given_fields))
    network = build_network(model, seed=config.seed, name=Path(out_path).stem, **neurons)
    compile_network(network, allow_large)  # refuse a network too large before any work
    train_set = _load_data(data, samples, config.seed, allow_large)
    Simulator(network, allow_large=allow_large).validate(train_set.inputs, train_set.labels)
    test_set = held_out_data(data, test_samples, config)
    _compile_notice(training=True)
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=config.epochs * -(-train_set.n_samples // config.batch_size),
                   unit="batch", desc="training")

    def on_batch(info):
        if bar is not None:
            bar.set_postfix(epoch=info["epoch"] + 1, loss=f"{info['loss']:.3f}",
                            accuracy=f"{info['accuracy']:.3f}")
            bar.update(1)

    try:
        trained, history = train(network, train_set, config, checkpoint=checkpoint,
                                 resume=resume, on_batch=on_batch, held_out=test_set,
                                 curves=curves_path)
    finally:
        if bar is not None:
            bar.close()
    for h in history:
        test = ("" if h.get("test_accuracy") is None
                else f"  held-out accuracy {h['test_accuracy']:.4f}")
        click.echo(f"epoch {h['epoch']:3d}  loss {h['loss']:.4f}  "
                   f"train accuracy (during training) {h['accuracy']:.4f}{test}")
    trained.name = Path(out_path).stem
    trained.metadata.update(dataset=data, produced_by="asyncsim " + " ".join(sys.argv[1:]),
                            seed=config.seed)
    if test_set is not None:
        accuracy = history[-1].get("test_accuracy") if history else None
        if accuracy is None:
            accuracy = evaluate(trained, test_set, config).accuracy
        trained.metadata["test_accuracy"] = accuracy
        click.echo(f"test accuracy ({test_samples} held-out samples, training schedule): "
                   f"{accuracy:.4f}")
    trained.description = f"trained ({config.mode}, F={config.forward_group}) on {data}"
    save_model(trained, out_path)
    click.echo(f"model written to {out_path}; training curves in {curves_path}")


@cli.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Results CSV [default: SPEC's name with .csv, in the current folder].")
@click.option("--executor", type=click.Choice(list(EXECUTORS)), default="local",
              show_default=True, help="local: a process pool; serial: this process; dask: a "
                                      "local Dask cluster, or --scheduler's.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores].")
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler (tcp://host:8786); implies dask.")
@click.option("--resume", is_flag=True, help="Continue the results file; skip finished points.")
@click.option("--retry-failed", is_flag=True, help="With --resume: run failed points again.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds to wait for --scheduler.")
@click.option("--progress/--no-progress", default=None)
@click.option("--allow-large", is_flag=True,
              help="Go ahead with work estimated to exceed this machine's memory.")
@click.pass_context
def sweep_command(ctx, spec, out_path, executor, workers, scheduler, resume, retry_failed,
                  connect_timeout, progress, allow_large):
    """Run the sweep described by SPEC (YAML, see docs/sweeps.md); one CSV row per point.
    Exits with 1 if any point failed (its row holds the error)."""
    spec_obj = load_sweep(spec, allow_large=allow_large)
    out_path = out_path or Path(spec).with_suffix(".csv").name
    check_output_path(out_path, "results file")
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=spec_obj.n_points, unit="point", desc=spec_obj.name)

    def on_row(row, failures):
        if bar is not None:
            bar.set_postfix(failed=failures)
            bar.update(1)

    _compile_notice()
    try:
        summary = run_sweep(spec_obj, out_path, executor=executor, workers=workers,
                            scheduler=scheduler, resume=resume, retry_failed=retry_failed,
                            on_row=on_row, connect_timeout=connect_timeout,
                            allow_large=allow_large)
    finally:
        if bar is not None:
            bar.close()
    click.echo(summary.line())
    if summary.failed:
        ctx.exit(1)


@cli.command("plot")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False), required=True,
              help="Image file (.png, .pdf, .svg).")
@click.option("--x", "x", default=None, help="Column on the x axis [default: energy_j if "
                                             "the sweep used profiles, else sops].")
@click.option("--y", "y", default="accuracy", show_default=True)
@click.option("--by", default=None, help="One series per value of this column.")
@click.option("--pareto/--no-pareto", default=None,
              help="Mark the Pareto front [default: when y is accuracy and x a cost].")
@click.option("--figure", type=click.Choice(["4", "5", "6"]), default=None,
              help="For a report JSON (asyncsim run --json): paper figure 4, 5 or 6.")
def plot_command(results, out_path, x, y, by, pareto, figure):
    """Plot sweep RESULTS (CSV), training curves (the .curves.csv of asyncsim train) or,
    with --figure, a single run's report JSON."""
    check_output_path(out_path, "image file")
    if figure is not None or results.endswith(".json"):
        if figure is None:
            raise InputError(f"{results}: a report JSON needs --figure 4, 5 or 6")
        try:
            report = json.loads(Path(results).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{results}: not a readable report JSON ({exc})") from None
        plot_report(report, int(figure), out_path)
        click.echo(f"figure {figure} written to {out_path}")
        return
    rows = read_results(results)
    if not rows:
        raise InputError(f"{results}: no rows to plot")
    if is_training_curves(rows):
        plot_training_curves(rows, out_path, subtitle=f"training curves: {Path(results).name}")
        click.echo(f"training curves ({len(rows)} epochs) written to {out_path}")
        return
    if x is None:
        x = "energy_j" if any(r.get("energy_j") is not None for r in rows) else "sops"
    if pareto is None:
        pareto = y == "accuracy" and x in COSTS
    drawn, left_out = plot_results(rows, x, y, out_path, by=by, pareto=pareto)
    note = f"; {left_out} left out ({x} or {y} unknown or empty)" if left_out else ""
    click.echo(f"{drawn} points plotted to {out_path}{note}")


@cli.command("convert")
@click.argument("source")
@click.argument("target", type=click.Path(dir_okay=False))
@model_reading_options
def convert_command(source, target, dt_ms, nir_convention, reset):
    """Convert a model between NIR (.nir) and the native format (.yaml + .npz)."""
    if not target.lower().endswith((".nir", ".yaml", ".yml")):
        raise InputError(f"{target}: expected a .nir or .yaml file name")
    check_output_path(target, "converted model")
    network = _load(source, dt_ms, nir_convention, reset)
    if target.lower().endswith(".nir"):
        from asyncsim.nir_io import save_nir

        save_nir(network, target)
    elif target.lower().endswith((".yaml", ".yml")):
        save_model(network, target)
    else:
        raise InputError(f"{target}: expected a .nir or .yaml file name")
    click.echo(f"{source} -> {target}: {len(network.layers)} layers, "
               f"{sum(p.weight.size for p in network.projections)} weights, "
               f"dt {network.dt_ms} ms")


@cli.group()
def data() -> None:
    """Datasets: generated tasks and the file formats asyncsim reads."""


@data.command("list")
def data_list() -> None:
    """List the generated datasets and the readable formats."""
    click.echo("generated (asyncsim run MODEL --data NAME; --samples, --seed):")
    for name in BUILTIN_DATA:
        click.echo(f"  {name:<12} {GENERATED.get(name, '')}")
    click.echo("files (--data PATH):")
    for form, text in (("FILE.npz", "frames: inputs (samples, timesteps, features), labels"),
                       ("FILE.h5", "SHD / SSC HDF5 (spikes/times, spikes/units, labels); "
                                   "700 -> 350 channels, 10 ms"),
                       ("FOLDER", "N-MNIST binary files FOLDER/<digit>/*.bin; 2312 features, "
                                  "10 ms"),
                       ("tonic:NAME:ROOT", "a tonic dataset, e.g. tonic:DVSGesture:data "
                                           "(128x128 -> 32x32, 20 ms)"),
                       ("nir-data:FILE", "a NIR data file (EventData or TimeGriddedData of "
                                         "its first node; no labels)")):
        click.echo(f"  {form:<16} {text}")


@cli.group()
def profiles() -> None:
    """Chip profiles: list, show, compare and validate."""


@profiles.command("list")
def profiles_list() -> None:
    """List the shipped chip profiles."""
    for name in sorted(shipped_profiles()):
        p = load_profile(name)
        click.echo(f"{name:<14}{p.style:<14}{p.description}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name) -> None:
    """Show a profile's settings and every figure with its provenance."""
    p = load_profile(name)
    click.echo(f"{p.name}: {p.description}")
    click.echo(f"style {p.style}; policy {p.policy}; forward group {p.forward_group}; "
               f"mesh {p.mesh[0]}x{p.mesh[1]}; neurons {', '.join(p.neuron_models)}; "
               f"weight bits {p.weight_bits}; state bits {p.state_bits}")
    rows = p.figures()
    if p.max_delay_steps is not None:
        rows.append(("neuron.max_delay_steps", p.max_delay_steps))
    for key, fig in rows:
        value = "unknown" if fig.value is None else f"{fig.value:g}"
        if key.startswith("layer_cores."):
            value = "per core"
        source = f" [{fig.source}]" if fig.source else ""
        note = f" ({fig.note})" if fig.note else ""
        unused = " (not used by this style)" if key in p.sync.ignored_figures else ""
        click.echo(f"  {key:<28}{value:>12}  {fig.status}{source}{note}{unused}")
        if fig.by_tiles:
            click.echo(f"  {'':<28}{'by tiles':>12}  " + ", ".join(
                f"{tiles}: {v:g}" for tiles, v in fig.by_tiles))
    if p.layer_cores is not None:
        for name in ("neuron_memory", "kernel_memory"):
            values = getattr(p.layer_cores, name)
            click.echo(f"  {'layer_cores.' + name:<28}  {', '.join(str(v) for v in values)}")
    for key, ref in p.sources.items():
        click.echo(f"  source {key}: {ref}")


@profiles.command("compare")
@click.argument("model")
@click.option("--profiles", "names", default=None,
              help="Comma list of profiles (shipped names or files) [default: every shipped "
                   "profile].")
@click.option("--data", default=None,
              help="Dataset: a built-in name or a file [default: the model's own dataset].")
@click.option("--samples", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data.")
@click.option("--mapping", type=click.Choice(STRATEGIES), default="sequential",
              show_default=True, help="Placement of neurons on the chip's cores.")
@click.option("--quantize/--no-quantize", default=True, show_default=True,
              help="Round weights to each profile's weight precision.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Numba threads [default: all].")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Also plot energy and latency to this image file (.png, .pdf, .svg).")
@click.option("--allow-large", is_flag=True,
              help="Go ahead with work estimated to exceed this machine's memory.")
def profiles_compare(model, names, data, samples, seed, mapping, quantize, threads, out_path,
                     allow_large) -> None:
    """Run MODEL on several chips: accuracy, energy (dynamic and static apart), latency and
    cores per chip, with unknown figures shown as unknown."""
    from asyncsim.hardware.compare import compare_profiles, comparison_table

    if out_path:
        check_output_path(out_path, "image file")
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else sorted(
        shipped_profiles())
    if not chosen:
        raise InputError("--profiles: expected a comma list of profile names or files")
    for name in chosen:
        load_profile(name)  # a missing or broken profile stops here, before any work
    network = load_model(model)
    dataset = load_dataset(data or network.metadata.get("dataset", "nmnist-like"),
                           n_samples=samples, seed=seed, allow_large=allow_large)
    if dataset.n_samples > samples:
        dataset = dataset.subset(samples)
    rows = compare_profiles(network, chosen, dataset.inputs, dataset.labels, mapping=mapping,
                            quantize=quantize, threads=threads, allow_large=allow_large)
    click.echo(f"model {network.name} ({network.architecture()}); data {dataset.name}, "
               f"{dataset.n_samples} samples; energy and latency per inference")
    click.echo(comparison_table(rows))
    if out_path:
        notes = plot_profiles(rows, out_path, subtitle=f"model {network.name}, "
                              f"{dataset.n_samples} samples of {dataset.name}")
        click.echo(f"plot written to {out_path}" + (f" ({'; '.join(notes)})" if notes else ""))


@profiles.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def profiles_validate(path) -> None:
    """Check a profile file; exit code 2 with a one-line error if it is broken."""
    p = load_profile(path)
    click.echo(f"{path}: valid profile '{p.name}' ({p.style})")


@cli.command("warmup")
def warmup_command() -> None:
    """Compile the simulation kernel and the training replay now (once per installation), so
    that the first run answers at once; e.g. right after installing or in a container build."""
    from asyncsim.warmup import kernels_compiled, warmup

    already = kernels_compiled()
    if not already:
        click.echo("compiling the kernels (about a minute)...", err=True)
    seconds = warmup()
    state = "were already compiled" if already else "are compiled"
    click.echo(f"kernels {state} and cached ({seconds:.1f} s)")


@cli.command("models")
def list_models() -> None:
    """List the models shipped with asyncsim."""
    for name, path in sorted(shipped_models().items()):
        network = load_model(resolve_model_path(path))
        trained = "trained" if network.metadata.get("trained") else "UNTRAINED"
        click.echo(f"{name:<24}{network.architecture():<24}{trained:<11}{network.description}")


def main() -> None:
    cli(prog_name="asyncsim")


if __name__ == "__main__":
    main()
