"""``rosvd bench svd`` and ``rosvd bench accuracy``: figures of the SVD engine as JSON."""
from __future__ import annotations

import time

import numpy as np

from rosvd.hw.svd.model import decompose
from rosvd.hw.svd.params import SVDParams
from rosvd.sim.svd_cases import random_matrices
from rosvd.svd_accuracy import accuracy, separated_spectrum

#: Seed of the fixed matrix sets, so every run measures the same inputs.
BENCH_SEED = 2406


def _per_call_us(function, items, repeat: int = 3) -> float:
    """Best-of-``repeat`` mean wall time per item, in microseconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            function(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best * 1e6


def rtl_cycles(params: SVDParams, simulator: str) -> dict:
    """Cycles per decomposition measured in RTL simulation (cocotb) on seeded matrices."""
    from rosvd.sim.svd_bench import measure_cycles
    return measure_cycles(params, simulator=simulator, seed=BENCH_SEED)


def bench_svd(params: SVDParams, matrices: int = 32, simulator: str = "verilator") -> dict:
    random_set = random_matrices(params, matrices, BENCH_SEED)
    separated_set = separated_spectrum(params, matrices, BENCH_SEED + 1)
    random_acc = accuracy(params, random_set)
    separated_acc = accuracy(params, separated_set)
    timing_set = random_set[: min(matrices, 8)]
    floats = timing_set.astype(np.float64)
    result = {
        "params": {k: getattr(params, k) for k in (
            "n", "k", "data_width", "sweeps", "skip_shift", "units", "guard_bits", "cs_frac",
            "v_width", "cordic_width", "cordic_iters")},
        "max_rel_err_sigma": max(random_acc["max_rel_err_sigma"], separated_acc["max_rel_err_sigma"]),
        "accuracy_random": random_acc,
        "accuracy_separated": separated_acc,
        "model_us": _per_call_us(lambda x: decompose(params, x), timing_set),
        "model_batched_us": _per_call_us(lambda xs: decompose(params, xs), [random_set]) / matrices,
        "numpy_us": _per_call_us(np.linalg.svd, floats),
    }
    result.update(rtl_cycles(params, simulator))
    return result


def accuracy_table(matrices: int = 20) -> dict:
    """Accuracy per n and data width (default sweeps) on both matrix families."""
    rows = []
    for n in (8, 16, 32, 64):
        for width in (8, 12, 16):
            params = SVDParams(n=n, units=n // 2, data_width=width)
            rows.append({
                "n": n, "data_width": width, "sweeps": params.sweeps,
                "random": accuracy(params, random_matrices(params, matrices, BENCH_SEED)),
                "separated": accuracy(params, separated_spectrum(params, matrices, BENCH_SEED + 1)),
            })
    return {"matrices_per_cell": matrices, "rows": rows}
