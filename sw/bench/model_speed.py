"""Speed of the fast host decomposition (:mod:`rosvd.fast_model`) against the spec model.

Both run in the same process on the same seeded batch, each timed as the best of ``repeat``
batched calls after one untimed call; ``bit_exact`` says whether every
output word and ``sweeps_run`` agreed on that batch. ``jit_compile_s`` is the wall time
of the first fast call in this process: compiling the numba kernel when its cache is
cold (``jit_cache_hit`` false), loading it from the cache otherwise. ``fast_cpu_us`` is
the process CPU time (all threads) per matrix of the best timed call, ``model_cpu_us`` the
same for the spec model, and ``load_average_1min`` the machine's load: on a shared machine
wall time alone misleads.

Run as ``python -m rosvd.bench.model_speed [--n 32] [--batch 256] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numba
import numpy as np

from rosvd import fast_model
from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.svd_cases import random_matrices

#: Parameters reported with the figures.
PARAM_FIELDS = ("n", "k", "data_width", "sweeps", "skip_shift", "units", "guard_bits", "cs_frac",
                "v_width", "cordic_width", "cordic_iters")


def _best_seconds(function, repeat: int) -> tuple[float, float]:
    """Best wall time of ``repeat`` calls, and the process CPU time (all threads) of that call."""
    best, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu


def _same(first: model.Decomposition, second: model.Decomposition) -> bool:
    return all(np.array_equal(getattr(first, name), getattr(second, name))
               for name in ("sigma", "vectors", "sweeps_run"))


def run(n: int = 32, batch: int = 256, seed: int = 0, params: SVDParams | None = None,
        repeat: int = 5) -> dict:
    """Per-decomposition times of the spec model and the fast model, each the best of
    ``repeat`` batched calls after one untimed call."""
    params = params or SVDParams(n=n, units=min(16, n // 2))
    matrices = random_matrices(params, batch, seed)

    start = time.perf_counter()
    fast_model.decompose(params, matrices[:1])
    jit_compile_s = time.perf_counter() - start
    cache_hits = sum(fast_model._decompose_batch.stats.cache_hits.values())

    # Both models are timed the same way: one untimed call (its output is what bit_exact
    # compares), then the best of ``repeat`` timed calls on the same batch.
    reference = model.decompose(params, matrices)
    model_s, model_cpu_s = _best_seconds(lambda: model.decompose(params, matrices), repeat)
    result = fast_model.decompose(params, matrices)
    fast_s, fast_cpu_s = _best_seconds(lambda: fast_model.decompose(params, matrices), repeat)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        single_s, _ = _best_seconds(lambda: fast_model.decompose(params, matrices), repeat)
    finally:
        numba.set_num_threads(threads)

    return {
        "params": {name: getattr(params, name) for name in PARAM_FIELDS},
        "batch": batch,
        "seed": seed,
        "repeat": repeat,
        "model_us": model_s / batch * 1e6,
        "model_cpu_us": model_cpu_s / batch * 1e6,
        "fast_us": fast_s / batch * 1e6,
        "fast_cpu_us": fast_cpu_s / batch * 1e6,
        "fast_single_thread_us": single_s / batch * 1e6,
        "speedup": model_s / fast_s,
        "fast_matrices_per_s": batch / fast_s,
        "threads": threads,
        "jit_compile_s": jit_compile_s,
        "jit_cache_hit": cache_hits > 0,
        "bit_exact": _same(reference, result),
        "sweeps_run_mean": float(reference.sweeps_run.mean()),
        "load_average_1min": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rosvd.bench.model_speed",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(n=args.n, batch=args.batch, seed=args.seed), indent=2))


if __name__ == "__main__":
    main()
