"""Buffers and batching shared by the calculators' gradient code.

Gradient arrays are large and written once, and their temporaries are computed chunk by
chunk: this module holds the allocation of the former (:func:`zeros`), the reuse of the
latter (:class:`Workspace`, :func:`scratch`) and the grouping of samples with different
numbers of rows into padded batches (:func:`padded_chunks`).
"""

from __future__ import annotations

import math
import mmap
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

# arrays larger than this are allocated with huge pages on CPU (see zeros)
_HUGE_PAGE_MIN_BYTES = 16 << 20
# madvise(MADV_POPULATE_WRITE), Linux >= 5.14; Python 3.11's mmap module does not name it
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def zeros(shape, dtype, device):
    """Zero-filled array; large CPU arrays come from a private anonymous mapping with
    transparent huge pages requested.

    Gradient arrays reach hundreds of MB and are written once: with 4 kB pages, the
    page faults of the first touch cost more than computing them; the pages are
    faulted in by one sequential pass.
    """
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if (
        torch.device(device).type != "cpu"
        or count * itemsize < _HUGE_PAGE_MIN_BYTES
        or not hasattr(mmap, "MADV_HUGEPAGE")
    ):
        return torch.zeros(shape, dtype=dtype, device=device)
    try:
        mapping = mmap.mmap(
            -1, count * itemsize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        )
        mapping.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError, AttributeError):
        return torch.zeros(shape, dtype=dtype, device=device)
    # the tensor keeps the mapping alive; it is unmapped when the tensor is freed
    array = torch.frombuffer(mapping, dtype=dtype, count=count).view(shape)
    # fault the pages in now, in order: first touched by scattered writes (index_add_ of
    # gradient rows) the same pages cost 3-10x more (measured 95 ms against 9 ms for
    # 140 MB on 2 cores), more still when no huge page is available. The kernel does it
    # in one pass (its pages come zeroed): faulted in by our own zero_() on two threads,
    # huge pages now and then stall for 50-120 ms (75 MB: mean 7 ms, max 9, against mean
    # 9-14 ms, max 80-99 over 20 calls)
    try:
        mapping.madvise(_MADV_POPULATE_WRITE)
    except (OSError, ValueError):  # kernels before 5.14
        array.zero_()
    return array


def empty(shape, dtype, device):
    """An array to be overwritten entirely: uninitialised when small, from
    :func:`zeros` when large (huge pages, faulted in by one sequential pass)."""
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if torch.device(device).type != "cpu" or count * itemsize < _HUGE_PAGE_MIN_BYTES:
        return torch.empty(shape, dtype=dtype, device=device)
    return zeros(shape, dtype, device)


def padded_chunks(
    counts: np.ndarray, max_padded_rows: int
) -> List[Tuple[np.ndarray, int, np.ndarray, np.ndarray]]:
    """Samples batched together, ``[(samples, width, rows, slots)]``: the rows of each
    sample are padded to ``width``, the largest count of its chunk.

    The rows of sample ``s`` are taken to be ``[starts[s], starts[s] + counts[s])`` of a
    sequence sorted by sample (``starts`` the exclusive cumulative sum of ``counts``);
    ``rows`` lists the chunk's rows in that sequence and ``slots`` where each goes in the
    padded ``(len(samples) * width)`` layout (sample by sample, rows in order, then
    padding).

    Samples are taken by decreasing count, equal counts in sample order (so that equal
    counts everywhere give consecutive samples, written in place). A chunk ends before
    its padding rows would outnumber its real rows, so padding never doubles the work,
    or before it would hold more than ``max_padded_rows`` padded rows. Samples without
    rows are left out.
    """
    starts = np.cumsum(counts) - counts
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    decreasing = counts[order]
    real_rows = np.concatenate([[0], np.cumsum(decreasing)])
    chunks = []
    start = 0
    while start < len(order):
        width = int(decreasing[start])
        stop = min(len(order), start + max(1, max_padded_rows // width))
        # counts decrease: the share of real rows only falls as the chunk grows
        sizes = np.arange(1, stop - start + 1)
        enough = 2 * (real_rows[start + 1:stop + 1] - real_rows[start]) >= sizes * width
        stop = start + int(np.count_nonzero(enough))
        samples = order[start:stop]
        chunk_counts = counts[samples]
        rank = np.arange(int(chunk_counts.sum())) - np.repeat(
            np.cumsum(chunk_counts) - chunk_counts, chunk_counts)
        rows = np.repeat(starts[samples], chunk_counts) + rank
        slots = np.repeat(np.arange(len(samples)) * width, chunk_counts) + rank
        chunks.append((samples, width, rows, slots))
        start = stop
    return chunks


class Workspace:
    """Flat buffers reused by every chunk, grown on demand, one per named temporary."""

    def __init__(self, dtype, device):
        self.dtype = dtype
        self.device = device
        self.buffers: Dict[str, torch.Tensor] = {}

    def get(self, name: str, shape) -> torch.Tensor:
        size = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.shape[0] < size:
            buffer = torch.empty(size, dtype=self.dtype, device=self.device)
            self.buffers[name] = buffer
        return buffer[:size].view(shape)


def scratch(workspace: Optional[Workspace], name: str, shape, like: torch.Tensor):
    """A temporary of ``shape``: a fresh array under autograd (it joins the graph), else
    the workspace buffer ``name``."""
    if workspace is None:
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    return workspace.get(name, shape)


def gathered(values: torch.Tensor, rows: torch.Tensor, workspace: Optional[Workspace],
             name: str, dim: int = 0) -> torch.Tensor:
    """``values.index_select(dim, rows)``, into the workspace buffer ``name`` when there
    is one (``None`` under autograd: ``out=`` arguments do not take part in it)."""
    if workspace is None:
        return values.index_select(dim, rows)
    shape = list(values.shape)
    shape[dim] = rows.shape[0]
    return torch.index_select(values, dim, rows, out=workspace.get(name, shape))


def sum_of_products(target: torch.Tensor, products, differentiable: bool):
    """``target = Σ_k left_k · right_k`` (broadcast), in place when autograd allows."""
    if differentiable:  # out= arguments and in-place products do not take part in autograd
        target.copy_(sum(left * right for left, right in products))
        return
    (left, right), *others = products
    torch.mul(left, right, out=target)
    for left, right in others:
        target.addcmul_(left, right)
