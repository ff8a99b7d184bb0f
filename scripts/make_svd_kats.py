"""Write the SVD engine's known-answer vectors, ``tests/hw/kat/svd_kats.json``, from the model.

Run once, when the specification changes on purpose, and commit the file with the change:

    .venv/bin/python scripts/make_svd_kats.py

For n = 8, 16, 32, 64, each with ``skip_shift=None`` and ``skip_shift=6`` (early exit at n <= 32), two seeded
matrices (one from :func:`rosvd.sim.svd_cases.random_matrices`, one from
:func:`~rosvd.sim.svd_cases.low_rank_matrices`) go through :func:`rosvd.hw.svd.model.decompose`;
the file keeps, per matrix, the singular values in clear, the top-k vectors as a sha256
(with their first elements in clear, for a readable diff), the sweeps run, the robust
fingerprint (:mod:`rosvd.fingerprint`) and a sha256 of its 64 integer DCT coefficients
(the fingerprint's rank code is robust by design: a one-LSB change in its arithmetic
may leave the bits as they are, never the coefficients). ``tests/hw/test_kats.py`` checks that the model and
the fast model reproduce it. ``--check`` recomputes and compares instead of writing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from rosvd.fingerprint import dct_coefficients, robust_fingerprints
from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams
from rosvd.sim import svd_cases

OUT = Path(__file__).resolve().parents[1] / "tests" / "hw" / "kat" / "svd_kats.json"
#: Units per n (every n at its largest unit count; units do not change the arithmetic).
UNITS = {8: 4, 16: 8, 32: 16, 64: 32}
SKIP_SHIFTS = (None, 6)
#: Input generators by name, each called as ``generator(params, count, seed)``.
GENERATORS = {"random_matrices": svd_cases.random_matrices, "low_rank_matrices": svd_cases.low_rank_matrices}
VECTOR_HEAD = 8


def array_sha256(values: np.ndarray) -> str:
    """sha256 of an integer array as little-endian int64, row-major."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<i8").tobytes()).hexdigest()


def case_specs() -> list[dict]:
    specs = []
    for n in (8, 16, 32, 64):
        for skip_shift in SKIP_SHIFTS:
            params = {"n": n, "units": UNITS[n], "skip_shift": skip_shift}
            seed = 1000 * n + (skip_shift or 0)
            specs.append({"params": params,
                          "inputs": [{"generator": name, "count": 1, "seed": seed + i}
                                     for i, name in enumerate(GENERATORS)]})
    return specs


def inputs_of(params: SVDParams, spec: dict) -> np.ndarray:
    return np.concatenate([GENERATORS[item["generator"]](params, item["count"], item["seed"])
                           for item in spec["inputs"]])


def results_of(params: SVDParams, matrices: np.ndarray, decompose=model.decompose) -> list[dict]:
    result = decompose(params, matrices)
    fingerprints = robust_fingerprints(params, matrices, result)
    coefficients = dct_coefficients(params, matrices, result.sigma, result.vectors)
    return [{"sigma": result.sigma[i].tolist(),
             "vectors_sha256": array_sha256(result.vectors[i]),
             "vector1_head": result.vectors[i, 0, :VECTOR_HEAD].tolist(),
             "sweeps_run": int(result.sweeps_run[i]),
             "fingerprint": fingerprints[i].hex(),
             "dct_sha256": array_sha256(coefficients[i])} for i in range(len(matrices))]


def build() -> dict:
    cases = []
    for spec in case_specs():
        params = SVDParams(**spec["params"])
        matrices = inputs_of(params, spec)
        cases.append({**spec, "inputs_sha256": array_sha256(matrices),
                      "results": results_of(params, matrices)})
    return {"generated_by": "scripts/make_svd_kats.py (from rosvd.hw.svd.model)",
            "hashes": "sha256 of little-endian int64, row-major: inputs (B, n, n), vectors (k, n), dct (64,)",
            "cases": cases}


def dump(data: dict) -> str:
    """One case per line block, every list on one line: small and diffable."""
    lines = ["{", f' "generated_by": {json.dumps(data["generated_by"])},',
             f' "hashes": {json.dumps(data["hashes"])},', ' "cases": [']
    for i, case in enumerate(data["cases"]):
        body = [f'  {{"params": {json.dumps(case["params"])},',
                f'   "inputs": {json.dumps(case["inputs"])},',
                f'   "inputs_sha256": {json.dumps(case["inputs_sha256"])},',
                '   "results": [']
        body += [f"    {json.dumps(result)}" + ("," if j < len(case["results"]) - 1 else "")
                 for j, result in enumerate(case["results"])]
        body.append("   ]}" + ("," if i < len(data["cases"]) - 1 else ""))
        lines += body
    return "\n".join([*lines, " ]", "}"]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file, do not write")
    args = parser.parse_args(argv)
    text = dump(build())
    if args.check:
        same = OUT.read_text() == text
        print(f"{OUT}: {'up to date' if same else 'DIFFERS from the model'}")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
