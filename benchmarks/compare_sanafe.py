"""Cross-check the Loihi profile against SANA-FE's Loihi model, which its authors calibrated on
Loihi silicon (Boyle et al., IEEE TCAD 2025).

The same networks (integer weights, integrate-and-fire neurons, the same input spikes, the same
placement of layers on cores and tiles) run in both simulators under layer synchronization:

* asyncsim: ``ChipSimulator(net, "loihi", quantize=False, mapping=...)``;
* SANA-FE (``pip install sanafe``): its shipped Loihi architecture, the network exported neuron
  by neuron and synapse by synapse, each neuron mapped to the core asyncsim placed it on.

SANA-FE delivers a spike one timestep later per layer (its cores work in a pipeline), while
asyncsim runs every layer within the timestep; both therefore run the input's timesteps plus one
empty timestep per layer, so that every spike is delivered in both, and spike counts are
compared layer by layer and timestep by timestep (shifted by the layer's depth). Energy and
latency are compared per timestep, with asyncsim's static energy reported apart (SANA-FE's
Loihi model has none).

Usage::

    python benchmarks/compare_sanafe.py                 # the table, as text
    python benchmarks/compare_sanafe.py --markdown      # the table for docs/profiles.md
    python benchmarks/compare_sanafe.py --json out.json # every number

Networks: ``mlp`` (100-64-32-10, the network of the issue that started this check, 4 samples x
20 timesteps), ``mlp-dense-input`` (the same at twice the input rate), ``conv`` (the topology of
SANA-FE's own DVS gesture example, 32x32 input, four 3x3 convolutions and a dense readout, with
integer weights drawn here; 2 samples x 8 timesteps).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asyncsim import ConvProjection, DenseProjection, Layer, Network
from asyncsim.hardware import ChipSimulator

#: SANA-FE Loihi cores have 1,024 input units (``loihi_inputs[0..1023]``)
INPUTS_PER_CORE = 1024


@dataclass
class Case:
    """One network to compare: the network, its input spikes, and how to place it."""

    name: str
    network: Network
    inputs: np.ndarray  # (samples, timesteps, features) of 0/1
    mapping: str = "traffic"


@dataclass
class Result:
    """What one simulator measured, per sample (means) and per timestep."""

    spikes: dict[str, float]
    synaptic_events: float
    messages: float
    hops: float
    updates: float
    energy: dict[str, float]  # J per inference: synapse, soma, network, dynamic (and static)
    latency: float  # s per inference
    latency_simple: float = 0.0  # SANA-FE only: its simple timing model
    per_timestep_energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    per_timestep_latency: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spike_trains: dict[str, np.ndarray] = field(default_factory=dict)


# -- networks -------------------------------------------------------------------------------

def mlp(sizes: list[int], seed: int) -> Network:
    """A chain of integrate-and-fire layers with integer weights (-2..3) and threshold 3.5, so
    that both simulators compute the same membranes exactly."""
    rng = np.random.default_rng(seed)
    layers, projections, source = [], [], "input"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        name = "output" if i == len(sizes) - 2 else f"hidden{i + 1}"
        layers.append(Layer(name, n_out, neuron="if", threshold=3.5, reset="zero"))
        projections.append(DenseProjection(source, name, rng.integers(-2, 4, (n_out, n_in))
                                           .astype(float)))
        source = name
    return Network(sizes[0], layers, projections, dt_ms=1.0, name="mlp")


def dvs_like(seed: int) -> Network:
    """The layer shapes of SANA-FE's DVS gesture example (32x32 input; 3x3 convolutions to
    16x15x15 with stride 2, 32x13x13, 64x11x11 and 11x9x9; a dense readout of 11), with
    integer weights drawn here."""
    rng = np.random.default_rng(seed)
    shapes = [(1, 32, 32, 16, 2), (16, 15, 15, 32, 1), (32, 13, 13, 64, 1), (64, 11, 11, 11, 1)]
    layers, projections, source = [], [], "input"
    for i, (c_in, h, w, c_out, stride) in enumerate(shapes):
        name = f"conv{i + 1}"
        out = (h - 3) // stride + 1
        layers.append(Layer(name, c_out * out * out, neuron="if", threshold=5.5, reset="zero"))
        weight = rng.integers(-2, 4, (c_out, c_in, 3, 3)).astype(float)
        projections.append(ConvProjection(source, name, weight, (c_in, h, w), stride=stride))
        source = name
    layers.append(Layer("dense", 11, neuron="if", threshold=5.5, reset="zero"))
    projections.append(DenseProjection(source, "dense", rng.integers(-2, 4, (11, 891))
                                       .astype(float)))
    return Network(1024, layers, projections, dt_ms=1.0, name="dvs-like")


def spikes_in(n_samples: int, n_timesteps: int, n_features: int, rate: float,
              seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n_samples, n_timesteps, n_features)) < rate).astype(np.uint8)


def cases() -> list[Case]:
    return [
        Case("mlp", mlp([100, 64, 32, 10], 0), spikes_in(4, 20, 100, 0.2, 1)),
        Case("mlp-dense-input", mlp([100, 64, 32, 10], 0), spikes_in(4, 20, 100, 0.4, 1)),
        Case("conv", dvs_like(2), spikes_in(2, 8, 1024, 0.1, 3)),
    ]


def padded(inputs: np.ndarray, depth: int) -> np.ndarray:
    """The input followed by ``depth`` empty timesteps (room for SANA-FE's pipeline)."""
    pad = np.zeros((inputs.shape[0], depth, inputs.shape[2]), dtype=inputs.dtype)
    return np.concatenate([inputs, pad], axis=1)


# -- asyncsim ----------------------------------------------------------------------------------

def run_asyncsim(case: Case) -> tuple[Result, Any]:
    """The case on asyncsim's Loihi profile; also returns the core placement."""
    chip = ChipSimulator(case.network, "loihi", quantize=False, mapping=case.mapping)
    frames = padded(case.inputs, len(case.network.layers))
    report = chip.run(frames, record=True)
    hw, ps = report.hardware, report.per_sample
    e = hw.energy_j
    n_steps = frames.shape[1]
    trains = _our_trains(report, chip, frames)
    result = Result(
        spikes=report.spikes_per_layer(),
        synaptic_events=float(np.mean(ps["sops"] + ps["input_sops"])),
        messages=float(np.mean(ps["routed_spikes"])) + _input_messages(chip, frames),
        hops=float(np.mean(ps["hops"])),
        updates=float(np.mean(ps["neuron_updates"])),
        energy={"synapse": e["sops"] + e["input_sops"],
                "soma": e["neuron_access"] + e["neuron_updates"] + e["spikes"],
                "network": e["routed_spikes"] + e["hops"] + e["barrier_messages"],
                "dynamic": e["dynamic"], "static": e["static"]},
        latency=hw.latency_s,
        per_timestep_energy=np.full(n_steps, e["dynamic"] / n_steps),
        per_timestep_latency=np.full(n_steps, hw.latency_s / n_steps),
        spike_trains=trains)
    return result, chip


def _input_messages(chip: ChipSimulator, frames: np.ndarray) -> float:
    """Mean messages of input spikes: one per input spike and target core."""
    mapping = chip.chip.mapping
    n_neurons = chip.simulator.compiled.n_neurons
    routes = np.diff(mapping.route_start[n_neurons:]).astype(float)
    return float(np.mean(frames.sum(axis=1) @ routes))


def _our_trains(report: Any, chip: ChipSimulator, frames: np.ndarray) -> dict[str, np.ndarray]:
    """(S, T) spikes per timestep of each layer but the output (from the recorded schedule) in
    asyncsim's timesteps."""
    net = chip.network
    compiled = chip.simulator.compiled
    trace = report.trace
    trains = {layer.name: np.zeros(frames.shape[:2]) for layer in net.layers}
    for s in range(frames.shape[0]):
        stream = trace.selection[trace.selection_offsets[s]:trace.selection_offsets[s + 1]]
        at = 0
        for t, steps in enumerate(trace.steps[s]):
            for _ in range(max(0, steps - 1)):
                n = stream[at]
                for src in stream[at + 1:at + 1 + n]:
                    if 0 <= src < compiled.n_neurons:
                        trains[net.layers[compiled.layer_of[src]].name][s, t] += 1
                at += 1 + n
    return trains


# -- SANA-FE -----------------------------------------------------------------------------------

def run_sanafe(case: Case, chip: ChipSimulator) -> Result:
    """The case on SANA-FE's Loihi model, placed as asyncsim placed it; latency by its detailed
    timing model (the one its authors validated) and its simple one."""
    import sanafe

    arch = sanafe.load_loihi()
    height = 4  # SANA-FE's Loihi mesh: 8 x 4 tiles; tile id = x * height + y
    net, network = sanafe.Network(), case.network
    mapping = chip.chip.mapping
    offsets = np.concatenate([[0], np.cumsum([layer.size for layer in network.layers])])
    groups = {"input": net.create_neuron_group("input", network.input_size,
                                               model_attributes={})}
    for layer in network.layers:
        groups[layer.name] = net.create_neuron_group(layer.name, layer.size, model_attributes={
            "threshold": float(layer.threshold), "reset": 0.0, "leak_decay": 1.0})
    for p in network.projections:
        # every synapse asyncsim compiles, zero weights included (a dense synapse format
        # stores and processes them too), so both count the same synaptic events
        target, source, index = p.synapses()
        pairs = list(zip(source.tolist(), target.tolist(), strict=True))
        groups[p.source].connect_neurons_sparse(
            groups[p.target], {"weight": p.weight.ravel()[index].tolist()}, pairs)
    cores = _sanafe_cores(arch, mapping, height)
    for i, layer in enumerate(network.layers):
        for k, neuron in enumerate(groups[layer.name].neurons):
            neuron.set_attributes(log_spikes=True)
            neuron.map_to_core(cores[int(mapping.core_of[offsets[i] + k])])
    # input units get a core of their own in the tile of the first layer's first core
    # (asyncsim's inputs come from off the cores, without hops), 1,024 to a core
    home = _input_core(arch, mapping, height)
    for k, neuron in enumerate(groups["input"].neurons):
        if k >= INPUTS_PER_CORE:
            raise SystemExit("more inputs than one SANA-FE core holds")
        neuron.set_attributes(soma_hw_name=f"loihi_inputs[{k}]", log_spikes=True)
        neuron.map_to_core(home)
    spiking = sanafe.SpikingChip(arch)
    spiking.load(net)
    depth = len(network.layers)
    frames = padded(case.inputs, depth)
    n_steps = frames.shape[1]
    names = [layer.name for layer in network.layers]
    totals: dict[str, list[float]] = {k: [] for k in (
        "synapse", "soma", "network", "dynamic", "latency", "simple", "events", "messages",
        "hops", "updates")}
    spikes = {name: [] for name in names}
    per_energy = np.zeros(n_steps)
    per_latency = np.zeros(n_steps)
    trains = {name: np.zeros(frames.shape[:2]) for name in names}
    for s in range(frames.shape[0]):
        runs = {}
        for model in ("simple", "detailed"):
            for k, mapped in enumerate(spiking.mapped_neuron_groups["input"]):
                mapped.set_attributes(model_attributes={
                    "spikes": [bool(v) for v in frames[s, :, k]]})
            runs[model] = spiking.sim(n_steps, timing_model=model, spike_trace=True,
                                      perf_trace=True)
            spiking.reset()
        run = runs["detailed"]
        totals["simple"].append(runs["simple"]["sim_time"])
        perf = run["perf_trace"]
        totals["synapse"].append(sum(perf["synapse_energy"]))
        totals["soma"].append(sum(perf["soma_energy"]))
        totals["network"].append(sum(perf["network_energy"]))
        totals["dynamic"].append(sum(perf["total_energy"]))
        totals["latency"].append(run["sim_time"])
        totals["events"].append(sum(perf["spikes"]))
        totals["messages"].append(run["packets_sent"])
        totals["hops"].append(sum(perf["hops"]))
        totals["updates"].append(sum(perf["updated"]))
        per_energy += np.array(perf["total_energy"]) / frames.shape[0]
        per_latency += np.array(perf["sim_time"]) / frames.shape[0]
        counts = {name: 0 for name in names}
        for t, fired in enumerate(run["spike_trace"]):
            for address in fired:
                group = str(address).split(".")[0]
                if group in counts:
                    counts[group] += 1
                    # SANA-FE's timestep t holds what asyncsim's t - depth did
                    layer = names.index(group) + 1
                    if t - layer >= 0:
                        trains[group][s, t - layer] += 1
        for name in names:
            spikes[name].append(counts[name])
    return Result(
        spikes={name: float(np.mean(v)) for name, v in spikes.items()},
        synaptic_events=float(np.mean(totals["events"])),
        messages=float(np.mean(totals["messages"])),
        hops=float(np.mean(totals["hops"])),
        updates=float(np.mean(totals["updates"])),
        energy={k: float(np.mean(totals[k])) for k in ("synapse", "soma", "network",
                                                         "dynamic")},
        latency=float(np.mean(totals["latency"])),
        latency_simple=float(np.mean(totals["simple"])),
        per_timestep_energy=per_energy, per_timestep_latency=per_latency, spike_trains=trains)


def _sanafe_cores(arch: Any, mapping: Any, height: int) -> list[Any]:
    """The SANA-FE core of each asyncsim core: the tile at the same mesh position, and the
    cores of one tile in order."""
    out, used = [], {}
    for c in range(mapping.n_cores):
        column, row = (int(v) for v in mapping.position[c])
        tile = column * height + row
        slot = used.get(tile, 0)
        used[tile] = slot + 1
        out.append(arch.tiles[tile].cores[slot])
    return out


def _input_core(arch: Any, mapping: Any, height: int) -> Any:
    """A core no neuron uses: in the tile of the core that holds neuron 0 if it has room, else
    in the nearest tile that has (then input messages travel hops that asyncsim does not
    count)."""
    column, row = (int(v) for v in mapping.position[int(mapping.core_of[0])])
    taken: dict[int, int] = {}
    for c in range(mapping.n_cores):
        x, y = (int(v) for v in mapping.position[c])
        taken[x * height + y] = taken.get(x * height + y, 0) + 1
    tiles = sorted(range(len(arch.tiles)), key=lambda t: (
        abs(t // height - column) + abs(t % height - row), t))
    for tile in tiles:
        if taken.get(tile, 0) < len(arch.tiles[tile].cores):
            return arch.tiles[tile].cores[taken.get(tile, 0)]
    raise SystemExit("no core left for the input units")


# -- comparison --------------------------------------------------------------------------------

def compare(case: Case) -> dict[str, Any]:
    """Run ``case`` in both simulators; every number per sample, energy and latency per
    timestep."""
    ours, chip = run_asyncsim(case)
    theirs = run_sanafe(case, chip)
    n_steps = case.inputs.shape[1] + len(case.network.layers)
    shown = case.inputs.shape[1]  # timesteps where both hold every layer's spikes
    identical = all(np.array_equal(ours.spike_trains[name][:, :shown],
                                   theirs.spike_trains[name][:, :shown])
                    for name in ours.spikes if name != case.network.layers[-1].name)
    identical = identical and ours.spikes == theirs.spikes
    row = {
        "network": case.name, "architecture": case.network.architecture(),
        "samples": int(case.inputs.shape[0]), "timesteps": n_steps,
        "cores": chip.chip.mapping.n_cores, "tiles": chip.chip.mapping.n_tiles,
        "spikes": {"asyncsim": ours.spikes, "sanafe": theirs.spikes},
        "spike_trains_identical": bool(identical),
        "counts": {k: {"asyncsim": getattr(ours, k), "sanafe": getattr(theirs, k)}
                   for k in ("synaptic_events", "messages", "hops", "updates")},
        "energy_per_timestep_j": {k: {"asyncsim": ours.energy[k] / n_steps,
                                      "sanafe": theirs.energy[k] / n_steps}
                                  for k in ("synapse", "soma", "network", "dynamic")},
        "static_per_timestep_j": ours.energy["static"] / n_steps,
        "latency_per_timestep_s": {"asyncsim": ours.latency / n_steps,
                                   "sanafe": theirs.latency / n_steps,
                                   "sanafe_simple": theirs.latency_simple / n_steps},
        "sanafe_energy_per_timestep_j": theirs.per_timestep_energy.tolist(),
        "sanafe_latency_per_timestep_s": theirs.per_timestep_latency.tolist(),
    }
    # SANA-FE's own update count includes its input units; its compartments' updates follow
    # from its soma energy: access for every compartment and timestep, plus spikes, plus updates
    loihi = chip.profile.energy
    neurons = case.network.n_neurons
    soma = theirs.energy["soma"] - (neurons * n_steps * loihi["neuron_access_pj"].value
                                    + sum(theirs.spikes.values()) * loihi["spike_pj"].value
                                    ) * 1e-12
    row["sanafe_compartment_updates"] = soma / (loihi["neuron_update_pj"].value * 1e-12)
    row["causes"] = causes(row)
    return row


def _ratio(pair: dict[str, float], key: str = "sanafe") -> float:
    return pair["asyncsim"] / pair[key] if pair[key] else float("nan")


def causes(row: dict[str, Any]) -> list[str]:
    """The cause of each difference, read off the counts (one line per quantity that
    differs by more than 0.5 %)."""
    out = []
    energy, counts = row["energy_per_timestep_j"], row["counts"]
    if abs(_ratio(energy["synapse"]) - 1) > 0.005:
        out.append(f"synapse energy {_ratio(energy['synapse']):.3f}: synaptic events "
                   f"{counts['synaptic_events']['asyncsim']:.0f} vs "
                   f"{counts['synaptic_events']['sanafe']:.0f}")
    if abs(_ratio(energy["soma"]) - 1) > 0.005:
        out.append(f"soma energy {_ratio(energy['soma']):.3f}: asyncsim updates every "
                   f"compartment every timestep under layer synchronization "
                   f"({counts['updates']['asyncsim']:.0f} updates per sample), SANA-FE only "
                   f"those with input or a non-zero potential "
                   f"({row['sanafe_compartment_updates']:.0f}); 21.6 pJ each")
    if abs(_ratio(energy["network"]) - 1) > 0.005 or counts["hops"]["asyncsim"] != counts[
            "hops"]["sanafe"]:
        out.append(f"network energy {_ratio(energy['network']):.3f}: hops "
                   f"{counts['hops']['asyncsim']:.0f} vs {counts['hops']['sanafe']:.0f} (the "
                   f"input units sit on a core of a neighbouring tile in SANA-FE, asyncsim's "
                   f"inputs arrive without hops) at 3.5 pJ (mean of Davies et al. 2018) vs "
                   f"3.0 / 4.2 pJ per east-west / north-south hop")
    lat = row["latency_per_timestep_s"]
    detailed, simple = _ratio(lat), _ratio(lat, "sanafe_simple")
    if abs(detailed - 1) > 0.005:
        out.append(f"latency {detailed:.3f} against SANA-FE's detailed timing model, "
                   f"{simple:.3f} against its simple one (per timestep, the busiest core's "
                   f"sending or receiving work plus the tile-count barrier, as asyncsim): the "
                   f"detailed schedule also lets a core process a message only after it was "
                   f"generated and crossed the mesh, one after another; asyncsim spreads "
                   f"output spikes evenly over the timesteps, and SANA-FE's pipeline offsets "
                   f"each layer by one timestep")
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The tables for docs/profiles.md."""
    out = ["| network | spikes per sample, asyncsim / SANA-FE | synaptic events | dynamic "
           "energy per timestep, asyncsim / SANA-FE (ratio) | latency per timestep, asyncsim / "
           "SANA-FE detailed (ratio) / simple (ratio) | static energy per timestep "
           "(asyncsim only) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        ours = sum(r["spikes"]["asyncsim"].values())
        theirs = sum(r["spikes"]["sanafe"].values())
        events = r["counts"]["synaptic_events"]
        e = r["energy_per_timestep_j"]["dynamic"]
        lat = r["latency_per_timestep_s"]
        same = "identical" if r["spike_trains_identical"] else "DIFFERENT"
        out.append(
            f"| {r['network']} ({r['architecture']}; {r['samples']} x {r['timesteps']} "
            f"timesteps; {r['cores']} cores, {r['tiles']} tile(s)) | {ours:.1f} / {theirs:.1f} "
            f"({same} per layer and timestep) | {events['asyncsim']:.0f} / "
            f"{events['sanafe']:.0f} | {e['asyncsim'] * 1e9:.2f} / {e['sanafe'] * 1e9:.2f} nJ "
            f"({_ratio(e):.3f}) | {lat['asyncsim'] * 1e6:.3f} / {lat['sanafe'] * 1e6:.3f} "
            f"({_ratio(lat):.3f}) / {lat['sanafe_simple'] * 1e6:.3f} us "
            f"({_ratio(lat, 'sanafe_simple'):.3f}) | {r['static_per_timestep_j'] * 1e9:.1f} "
            f"nJ |")
    out += ["", "| network | energy term | asyncsim (nJ per timestep) | SANA-FE | ratio |",
            "|---|---|---|---|---|"]
    for r in rows:
        for term in ("synapse", "soma", "network"):
            e = r["energy_per_timestep_j"][term]
            out.append(f"| {r['network']} | {term} | {e['asyncsim'] * 1e9:.3f} | "
                       f"{e['sanafe'] * 1e9:.3f} | {_ratio(e):.3f} |")
    out += ["", "| network | cause of each difference |", "|---|---|"]
    for r in rows:
        out.append(f"| {r['network']} | " + "; ".join(r["causes"] or ["none"]) + " |")
    return "\n".join(out)


def text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        lines.append(f"{r['network']} ({r['architecture']}): {r['samples']} samples x "
                     f"{r['timesteps']} timesteps on {r['cores']} cores, {r['tiles']} tiles")
        lines.append(f"  spike trains identical per layer and timestep: "
                     f"{r['spike_trains_identical']}")
        lines.append(f"  {'':<22}{'asyncsim':>12}{'SANA-FE':>12}")
        for name, value in r["spikes"]["asyncsim"].items():
            lines.append(f"  spikes {name:<15}{value:12.2f}{r['spikes']['sanafe'][name]:12.2f}")
        for key, pair in r["counts"].items():
            lines.append(f"  {key:<22}{pair['asyncsim']:12.1f}{pair['sanafe']:12.1f}")
        for key, pair in r["energy_per_timestep_j"].items():
            lines.append(f"  energy {key:<15}{pair['asyncsim']:12.4e}{pair['sanafe']:12.4e} J "
                         f"per timestep, ratio {_ratio(pair):.3f}")
        lat = r["latency_per_timestep_s"]
        lines.append(f"  latency (detailed)     {lat['asyncsim']:12.4e}{lat['sanafe']:12.4e} s "
                     f"per timestep, ratio {_ratio(lat):.3f}")
        lines.append(f"  latency (simple)       {lat['asyncsim']:12.4e}"
                     f"{lat['sanafe_simple']:12.4e} s per timestep, ratio "
                     f"{_ratio(lat, 'sanafe_simple'):.3f}")
        lines.append(f"  static energy (asyncsim only) {r['static_per_timestep_j']:.4e} J per "
                     f"timestep")
        lines += [f"  cause: {c}" for c in r["causes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the docs tables")
    parser.add_argument("--json", default=None, help="write every number to this file")
    parser.add_argument("--networks", default=None,
                        help="comma list of mlp, mlp-dense-input, conv [default: all]")
    args = parser.parse_args(argv)
    try:
        import sanafe  # noqa: F401
    except ImportError:
        print("SANA-FE is not installed: pip install sanafe", file=sys.stderr)
        return 2
    chosen = args.networks.split(",") if args.networks else None
    rows = [compare(c) for c in cases() if chosen is None or c.name in chosen]
    print(markdown(rows) if args.markdown else text(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
