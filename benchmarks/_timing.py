"""Timing helper shared by the benchmark scripts (run them as ``python benchmarks/<name>.py``:
the scripts' folder is then on ``sys.path``)."""

import time

# pause between the calls of different libraries: each library's idle worker threads
# (torch's OpenMP threads spin a little while after a parallel region, rayon's too) go to
# sleep before the other library runs, so that neither is timed against the other's
# spinning threads
SETTLE_SECONDS = 0.02


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


def best_times(functions, repeat, warmup=True):
    """Smallest wall time of ``repeat`` calls of each of ``functions`` (``None`` entries are
    skipped and give ``None``), the calls interleaved — ours, the reference, ours, … — so
    that a machine whose speed drifts during the run (shared hosts, memory reclaim) biases
    every function alike and their ratio stays meaningful; a short pause before each call
    lets the other library's worker threads fall asleep (:data:`SETTLE_SECONDS`)."""
    active = [function for function in functions if function is not None]
    if warmup:
        for function in active:
            function()
    times = {id(function): [] for function in active}
    for _ in range(repeat):
        for function in active:
            if len(active) > 1:
                time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            function()
            times[id(function)].append(time.perf_counter() - start)
    return [None if function is None else min(times[id(function)]) for function in functions]
