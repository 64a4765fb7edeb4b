"""The native model format: a YAML description plus an ``.npz`` file of weights.

Example ``model.yaml`` (``docs/model-format.md`` has the full reference)::

    format: asyncsim-model
    format_version: 1
    name: tiny
    dt_ms: 10.0                 # timestep (one forward pass), milliseconds
    input_size: 4
    weights_file: tiny.npz      # relative to this file
    metadata: {trained: false}
    layers:
      - {name: hidden1, size: 3, neuron: lif, tau_m_ms: 1.0, threshold: 0.3,
         reset: zero, refractory: true, bias: 0.0, synapse: instant}
      - {name: output, size: 2, threshold: {array: L1.threshold}}
    projections:
      - {source: input, target: hidden1, type: dense, weight: W1}
      - {source: hidden1, target: output, type: dense, weight: W2, delay: 0}

``weight`` names an array of shape (target size, source size) in the ``.npz`` file. A
convolution is ``{type: conv, weight: W3, input_shape: [C, H, W], stride: [1, 1],
padding: [0, 0], dilation: [1, 1], groups: 1}`` with a weight of shape (out channels,
in channels / groups, kernel height, kernel width). A per-neuron parameter (``tau_m_ms``,
``threshold``, ``bias``, ``tau_syn_ms``) is ``{array: KEY}``, an array of the layer's size in
the ``.npz`` file.
"""

from __future__ import annotations

import io
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .atomic import write_bytes_atomic, write_text_atomic
from .errors import InputError
from .network import ConvProjection, DenseProjection, Layer, Network
from .yamlfile import read_yaml

FORMAT = "asyncsim-model"
FORMAT_VERSION = 1
LAYER_FIELDS = {"name", "size", "neuron", "tau_m_ms", "threshold", "reset", "refractory",
                "bias", "synapse", "tau_syn_ms"}
#: layer parameters that may be one number or one per neuron
PER_NEURON = ("tau_m_ms", "threshold", "bias", "tau_syn_ms")
PROJECTION_FIELDS = {"source", "target", "type", "weight", "delay"}
CONV_FIELDS = {"input_shape", "stride", "padding", "dilation", "groups"}
TOP_FIELDS = {"format", "format_version", "name", "description", "dt_ms", "input_size",
              "weights_file", "metadata", "layers", "projections"}


def shipped_models() -> dict[str, Path]:
    """Models installed with the package, by name."""
    folder = resources.files("asyncsim.shipped_models")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir()
            if str(p).endswith(".yaml")}


def resolve_model_path(path_or_name: str | os.PathLike) -> Path:
    """A model file path: an existing file, a folder holding ``model.yaml``, or the name of a
    shipped model."""
    p = Path(path_or_name)
    if p.is_dir():
        p = p / "model.yaml"
    if p.is_file():
        return p
    shipped = shipped_models()
    if str(path_or_name) in shipped:
        return shipped[str(path_or_name)]
    raise InputError(f"{path_or_name}: no such model file, and not a shipped model "
                     f"(shipped: {', '.join(sorted(shipped)) or 'none'})")


def load_model(path_or_name: str | os.PathLike, dt_ms: float | None = None,
               **nir_options: Any) -> Network:
    """Load a model from its YAML file (or folder, or shipped name) and its weights, or from a
    NIR file (``.nir``; ``dt_ms`` is the timestep in milliseconds, ``nir_options`` are
    ``convention`` and ``reset``: see :mod:`asyncsim.nir_io`)."""
    if str(path_or_name).lower().endswith(".nir"):
        from .nir_io import load_nir

        return load_nir(path_or_name, dt_ms, **nir_options)
    path = resolve_model_path(path_or_name)
    try:
        return _load(path)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _load(path: Path) -> Network:
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise InputError("expected a mapping at the top level")
    _no_unknown(doc, TOP_FIELDS, "")
    if doc.get("format") != FORMAT:
        raise InputError(f"field 'format': expected '{FORMAT}', got {doc.get('format')!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise InputError(f"field 'format_version': expected {FORMAT_VERSION}, "
                         f"got {doc.get('format_version')!r}")
    for key in ("input_size", "layers", "projections", "weights_file"):
        if key not in doc:
            raise InputError(f"field '{key}': missing")
    weights = _read_weights(path.parent / str(doc["weights_file"]))
    layers = []
    for i, entry in enumerate(_list(doc["layers"], "layers")):
        _no_unknown(entry, LAYER_FIELDS, f"layers[{i}].")
        for key in ("name", "size"):
            if key not in entry:
                raise InputError(f"field 'layers[{i}].{key}': missing")
        values = {k: _per_neuron(v, weights, f"layers[{i}].{k}", doc["weights_file"])
                  if k in PER_NEURON else v for k, v in entry.items()}
        layers.append(Layer(**values))
    projections = []
    for i, entry in enumerate(_list(doc["projections"], "projections")):
        kind = entry.get("type", "dense")
        if kind not in ("dense", "conv"):
            raise InputError(f"field 'projections[{i}].type': expected 'dense' or 'conv', got "
                             f"{kind!r}")
        _no_unknown(entry, PROJECTION_FIELDS | (CONV_FIELDS if kind == "conv" else set()),
                    f"projections[{i}].")
        for key in ("source", "target", "weight") + (("input_shape",) if kind == "conv" else ()):
            if key not in entry:
                raise InputError(f"field 'projections[{i}].{key}': missing")
        key = str(entry["weight"])
        if key not in weights:
            raise InputError(f"field 'projections[{i}].weight': array '{key}' not in "
                             f"{doc['weights_file']} (has: {', '.join(sorted(weights))})")
        delay = entry.get("delay", 0)
        if kind == "dense":
            projections.append(DenseProjection(entry["source"], entry["target"], weights[key],
                                               delay=delay))
        else:
            geometry = {k: entry[k] for k in CONV_FIELDS if k in entry}
            projections.append(ConvProjection(entry["source"], entry["target"], weights[key],
                                              delay=delay, **geometry))
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InputError("field 'metadata': expected a mapping")
    return Network(doc["input_size"], layers, projections, dt_ms=doc.get("dt_ms", 1.0),
                   name=str(doc.get("name", path.stem)),
                   description=str(doc.get("description", "")), metadata=metadata)


def _per_neuron(value: Any, arrays: dict[str, np.ndarray], where: str, file: str) -> Any:
    """A number as it is; ``{array: KEY}`` as the array ``KEY`` of the weights file."""
    if not isinstance(value, dict):
        return value
    if set(value) != {"array"} or str(value["array"]) not in arrays:
        raise InputError(f"field '{where}': expected a number or {{array: KEY}} with KEY in "
                         f"{file}, got {value!r}")
    return arrays[str(value["array"])]


def _list(value: Any, name: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InputError(f"field '{name}': expected a list of mappings")
    return value


def _no_unknown(entry: dict, allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise InputError(f"field '{prefix}{unknown[0]}': unknown (expected one of "
                         f"{', '.join(sorted(allowed))})")


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"field 'weights_file': {path} does not exist") from None
    except Exception as exc:  # numpy raises several types for corrupt archives
        raise InputError(f"field 'weights_file': {path} is not a readable .npz file "
                         f"({type(exc).__name__})") from None


def save_model(network: Network, path: str | os.PathLike) -> Path:
    """Write ``network`` as ``path`` (YAML) and a weights file beside it (same stem, ``.npz``).

    Both files are written to temporary names and renamed into place, weights first.
    """
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        path = path / "model.yaml" if path.is_dir() else path.with_suffix(".yaml")
    weights_path = path.with_suffix(".npz")
    arrays = {f"W{i + 1}": p.weight for i, p in enumerate(network.projections)}
    layers = []
    for i, lay in enumerate(network.layers):
        entry = {"name": lay.name, "size": lay.size, "neuron": lay.neuron,
                 "tau_m_ms": lay.tau_m_ms, "threshold": lay.threshold, "reset": lay.reset,
                 "refractory": lay.refractory, "bias": lay.bias, "synapse": lay.synapse,
                 "tau_syn_ms": lay.tau_syn_ms}
        for key in PER_NEURON:
            if isinstance(entry[key], np.ndarray):
                arrays[f"L{i}.{key}"] = entry[key]
                entry[key] = {"array": f"L{i}.{key}"}
        layers.append(entry)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(weights_path, buffer.getvalue())
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": network.name,
        "description": network.description,
        "dt_ms": network.dt_ms,
        "input_size": network.input_size,
        "weights_file": weights_path.name,
        "metadata": _plain(network.metadata),
        "layers": layers,
        "projections": [_projection_entry(p, f"W{i + 1}")
                        for i, p in enumerate(network.projections)],
    }
    write_text_atomic(path, yaml.safe_dump(doc, sort_keys=False, width=100))
    return path


def _projection_entry(p: DenseProjection | ConvProjection, weight_key: str) -> dict:
    entry = {"source": p.source, "target": p.target, "type": "dense", "weight": weight_key}
    if p.delay:
        entry["delay"] = p.delay
    if isinstance(p, ConvProjection):
        entry.update(type="conv", input_shape=list(p.input_shape), stride=list(p.stride),
                     padding=list(p.padding), dilation=list(p.dilation), groups=p.groups)
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
