"""Timing helper shared by the benchmark scripts (run them as ``python benchmarks/<name>.py``:
the scripts' folder is then on ``sys.path``)."""

import time


def best_time(function, repeat, warmup=True, setup=None):
    """Smallest wall time of ``repeat`` calls of ``function``, after one untimed warm-up call
    (caches, lazily built tables, allocator) unless ``warmup`` is false; ``setup`` (if given)
    runs untimed before every call."""
    if warmup:
        if setup is not None:
            setup()
        function()
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
