"""Memory and speed of a VGG-style convolutional network on 3 x 32 x 32 inputs: convolutions
compiled to descriptors (the default) against per-synapse rows (``expand_conv=True``).

Run from the repository root::

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_conv.py --samples 4
    python benchmarks/bench_conv.py --paths implicit --out conv.json

Network: conv 64 (stride 1), conv 64 (stride 2), conv 128 (stride 1), conv 128 (stride 2),
conv 256 (stride 2), all 3 x 3 with padding 1, then dense 10; IF neurons, random weights
(He-scaled), rate-coded random inputs, random policy with F = 8. Each path runs in a process of
its own, so that its peak resident memory (``resource.getrusage``) is its own. For each it
reports: compiled bytes (``CompiledNetwork.nbytes``) against the bound neurons x per-neuron state
+ kernel parameters x 8 bytes (``asyncsim.compile.compiled_size_bound``), compile seconds, peak
RSS, and samples per second (after a warm-up sample that also compiles the kernel, whose time is
reported apart).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

CHANNELS = ((64, 1), (64, 2), (128, 1), (128, 2), (256, 2))  # (out channels, stride)


def vgg_network(seed: int = 0, gain: float = 2.0):
    """The benchmark network (about 127 thousand neurons, 44 million synapses)."""
    from asyncsim import ConvProjection, DenseProjection, Layer, Network

    rng = np.random.default_rng(seed)
    shape, source = (3, 32, 32), "input"
    layers, projections = [], []
    for i, (out_channels, stride) in enumerate(CHANNELS):
        fan_in = shape[0] * 9
        weight = rng.normal(0, gain * np.sqrt(2.0 / fan_in), (out_channels, shape[0], 3, 3))
        p = ConvProjection(source, f"conv{i + 1}", weight, shape, stride=stride, padding=1)
        layers.append(Layer(p.target, p.target_size, neuron="if", threshold=1.0))
        projections.append(p)
        shape, source = p.output_shape, p.target
    size = int(np.prod(shape))
    layers.append(Layer("out", 10, neuron="if", threshold=1.0))
    projections.append(DenseProjection(source, "out", rng.normal(0, np.sqrt(2.0 / size),
                                                                 (10, size))))
    return Network(3 * 32 * 32, layers, projections, name="vgg-32")


def measure(path: str, samples: int, timesteps: int, rate: float) -> dict:
    """Compile and run one path in this process; peak RSS is this process's."""
    from asyncsim import Simulator
    from asyncsim.compile import compile_network, compiled_size_bound

    net = vgg_network()
    start = time.perf_counter()
    compiled = compile_network(net, allow_large=True, expand_conv=path == "expanded")
    compile_s = time.perf_counter() - start
    simulator = Simulator(net, policy="random", forward_group=8, seed=1)
    simulator.compiled = compiled
    rng = np.random.default_rng(2)
    inputs = (rng.random((samples + 1, timesteps, net.input_size)) < rate).astype(np.uint8)
    start = time.perf_counter()
    simulator.run(inputs[:1])  # warm-up: loads or compiles the kernel
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    report = simulator.run(inputs[1:])
    run_s = time.perf_counter() - start
    per_sample = report.per_sample
    return {
        "path": path, "neurons": net.n_neurons, "inputs": net.input_size,
        "synapses": int(compiled.fanin.sum()),
        "kernel_parameters": int(sum(p.weight.size for p in net.projections)),
        "compiled_bytes": compiled.nbytes, "bound_bytes": compiled_size_bound(net),
        "compile_s": round(compile_s, 3), "warmup_s": round(warmup_s, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "samples": samples, "timesteps": timesteps, "samples_per_s": samples / run_s,
        "spikes_per_sample": float(per_sample["spikes_per_layer"].sum() / samples),
        "sops_per_sample": float(per_sample["sops"].sum() / samples),
        "output_counts": per_sample["output_counts"].tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.2, help="input spike probability")
    parser.add_argument("--paths", default="implicit,expanded",
                        help="comma-separated: implicit, expanded")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="write the results to this JSON file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.samples, args.timesteps, args.rate)))
        return
    results = []
    for path in args.paths.split(","):
        done = subprocess.run([sys.executable, __file__, "--child", path, "--samples",
                               str(args.samples), "--timesteps", str(args.timesteps),
                               "--rate", str(args.rate)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{path}: failed\n{done.stderr[-2000:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(r)
        mib = 2.0 ** 20
        print(f"{path:9s} neurons {r['neurons']:,}, synapses {r['synapses']:,}, kernel "
              f"parameters {r['kernel_parameters']:,}\n"
              f"          compiled {r['compiled_bytes'] / mib:8.1f} MiB (bound "
              f"{r['bound_bytes'] / mib:.1f} MiB, ratio "
              f"{r['compiled_bytes'] / r['bound_bytes']:.2f}), compile {r['compile_s']:.2f} s, "
              f"peak RSS {r['peak_rss_bytes'] / mib:.0f} MiB\n"
              f"          {r['samples_per_s']:.3f} samples/s ({r['samples']} samples x "
              f"{r['timesteps']} timesteps, {r['spikes_per_sample']:,.0f} spikes and "
              f"{r['sops_per_sample']:,.0f} SOPs per sample; warm-up {r['warmup_s']:.1f} s)")
    if len(results) == 2:
        same = results[0]["output_counts"] == results[1]["output_counts"]
        print(f"same output counts on both paths: {same}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
