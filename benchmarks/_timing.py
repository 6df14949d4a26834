"""Timing helper shared by the benchmark scripts (run them as ``python benchmarks/<name>.py``:
the scripts' folder is then on ``sys.path``)."""

import time


def best_time(function, repeat, warmup=True):
    """Smallest wall time of ``repeat`` calls of ``function``, after one untimed warm-up call
    (caches, lazily built tables, allocator) unless ``warmup`` is false."""
    if warmup:
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
