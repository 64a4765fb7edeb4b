"""Ordering without allocation: a binary min-heap on ``(key, tie)`` with a payload (the source
index) in three arrays, an in-place sort of integers, and a stable argsort into given buffers.

Pending spikes of every policy but random scheduling live in the heap; selection costs
O(F log P). Everything here runs in the kernel's NRT-free part (no allocation).
"""

from __future__ import annotations

import numba as nb


@nb.njit(cache=True, _nrt=False, inline="always")
def _less(keys, ties, i, j):
    return keys[i] < keys[j] or (keys[i] == keys[j] and ties[i] < ties[j])


@nb.njit(cache=True, _nrt=False, inline="always")
def heap_push(keys, ties, srcs, size, key, tie, src):
    """Insert ``(key, tie, src)``; returns the new size."""
    i = size
    keys[i] = key
    ties[i] = tie
    srcs[i] = src
    while i > 0:
        parent = (i - 1) >> 1
        if _less(keys, ties, i, parent):
            keys[i], keys[parent] = keys[parent], keys[i]
            ties[i], ties[parent] = ties[parent], ties[i]
            srcs[i], srcs[parent] = srcs[parent], srcs[i]
            i = parent
        else:
            break
    return size + 1


@nb.njit(cache=True, _nrt=False, inline="always")
def heap_pop(keys, ties, srcs, size):
    """Remove the smallest entry; it is left at index ``size - 1``. Returns the new size."""
    last = size - 1
    keys[0], keys[last] = keys[last], keys[0]
    ties[0], ties[last] = ties[last], ties[0]
    srcs[0], srcs[last] = srcs[last], srcs[0]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= last:
            break
        best = left
        right = left + 1
        if right < last and _less(keys, ties, right, left):
            best = right
        if _less(keys, ties, best, i):
            keys[i], keys[best] = keys[best], keys[i]
            ties[i], ties[best] = ties[best], ties[i]
            srcs[i], srcs[best] = srcs[best], srcs[i]
            i = best
        else:
            break
    return last


@nb.njit(cache=True, _nrt=False, inline="always")
def _sift_down(a, start, end):
    i = start
    while True:
        child = 2 * i + 1
        if child >= end:
            return
        if child + 1 < end and a[child + 1] > a[child]:
            child += 1
        if a[child] > a[i]:
            a[i], a[child] = a[child], a[i]
            i = child
        else:
            return


@nb.njit(cache=True, _nrt=False)
def sort_ints(a, n):
    """Sort ``a[:n]`` ascending in place (heapsort: O(n log n), no allocation)."""
    for start in range(n // 2 - 1, -1, -1):
        _sift_down(a, start, n)
    for end in range(n - 1, 0, -1):
        a[0], a[end] = a[end], a[0]
        _sift_down(a, 0, end)


@nb.njit(cache=True, _nrt=False)
def stable_argsort(keys, n, order, buffer):
    """Write to ``order[:n]`` the indices that sort ``keys[:n]`` ascending, equal keys in index
    order (the permutation of a stable sort); ``buffer`` is scratch of at least ``n``
    integers. Bottom-up merge sort, no allocation."""
    for i in range(n):
        order[i] = i
    width = 1
    src, dst = order, buffer
    in_buffer = False
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if keys[src[j]] < keys[src[i]]:
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        in_buffer = not in_buffer
        width *= 2
    if in_buffer:
        for i in range(n):
            order[i] = buffer[i]
