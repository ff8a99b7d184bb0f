"""Accuracy of the fixed-point engine (its bit-exact model) against LAPACK's SVD."""
from __future__ import annotations

import numpy as np

from rosvd.hw.svd.model import decompose, to_float
from rosvd.hw.svd.params import SVDParams


def separated_spectrum(params: SVDParams, count: int, seed: int, ratio: float = 0.75) -> np.ndarray:
    """Matrices ``U diag(ratio**i) V^T`` scaled to full range: well-separated singular
    values, so the singular vectors are well defined and their angle error meaningful."""
    rng = np.random.default_rng(seed)
    n = params.n
    out = np.empty((count, n, n), dtype=np.int64)
    for i in range(count):
        u, _ = np.linalg.qr(rng.standard_normal((n, n)))
        v, _ = np.linalg.qr(rng.standard_normal((n, n)))
        x = (u * ratio ** np.arange(n)) @ v.T
        out[i] = np.round(x / np.abs(x).max() * params.input_max)
    return out


def accuracy(params: SVDParams, matrices: np.ndarray) -> dict:
    """Error figures of the model on ``matrices`` (B, n, n) against ``numpy.linalg.svd``.

    ``max_rel_err_sigma``: max over matrices and all singular values of
    ``|sigma - sigma_ref| / sigma_ref_max`` (norm-wise: fixed point resolves every value to
    the same absolute precision, so small singular values carry larger relative error).
    ``max_rel_err_sigma_topk``: max of ``|sigma - sigma_ref| / sigma_ref`` over the top k.
    ``max_angle_rad_topk``: largest angle between a returned vector and LAPACK's, after
    sign normalisation (vectors are defined up to sign).
    """
    result = decompose(params, matrices)
    sigma, vectors = to_float(params, result)
    _, ref_sigma, ref_vt = np.linalg.svd(matrices.astype(np.float64))
    scale = np.maximum(ref_sigma[:, :1], np.finfo(float).tiny)
    normwise = np.abs(sigma - ref_sigma) / scale
    k = params.k
    top = np.abs(sigma[:, :k] - ref_sigma[:, :k]) / np.maximum(ref_sigma[:, :k], np.finfo(float).tiny)
    cosines = np.abs(np.einsum("bkn,bkn->bk", vectors, ref_vt[:, :k, :]))
    cosines /= np.maximum(np.linalg.norm(vectors, axis=2), np.finfo(float).tiny)
    angles = np.arccos(np.clip(cosines, 0.0, 1.0))
    return {
        "matrices": int(matrices.shape[0]),
        "max_rel_err_sigma": float(normwise.max()),
        "max_rel_err_sigma_topk": float(top.max()),
        "max_angle_rad_topk": float(angles.max()),
        "median_angle_rad_topk": float(np.median(angles)),
        "sweeps_run_max": int(result.sweeps_run.max()),
    }
