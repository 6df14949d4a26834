"""Tests of calculators._buffers: large zero-filled arrays and padded chunks."""

import numpy as np
import pytest
import torch

import calculators._buffers as buffers


@pytest.mark.parametrize("populate", [True, False])
def test_large_zeros_are_zero_and_writable(monkeypatch, populate):
    """Arrays above the huge-page threshold come from an anonymous mapping, faulted in by
    the kernel or, where it cannot (older kernels: an invalid advice), by zero_()."""
    if not populate:
        monkeypatch.setattr(buffers, "_MADV_POPULATE_WRITE", 10**6)
    shape = (buffers._HUGE_PAGE_MIN_BYTES // (8 * 3 * 7) + 5, 3, 7)
    array = buffers.zeros(shape, torch.float64, "cpu")
    assert array.shape == shape and array.dtype == torch.float64
    assert int(torch.count_nonzero(array)) == 0
    array[-1, 2, 6] = 3.0
    array.index_copy_(0, torch.tensor([0]), torch.ones((1, 3, 7), dtype=torch.float64))
    assert float(array.sum()) == 3.0 + 21.0
    small = buffers.zeros((4, 2), torch.float32, "cpu")
    assert small.dtype == torch.float32 and int(torch.count_nonzero(small)) == 0


def test_padded_chunks_cover_every_row_once():
    counts = np.array([3, 0, 1, 5, 5, 2, 1, 0, 4])
    starts = np.cumsum(counts) - counts
    seen = []
    for samples, width, rows, slots in buffers.padded_chunks(counts, 8):
        assert width == counts[samples].max()
        # padding never exceeds the real rows of a chunk
        assert len(samples) * width <= 2 * counts[samples].sum()
        for position, sample in enumerate(samples):
            mine = rows[(slots >= position * width) & (slots < (position + 1) * width)]
            assert mine.tolist() == list(range(starts[sample], starts[sample] + counts[sample]))
        seen.extend(rows.tolist())
    assert sorted(seen) == list(range(int(counts.sum())))
