"""Convolutional projections in compiled form: one descriptor row per projection (the kernel
derives targets and weights from it, see :mod:`asyncsim.kernel.conv`), and the per-neuron counts
the kernel and the chip mapping need, computed from the geometry with vectorized NumPy, never
from per-synapse arrays.

Along one axis, input coordinate ``i`` reaches output coordinate ``o`` through kernel offset
``a`` when ``o * stride - pad + a * dilation == i``. Every count below is a product of what
happens along the rows, along the columns and across the channels of a group.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .kernel.conv import (
    DILATION_X,
    DILATION_Y,
    GROUPS,
    IN_CHANNELS,
    IN_HEIGHT,
    IN_WIDTH,
    KERNEL_HEIGHT,
    KERNEL_WIDTH,
    N_CONV_COLUMNS,
    OUT_CHANNELS,
    OUT_HEIGHT,
    OUT_WIDTH,
    PAD_X,
    PAD_Y,
    SOURCE_FIRST,
    STRIDE_X,
    STRIDE_Y,
    TARGET_FIRST,
    axis_table,
)
from .network import ConvProjection


def descriptor(p: ConvProjection, source_first: int, target_first: int, delay: int,
               weight_start: int, axes_start: int) -> np.ndarray:
    """The descriptor row of ``p`` (columns in :mod:`asyncsim.kernel.conv`): global index of
    the first source and first target, shapes, stride, padding, dilation, groups, delay
    (timesteps), the first of its weights in the flat kernel array and the first of its rows
    in the axis table (:func:`axes`)."""
    c_out, _, kh, kw = p.weight.shape
    _, oh, ow = p.output_shape
    row = np.array([source_first, target_first, *p.input_shape, c_out, oh, ow, kh, kw,
                    *p.stride, *p.padding, *p.dilation, p.groups, delay, weight_start,
                    axes_start], dtype=np.int64)
    assert row.shape[0] == N_CONV_COLUMNS
    return row


def axes(p: ConvProjection) -> np.ndarray:
    """(height + width, N_AXIS_COLUMNS) int64: :func:`asyncsim.kernel.conv.axis_table` of the
    input rows, then of the input columns."""
    _, h, w = p.input_shape
    kh, kw = p.weight.shape[2:]
    _, oh, ow = p.output_shape
    return np.concatenate([axis_table(n_in, n_out, k, p.stride[i], p.padding[i], p.dilation[i])
                           for i, (n_in, n_out, k) in enumerate(((h, oh, kh), (w, ow, kw)))])


def _reach(n_in: int, n_out: int, k: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """(n_in, k) bool: input coordinate ``i`` reaches an output through kernel offset ``a``."""
    reach = np.arange(n_in)[:, None] + pad - np.arange(k)[None, :] * dilation
    return (reach >= 0) & (reach % stride == 0) & (reach // stride < n_out)


def _axes(p: ConvProjection) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per axis (rows, columns): the reach table of :func:`_reach` and the output coordinate
    each (input coordinate, offset) pair lands on."""
    _, h, w = p.input_shape
    _, kh, kw = p.weight.shape[1:]
    _, oh, ow = p.output_shape
    out = []
    for n_in, n_out, k, axis in ((h, oh, kh, 0), (w, ow, kw, 1)):
        s, pad, dil = p.stride[axis], p.padding[axis], p.dilation[axis]
        landing = (np.arange(n_in)[:, None] + pad - np.arange(k)[None, :] * dil) // s
        out.append((_reach(n_in, n_out, k, s, pad, dil), landing))
    return tuple(out)


def source_fanout(p: ConvProjection) -> np.ndarray:
    """(source size,) int64 targets of each source (channel-major, row-major)."""
    c_in = p.input_shape[0]
    (rows, _), (cols, _) = _axes(p)
    out_per_group = p.weight.shape[0] // p.groups
    per_position = np.outer(rows.sum(axis=1), cols.sum(axis=1)) * out_per_group
    return np.broadcast_to(per_position, (c_in, *per_position.shape)).ravel().astype(np.int64)


def source_nonzero_fanout(p: ConvProjection) -> np.ndarray:
    """(source size,) int64 targets of each source reached with a non-zero weight."""
    c_out, per_group = p.weight.shape[:2]
    (rows, _), (cols, _) = _axes(p)
    # nonzero[g, ci, a, b]: output channels of group g with a non-zero weight at (ci, a, b)
    nonzero = (p.weight != 0).reshape(p.groups, c_out // p.groups, per_group,
                                      *p.weight.shape[2:]).sum(axis=1)
    by_channel = nonzero.reshape(p.groups * per_group, *p.weight.shape[2:]).astype(np.int64)
    counts = np.einsum("cab,ya,xb->cyx", by_channel, rows.astype(np.int64),
                       cols.astype(np.int64))
    return counts.ravel()


def source_target_span(p: ConvProjection) -> tuple[np.ndarray, np.ndarray]:
    """(source size,) int64 first and last target (indices within the target layer) of each
    source; -1 for a source without targets."""
    c_in = p.input_shape[0]
    _, oh, ow = p.output_shape
    out_per_group = p.weight.shape[0] // p.groups
    group = np.arange(c_in) // (c_in // p.groups)
    ends = []
    for pick, channel in ((np.min, group * out_per_group),
                          (np.max, (group + 1) * out_per_group - 1)):
        (rows, row_at), (cols, col_at) = _axes(p)
        none = -1 if pick is np.max else 1 << 40  # no reach: masked below
        y = pick(np.where(rows, row_at, none), axis=1)
        x = pick(np.where(cols, col_at, none), axis=1)
        ends.append((channel[:, None, None] * oh + y[None, :, None]) * ow + x[None, None, :])
    reached = (source_fanout(p) > 0)
    first, last = (np.where(reached, e.ravel(), -1).astype(np.int64) for e in ends)
    return first, last


def target_fanin(p: ConvProjection) -> np.ndarray:
    """(target size,) int64 synapses into each target: kernel taps inside the input."""
    _, h, w = p.input_shape
    per_group, kh, kw = p.weight.shape[1:]
    _, oh, ow = p.output_shape
    taps = []
    for n_in, n_out, k, axis in ((h, oh, kh, 0), (w, ow, kw, 1)):
        at = (np.arange(n_out)[:, None] * p.stride[axis] - p.padding[axis]
              + np.arange(k)[None, :] * p.dilation[axis])
        taps.append(((at >= 0) & (at < n_in)).sum(axis=1))
    per_position = np.outer(taps[0], taps[1]) * per_group
    return np.broadcast_to(per_position, (p.weight.shape[0], oh, ow)).ravel().astype(np.int64)


def synapse_blocks(row: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(target, source) global indices of every synapse of the convolution described by
    ``row`` (a descriptor), one kernel tap and input channel of a group at a time (memory: one
    block's synapses, never the whole projection)."""
    r = [int(v) for v in row]
    c_out, oh, ow = r[OUT_CHANNELS], r[OUT_HEIGHT], r[OUT_WIDTH]
    h, w = r[IN_HEIGHT], r[IN_WIDTH]
    per_group = r[IN_CHANNELS] // r[GROUPS]
    co, y, x = np.meshgrid(np.arange(c_out), np.arange(oh), np.arange(ow), indexing="ij")
    channel_base = (co // (c_out // r[GROUPS])) * per_group
    target = r[TARGET_FIRST] + (co * oh + y) * ow + x
    for a in range(r[KERNEL_HEIGHT]):
        yy = y * r[STRIDE_Y] - r[PAD_Y] + a * r[DILATION_Y]
        for b in range(r[KERNEL_WIDTH]):
            xx = x * r[STRIDE_X] - r[PAD_X] + b * r[DILATION_X]
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            t, base, yi, xi = target[inside], channel_base[inside], yy[inside], xx[inside]
            for ci in range(per_group):
                yield t, r[SOURCE_FIRST] + ((base + ci) * h + yi) * w + xi
