"""``make demo``: decompose sample content through the RTL engine and its model.

Until the certificate pipeline lands, the demo shows the engine's half of the job: a
synthetic picture is reduced to the engine's n x n integer matrix, streamed through
the Verilator-simulated RTL, and the result is compared with the bit-exact model and
with LAPACK.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from rosvd.hw.svd.model import decompose, to_float
from rosvd.hw.svd.params import SVDParams


def sample_picture(size: int = 256) -> np.ndarray:
    """A deterministic grey picture: a lit sphere on a gradient with stripes (uint8)."""
    y, x = np.mgrid[0:size, 0:size] / size
    picture = 0.35 + 0.3 * x + 0.1 * np.sin(24 * np.pi * y) * (x > 0.7)
    r2 = (x - 0.45) ** 2 + (y - 0.5) ** 2
    sphere = r2 < 0.09
    shade = np.sqrt(np.clip(1 - r2 / 0.09, 0, 1)) * (0.6 + 0.4 * (x - y))
    picture = np.where(sphere, 0.2 + 0.7 * shade, picture)
    return np.clip(picture * 255, 0, 255).astype(np.uint8)


def to_engine_matrix(picture: np.ndarray, params: SVDParams) -> np.ndarray:
    """Block-average to n x n, remove the mean, scale to the signed input range."""
    n = params.n
    h, w = picture.shape
    blocks = picture[: h - h % n, : w - w % n].reshape(n, h // n, n, w // n).mean(axis=(1, 3))
    centred = blocks - blocks.mean()
    scale = params.input_max / max(np.abs(centred).max(), 1e-9)
    return np.round(centred * scale).astype(np.int64)


def run_demo(simulator: str = "verilator", out=sys.stdout) -> int:
    from rosvd.sim.svd_bench import rtl_decompose

    params = SVDParams()
    matrix = to_engine_matrix(sample_picture(), params)
    print(f"sample content: 256x256 synthetic picture -> {params.n}x{params.n} matrix of "
          f"{params.data_width}-bit integers", file=out)
    print(f"running the RTL engine on {simulator} (first run builds the simulator; "
          "this takes a minute or two)...", file=out, flush=True)
    started = time.monotonic()
    rtl = rtl_decompose(params, matrix, simulator=simulator)[0]
    seconds = time.monotonic() - started
    model = decompose(params, matrix)
    exact = rtl["words"] == model.words(0)
    sigma, vectors = to_float(params, model)
    reference = np.linalg.svd(matrix.astype(np.float64), compute_uv=False)
    k = params.k
    print(f"RTL: {rtl['cycles']} cycles ({rtl['sweeps_run']} sweeps), "
          f"{len(rtl['words'])} words in {seconds:.1f} s of simulation", file=out)
    print(f"RTL output equals the bit-exact model: {exact}", file=out)
    print(f"top {k} singular values (engine | LAPACK):", file=out)
    for i in range(k):
        print(f"  sigma{i}: {sigma[0, i]:12.3f} | {reference[i]:12.3f}", file=out)
    err = np.abs(sigma[0] - reference).max() / reference[0]
    print(f"max |sigma - LAPACK| / sigma_max: {err:.2e}", file=out)
    print(f"first right singular vector (first 8 of {params.n}): "
          + " ".join(f"{v:+.3f}" for v in vectors[0, 0, :8]), file=out)
    return 0 if exact else 1
