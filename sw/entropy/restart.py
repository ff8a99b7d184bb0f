"""The restart tests of NIST SP 800-90B (January 2018), section 3.1.4.

Input: a restart matrix, ``r = 1000`` restarts of the noise source (power-cycled or reset)
with the first ``c = 1000`` samples of each, one restart per row. The tests check that a
restarted source does not repeat itself, i.e. that the initial entropy estimate ``H_I`` of
the sequential capture (3.1.3) also holds across restarts:

1. Sanity check (3.1.4.3): ``X_max``, the largest count of one value in any row or column,
   must not exceed the cutoff ``U``: the smallest count with ``P(X > U) <= alpha`` for
   ``X ~ Binomial(1000, 2^-H_I)`` and ``alpha = 0.01 / (r + c) = 0.01 / 2000``.
2. Validation (3.1.4.2): the row dataset (the matrix row after row) and the column dataset
   (column after column) are assessed with the non-IID estimators of 6.3; ``H_r`` and ``H_c``
   are the minima. The test fails if ``min(H_r, H_c) < H_I / 2``.
3. If both pass, the entropy per sample is ``min(H_I, H_r, H_c)``.

As NIST's ``ea_restart`` does, ``H_r`` and ``H_c`` come from the samples themselves (the
"original" track of :func:`rosvd.entropy.estimators.run_track`), not from their bitstring.
The cutoff is the standard's binomial quantile; NIST's tool simulates the largest count
of a source with ``floor(2^H_I)`` values at probability ``2^-H_I`` instead, which gives a
cutoff at or above ours, so ours is the stricter check.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from rosvd.entropy import estimators
from rosvd.entropy.assess import CaptureError, validate_samples
from rosvd.entropy.cli_args import BITS_HELP, bits_argument

RESTARTS = 1000
SAMPLES_PER_RESTART = 1000
#: Significance of the sanity check: 0.01 over the r + c rows and columns tested.
ALPHA = 0.01 / (RESTARTS + SAMPLES_PER_RESTART)


def sanity_cutoff(h_initial: float, samples: int = SAMPLES_PER_RESTART, alpha: float = ALPHA) -> int:
    """U: the smallest count with P(X > U) <= alpha, X ~ Binomial(samples, 2^-H_I)."""
    from scipy.stats import binom
    survival = binom.sf(np.arange(samples + 1), samples, 2.0 ** -h_initial)
    return int(np.flatnonzero(survival <= alpha)[0])


def max_counts(matrix: np.ndarray) -> np.ndarray:
    """For each row, the count of its most common value."""
    rows = matrix.shape[0]
    codes = np.arange(rows, dtype=np.int64)[:, None] * 256 + matrix.astype(np.int64)
    return np.bincount(codes.ravel(), minlength=rows * 256).reshape(rows, 256).max(axis=1)


def sanity_check(matrix: np.ndarray, h_initial: float) -> dict:
    """3.1.4.3: the largest count of one value in any row or column against the cutoff for H_I."""
    rows_n, cols_n = matrix.shape
    alpha = 0.01 / (rows_n + cols_n)
    cut_rows, cut_cols = sanity_cutoff(h_initial, cols_n, alpha), sanity_cutoff(h_initial, rows_n, alpha)
    x_rows, x_cols = int(max_counts(matrix).max()), int(max_counts(matrix.T).max())
    return {"alpha": alpha, "p": 2.0 ** -h_initial, "cutoff_rows": cut_rows, "cutoff_columns": cut_cols,
            "max_count_rows": x_rows, "max_count_columns": x_cols,
            "passed": x_rows <= cut_rows and x_cols <= cut_cols}


def restart_test(matrix, bits: int, h_initial: float | None = None) -> dict:
    """Run 3.1.4 on a restart matrix (one restart per row); see the module docstring.

    ``h_initial`` is H_I from the sequential capture; without it the 3.1.3 assessment of the
    row dataset stands in (and the result says so).
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or min(m.shape) < 2:
        raise CaptureError(f"a restart matrix is 2-D, one restart per row; got shape {m.shape}")
    rows_n, cols_n = m.shape
    m = validate_samples(m.ravel(), bits, source="restart matrix").reshape(rows_n, cols_n)
    row_data, col_data = m.ravel(), m.T.ravel()
    if h_initial is None:
        h_i = estimators.assess_min_entropy(row_data, bits)["min_entropy_per_sample"]
        source = "3.1.3 assessment of the row dataset (no H_I given)"
    else:
        h_i = float(h_initial)
        source = "given"
        if not 0.0 <= h_i <= bits:
            raise CaptureError(f"H_I must be between 0 and bits per sample ({bits}), got {h_i}")
    sanity = sanity_check(m, h_i)
    x_rows, x_cols, cut_rows = sanity["max_count_rows"], sanity["max_count_columns"], sanity["cutoff_rows"]
    result = {"restarts": rows_n, "samples_per_restart": cols_n, "bits_per_sample": bits,
              "h_initial": h_i, "h_initial_source": source, "sanity_check": sanity,
              "rows": None, "columns": None, "h_r": None, "h_c": None,
              "validation": {"threshold": h_i / 2, "passed": None},
              "passed": False, "min_entropy_per_sample": None}
    if not sanity["passed"]:
        where = "row" if x_rows > cut_rows else "column"
        result["failure"] = (f"sanity check: a value occurs {max(x_rows, x_cols)} times in one {where}, "
                             f"above the cutoff for H_I = {h_i:.4f}")
        return result
    row_track, col_track = estimators.run_track(row_data, bits), estimators.run_track(col_data, bits)
    h_r, h_c = row_track["min_entropy"], col_track["min_entropy"]
    passed = min(h_r, h_c) >= h_i / 2
    result |= {"rows": row_track, "columns": col_track, "h_r": h_r, "h_c": h_c,
               "validation": {"threshold": h_i / 2, "passed": passed}, "passed": passed,
               "min_entropy_per_sample": min(h_i, h_r, h_c) if passed else None}
    if not passed:
        result["failure"] = f"validation: min(H_r, H_c) = {min(h_r, h_c):.4f} < H_I / 2 = {h_i / 2:.4f}"
    return result


def read_restart_matrix(path: str | os.PathLike) -> np.ndarray:
    """A restart file: 1000 x 1000 samples, one per byte, restart after restart."""
    raw = np.fromfile(os.fspath(path), dtype=np.uint8)
    expected = RESTARTS * SAMPLES_PER_RESTART
    if raw.size != expected:
        raise CaptureError(f"{os.fspath(path)}: {raw.size} samples; a restart file holds {RESTARTS} restarts "
                           f"x {SAMPLES_PER_RESTART} samples = {expected}, one per byte")
    return raw.reshape(RESTARTS, SAMPLES_PER_RESTART)


def restart_file(path: str | os.PathLike, bits: int, h_initial: float | None = None) -> dict:
    """Read and test a restart file; the result also names the file."""
    result = restart_test(read_restart_matrix(path), bits, h_initial)
    return {"file": os.fspath(path)} | result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rosvd entropy restart", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="10^6 samples, one per byte, one restart of 1000 samples after another")
    ap.add_argument("--bits", type=bits_argument, required=True, metavar="1..8", help=BITS_HELP)
    ap.add_argument("--h-initial", type=float, default=None, metavar="H", help="H_I, bits per sample")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        result = restart_file(args.file, args.bits, args.h_initial)
    except (CaptureError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        verdict = "passed" if result["passed"] else f"FAILED ({result['failure']})"
        print(f"{args.file}: restart tests {verdict}; H_I = {result['h_initial']:.4f}, "
              f"H_r = {result['h_r']}, H_c = {result['h_c']}, "
              f"min-entropy per sample {result['min_entropy_per_sample']}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
