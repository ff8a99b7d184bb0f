"""Known-answer vectors: the model and the fast model reproduce ``kat/svd_kats.json`` bit for bit.

The file was generated once from the model and is committed; it changes only when the
specification changes on purpose. Regenerate it (and review the diff) with

    .venv/bin/python scripts/make_svd_kats.py

It covers n = 8, 16, 32, 64, each with ``skip_shift=None`` and a threshold, on seeded
inputs: per matrix the singular values (in clear), a sha256 of the top-k right singular
vectors (their first elements in clear), the sweeps run, the robust fingerprint of
:mod:`rosvd.fingerprint` and a sha256 of its integer DCT coefficients (the fingerprint's
bits are robust by design, its coefficients are not). A one-LSB change to a shared
constant (the CORDIC arctangent table, its gain), to a rounding or to the skip rule
changes them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from rosvd import fast_model
from rosvd.fingerprint import dct_coefficients, robust_fingerprints
from rosvd.hw.svd import model
from rosvd.hw.svd.params import SVDParams
from rosvd.sim import svd_cases

KATS = json.loads((Path(__file__).with_name("kat") / "svd_kats.json").read_text())["cases"]
DECOMPOSE = {"model": model.decompose, "fast_model": fast_model.decompose}


def sha256(values) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<i8").tobytes()).hexdigest()


def case_id(case) -> str:
    return f"n={case['params']['n']},skip_shift={case['params']['skip_shift']}"


def inputs(case) -> tuple[SVDParams, np.ndarray]:
    params = SVDParams(**case["params"])
    matrices = np.concatenate([getattr(svd_cases, item["generator"])(params, item["count"], item["seed"])
                               for item in case["inputs"]])
    assert sha256(matrices) == case["inputs_sha256"], "the seeded inputs changed (numpy's generator?)"
    return params, matrices


def test_the_vectors_cover_every_n_with_and_without_threshold_and_an_early_exit():
    assert sorted((c["params"]["n"], c["params"]["skip_shift"] is None) for c in KATS) == \
        sorted((n, none) for n in (8, 16, 32, 64) for none in (True, False))
    runs = [r["sweeps_run"] for c in KATS if c["params"]["skip_shift"] for r in c["results"]]
    assert min(runs) < SVDParams().sweeps


@pytest.mark.parametrize("implementation", DECOMPOSE)
@pytest.mark.parametrize("case", KATS, ids=[case_id(c) for c in KATS])
def test_known_answers(case, implementation):
    params, matrices = inputs(case)
    result = DECOMPOSE[implementation](params, matrices)
    fingerprints = robust_fingerprints(params, matrices, result)
    coefficients = dct_coefficients(params, matrices, result.sigma, result.vectors)
    for i, expected in enumerate(case["results"]):
        head = len(expected["vector1_head"])
        assert result.sigma[i].tolist() == expected["sigma"], f"matrix {i}: sigma"
        assert result.vectors[i, 0, :head].tolist() == expected["vector1_head"], f"matrix {i}: v1"
        assert sha256(result.vectors[i]) == expected["vectors_sha256"], f"matrix {i}: vectors"
        assert int(result.sweeps_run[i]) == expected["sweeps_run"], f"matrix {i}: sweeps"
        assert fingerprints[i].hex() == expected["fingerprint"], f"matrix {i}: fingerprint"
        assert sha256(coefficients[i]) == expected["dct_sha256"], f"matrix {i}: fingerprint's DCT"
