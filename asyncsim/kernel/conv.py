"""Convolutional projections without per-synapse storage: a source's targets and weights,
derived at delivery time from its position (channel, row, column) and its projection's
descriptor (a row of ``NetworkArrays.conv``, columns below).

The targets of one source in one convolution form a small lattice: for every output channel of
its group, the output rows its kernel rows reach (evenly spaced) times the output columns its
kernel columns reach. :func:`conv_window` returns that lattice as start, step and count per axis,
for targets and for kernel weights alike, so that every consumer walks it with three plain
loops, targets in increasing order (as the per-synapse table lists them).

Descriptor rows are sorted by source layer, then by target layer; ``conv_start[g]`` is the first
row of source group ``g`` (the layer index, or the number of layers for the input).
"""

from __future__ import annotations

import numba as nb
import numpy as np

# columns of a descriptor row (NetworkArrays.conv)
SOURCE_FIRST = 0    # global index of the source layer's first source
TARGET_FIRST = 1    # global index of the target layer's first neuron
IN_CHANNELS = 2
IN_HEIGHT = 3
IN_WIDTH = 4
OUT_CHANNELS = 5
OUT_HEIGHT = 6
OUT_WIDTH = 7
KERNEL_HEIGHT = 8
KERNEL_WIDTH = 9
STRIDE_Y = 10
STRIDE_X = 11
PAD_Y = 12
PAD_X = 13
DILATION_Y = 14
DILATION_X = 15
GROUPS = 16
DELAY = 17          # timesteps, recurrent delay included (0: immediate)
WEIGHT_START = 18   # first kernel weight in NetworkArrays.conv_weights (see kernel_layout)
N_CONV_COLUMNS = 19


def kernel_layout(weight: np.ndarray, groups: int) -> np.ndarray:
    """A convolution's weights ``(out channels, in channels / groups, rows, columns)`` in the
    order the kernel reads them: ``(in channels, rows, columns, out channels of the group)``,
    so that the weights of one source form one contiguous block (a source's deliveries then
    read a few cache lines in order rather than one line per output channel)."""
    c_out, per_group, kh, kw = weight.shape
    blocks = weight.reshape(groups, c_out // groups, per_group, kh, kw)
    return np.ascontiguousarray(blocks.transpose(0, 2, 3, 4, 1)).ravel()


def weight_layout(flat: np.ndarray, shape: tuple[int, int, int, int], groups: int
                  ) -> np.ndarray:
    """The inverse of :func:`kernel_layout`: values in kernel order back to ``shape``."""
    c_out, per_group, kh, kw = shape
    blocks = np.asarray(flat).reshape(groups, per_group, kh, kw, c_out // groups)
    return np.ascontiguousarray(blocks.transpose(0, 4, 1, 2, 3)).reshape(shape)


@nb.njit(cache=True, _nrt=False, inline="always")
def _axis(i, pad, dilation, stride, k, n_out):
    """Along one axis, the kernel offsets through which input coordinate ``i`` reaches an output
    coordinate ``o`` (``o * stride - pad + offset * dilation = i``), largest offset first (so
    outputs in increasing order): (first offset, offset step down, count, first output, output
    step up)."""
    first, second, count = -1, -1, 0
    for a in range(k - 1, -1, -1):
        reach = i + pad - a * dilation
        if reach >= 0 and reach % stride == 0 and reach // stride < n_out:
            count += 1
            if first < 0:
                first = a
            elif second < 0:
                second = a
    if count == 0:
        return 0, 1, 0, 0, 1
    step = first - second if count > 1 else 1
    return first, step, count, (i + pad - first * dilation) // stride, step * dilation // stride


@nb.njit(cache=True, _nrt=False, inline="always")
def conv_window(conv, p, src):
    """The targets of source ``src`` in convolution ``p`` (a row of ``conv``), in increasing
    order: for ``k < n_co``, ``m < ny``, ``q < nx``, target ``t0 + k * t_co + m * t_y + q * t_x``
    with weight ``w0 + k * w_co - m * w_y - q * w_x`` (an index into ``conv_weights``).
    Returns ``(t0, t_co, t_y, t_x, w0, w_co, w_y, w_x, n_co, ny, nx)``; no targets: a count
    of 0."""
    local = src - conv[p, SOURCE_FIRST]
    height, width = conv[p, IN_HEIGHT], conv[p, IN_WIDTH]
    channel = local // (height * width)
    iy = (local // width) % height
    ix = local % width
    kh, kw = conv[p, KERNEL_HEIGHT], conv[p, KERNEL_WIDTH]
    oh, ow = conv[p, OUT_HEIGHT], conv[p, OUT_WIDTH]
    groups = conv[p, GROUPS]
    per_group = conv[p, IN_CHANNELS] // groups  # input channels per group
    out_per_group = conv[p, OUT_CHANNELS] // groups
    group = channel // per_group
    a0, da, ny, y0, dy = _axis(iy, conv[p, PAD_Y], conv[p, DILATION_Y], conv[p, STRIDE_Y], kh,
                               oh)
    b0, db, nx, x0, dx = _axis(ix, conv[p, PAD_X], conv[p, DILATION_X], conv[p, STRIDE_X], kw,
                               ow)
    t0 = conv[p, TARGET_FIRST] + (group * out_per_group * oh + y0) * ow + x0
    # kernel layout (input channel, row, column, output channel of the group): one source's
    # weights are one contiguous block
    w0 = conv[p, WEIGHT_START] + ((channel * kh + a0) * kw + b0) * out_per_group
    return (t0, oh * ow, dy * ow, dx, w0, 1, da * kw * out_per_group, db * out_per_group,
            out_per_group, ny, nx)


@nb.njit(cache=True, _nrt=False, inline="always")
def conv_rows(src, net):
    """The descriptor rows ``start, end`` of the convolutions ``src`` feeds (none without
    convolutions)."""
    if not net.has_conv:
        return 0, 0
    n_neurons = net.layer_of.shape[0]
    group = net.layer_of[src] if src < n_neurons else net.conv_start.shape[0] - 2
    return net.conv_start[group], net.conv_start[group + 1]


@nb.njit(cache=True, _nrt=False, inline="always")
def conv_immediate_fanout(src, net):
    """Targets ``src`` reaches through convolutions without delay."""
    total = 0
    start, end = conv_rows(src, net)
    for p in range(start, end):
        if net.conv[p, DELAY] == 0:
            window = conv_window(net.conv, p, src)
            total += window[8] * window[9] * window[10]
    return total


@nb.njit(cache=True, _nrt=False, inline="always")
def immediate_fanout(src, net):
    """Synapses of ``src`` without delay: per-synapse rows and convolutions."""
    return net.fanout_start[src + 1] - net.fanout_start[src] + conv_immediate_fanout(src, net)
