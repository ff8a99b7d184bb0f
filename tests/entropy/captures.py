"""Seeded captures shared by the NIST reference values (nist_reference.json) and the tests.

Only numpy: the reference generator runs in a scratch venv that has NIST's code and not
rosvd. Each capture is rebuilt from its seed; the reference file keeps the SHA-256 of the
bytes, so a numpy that draws differently is caught rather than compared against.
"""
from __future__ import annotations

import hashlib

import numpy as np


def _markov_bits(rng, n: int, stay: float) -> np.ndarray:
    flips = rng.random(n) >= stay
    return (np.cumsum(flips) & 1).astype(np.uint8)


def _categorical(rng, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(w.size, size=n, p=w / w.sum()).astype(np.uint8)


def _de_bruijn_bits(order: int) -> np.ndarray:
    """The binary de Bruijn sequence of the order (every order-bit window once per period):
    the Lyndon words whose length divides the order, in lexicographic order (Duval's loop)."""
    word = [0] * (order + 1)  # word[1..order]: the current Lyndon word of length `length`, repeated
    out: list[int] = []
    length = 1
    while True:
        if order % length == 0:
            out.extend(word[1: length + 1])
        j = order
        while j > 0 and word[j] == 1:
            j -= 1
        if j == 0:
            return np.array(out, dtype=np.uint8)
        word[j] += 1
        for m in range(j + 1, order + 1):
            word[m] = word[m - j]
        length = j


def _build(name: str) -> np.ndarray:
    kind, bits, n, seed = CAPTURES[name]
    rng = np.random.default_rng(seed)
    if kind == "bernoulli_0.5":
        return (rng.random(n) < 0.5).astype(np.uint8)
    if kind == "bernoulli_0.7":
        return (rng.random(n) < 0.7).astype(np.uint8)
    if kind == "markov_stay_0.8":
        return _markov_bits(rng, n, 0.8)
    if kind == "nibble_skewed":
        return _categorical(rng, n, [8, 1, 1, 2, 1, 1, 1, 3, 1, 1, 1, 1, 4, 1, 1, 1])
    if kind == "byte_binomial":
        return rng.binomial(255, 0.5, n).astype(np.uint8)
    if kind == "byte_random_walk":
        return (np.cumsum(rng.integers(-3, 4, n)) % 256).astype(np.uint8)
    if kind == "byte_three_values":
        return np.array([3, 77, 200], dtype=np.uint8)[_categorical(rng, n, [5, 3, 2])]
    if kind == "periodic_11_noisy":
        pattern = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0], dtype=np.uint8)
        s = np.tile(pattern, n // pattern.size + 1)[:n]
        return s ^ (rng.random(n) < 0.01).astype(np.uint8)
    if kind == "byte_two_values":  # 8-bit samples of two values: binary estimators on the samples
        return np.where(rng.random(n) < 0.6, 0x0F, 0xF0).astype(np.uint8)
    if kind == "de_bruijn_16_x3":  # an order-16 context fixes the next bit; order 15 does not
        return np.tile(_de_bruijn_bits(16), 3)
    if kind == "byte_block_x3":  # 40,000 random bytes three times: fills LZ78Y's dictionary
        return np.tile(rng.integers(0, 256, 40_000).astype(np.uint8), 3)
    raise KeyError(name)


#: name -> (kind, bits per sample, samples, seed)
CAPTURES = {
    "binary_fair": ("bernoulli_0.5", 1, 100_000, 101),
    "binary_biased": ("bernoulli_0.7", 1, 100_000, 102),
    "binary_markov": ("markov_stay_0.8", 1, 100_000, 103),
    "binary_periodic": ("periodic_11_noisy", 1, 50_000, 104),
    "nibble_skewed": ("nibble_skewed", 4, 50_000, 105),
    "byte_binomial": ("byte_binomial", 8, 50_000, 106),
    "byte_random_walk": ("byte_random_walk", 8, 50_000, 107),
    "byte_three_values": ("byte_three_values", 8, 50_000, 108),
    # where the dictionary bounds and depths of MultiMMC and LZ78Y change the result
    "binary_de_bruijn": ("de_bruijn_16_x3", 1, 3 * 65_536, 109),  # (seed unused)
    "byte_repeated_block": ("byte_block_x3", 8, 120_000, 110),
    "byte_random_walk_114": ("byte_random_walk", 8, 50_000, 114),  # LZ78Y's 65,536 bound matters
    "byte_two_values": ("byte_two_values", 8, 50_000, 111),
}


def capture(name: str) -> tuple[np.ndarray, int]:
    """The samples (uint8, one per byte) and their width in bits."""
    return _build(name), CAPTURES[name][1]


def sha256(samples: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.uint8).tobytes()).hexdigest()
