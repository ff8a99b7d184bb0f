"""SP 800-90B 3.1.4 restart tests, and the ``rosvd entropy`` commands with ``--bits``."""
from __future__ import annotations

import json
from fractions import Fraction
from math import comb

import numpy as np
import pytest

from rosvd.cli import main
from rosvd.entropy import restart
from rosvd.entropy.assess import CaptureError


def exact_cutoff(h_initial_p: Fraction, n: int, alpha: Fraction) -> int:
    """Smallest U with P(X > U) <= alpha, X ~ Binomial(n, p), summed in exact rationals."""
    p = h_initial_p
    tail = Fraction(0)
    for u in range(n, -1, -1):  # tail = P(X > u) before adding P(X = u)
        if tail > alpha:
            return u + 1
        tail += comb(n, u) * p ** u * (1 - p) ** (n - u)
    return 0


@pytest.mark.parametrize("h, p", [(1.0, Fraction(1, 2)), (2.0, Fraction(1, 4)), (8.0, Fraction(1, 256))])
def test_sanity_cutoff_is_the_binomial_quantile(h, p):
    alpha = Fraction(1, 100) / 2000
    assert restart.sanity_cutoff(h) == exact_cutoff(p, 1000, alpha)


def test_sanity_cutoff_magnitude():
    # p = 1/2: mean 500, sd 15.8; alpha = 5e-6 is ~4.4 sd, so U is near 570.
    assert 560 < restart.sanity_cutoff(1.0) < 580
    assert restart.ALPHA == pytest.approx(5e-6)


def fair_matrix(seed: int, bits: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << bits, (1000, 1000), dtype=np.uint8)


def test_independent_restarts_pass():
    r = restart.restart_test(fair_matrix(1), bits=1, h_initial=0.9)
    assert r["sanity_check"]["passed"] and r["validation"]["passed"] and r["passed"]
    assert 0.8 < r["h_r"] <= 1.0 and 0.8 < r["h_c"] <= 1.0
    assert r["min_entropy_per_sample"] == min(0.9, r["h_r"], r["h_c"])
    assert r["rows"]["estimators"]["lz78y"]["params"]["N"] == 1_000_000 - 17
    json.dumps(r)


def test_restarts_that_replay_the_same_samples_fail_the_sanity_check():
    """Every restart emits the same 1000 samples: each column is one value 1000 times."""
    m = np.tile(fair_matrix(2)[0], (1000, 1))
    r = restart.restart_test(m, bits=1, h_initial=0.9)
    assert not r["sanity_check"]["passed"] and not r["passed"]
    assert r["sanity_check"]["max_count_columns"] == 1000
    assert "column" in r["failure"] and r["h_r"] is None


def test_a_shared_start_up_transient_fails_the_sanity_check():
    """The first 50 samples after every restart are the same; the rest are fresh."""
    m = fair_matrix(3)
    m[:, :50] = m[0, :50]
    r = restart.restart_test(m, bits=1, h_initial=0.95)
    assert not r["passed"] and r["sanity_check"]["max_count_columns"] == 1000


def test_the_cutoff_is_applied_at_its_boundary():
    """Fair bits but one restart with exactly U ones passes; U + 1 fails (U = 570 for H_I = 1:
    at alpha = 0.01/1000 it would be 567, at 0.01/4000 573)."""
    m = fair_matrix(10)
    u = restart.sanity_cutoff(1.0)
    assert u == 570
    for ones, passed in ((u, True), (u + 1, False)):
        m[0] = 0
        m[0, :ones] = 1
        s = restart.sanity_check(m, 1.0)
        assert s["max_count_rows"] == ones and s["passed"] is passed
        assert s["alpha"] == pytest.approx(0.01 / 2000)


def test_predictable_restarts_fail_validation_not_sanity():
    """Rows and columns alternate 0 1 0 1 ... with 20 % of samples flipped: every value count
    stays near 500, within the cutoff, but the predictors get ~80 % right on both datasets,
    so H_r and H_c (~0.21) fall below H_I / 2 = 0.5."""
    i, j = np.indices((1000, 1000))
    flips = np.random.default_rng(9).random((1000, 1000)) < 0.2
    r = restart.restart_test(((i + j + flips) % 2).astype(np.uint8), bits=1, h_initial=1.0)
    assert r["sanity_check"]["passed"]
    assert not r["validation"]["passed"] and not r["passed"] and r["min_entropy_per_sample"] is None
    assert 0.15 < min(r["h_r"], r["h_c"]) < 0.35
    assert "H_I / 2" in r["failure"]


def test_wide_samples_and_a_claim_the_restarts_do_not_support():
    """4-bit fair samples (H = 4): a claim of 4 passes, but a cutoff from H_I is tight enough
    that a source with one value at 1/4 fails the sanity check for a claim of 3.5."""
    good = fair_matrix(4, bits=4)
    r = restart.restart_test(good, bits=4, h_initial=3.5)
    assert r["passed"] and 3.5 < r["h_r"] <= 4.0
    skewed = good.copy()
    skewed[np.random.default_rng(5).random(good.shape) < 0.2] = 7  # value 7 at ~0.25
    r = restart.restart_test(skewed, bits=4, h_initial=3.5)
    assert not r["sanity_check"]["passed"]


def test_h_initial_defaults_to_the_row_assessment():
    m = fair_matrix(6)
    r = restart.restart_test(m, bits=1)
    assert r["h_initial_source"].startswith("3.1.3") and 0.8 < r["h_initial"] <= 1.0


@pytest.mark.parametrize("h, bits, message", [(1.5, 1, "between 0 and"), (-0.1, 2, "between 0 and")])
def test_bad_h_initial_is_refused(h, bits, message):
    with pytest.raises(CaptureError, match=message):
        restart.restart_test(np.zeros((4, 4), dtype=np.uint8) + 1, bits, h)


# ---- the commands --------------------------------------------------------------------------

def run(capfd, *argv):
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


def test_restart_command(tmp_path, capfd):
    f = tmp_path / "restarts.bin"
    fair_matrix(7).tofile(f)
    code, out, _ = run(capfd, "entropy", "restart", str(f), "--bits", "1", "--h-initial", "0.9", "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["file"] == str(f)
    np.tile(fair_matrix(7)[0], (1000, 1)).tofile(f)
    code, out, _ = run(capfd, "entropy", "restart", str(f), "--bits", "1", "--h-initial", "0.9", "--json")
    assert code == 1 and not json.loads(out)["passed"]
    f.write_bytes(bytes(1000))
    code, _, err = run(capfd, "entropy", "restart", str(f), "--bits", "1")
    assert code == 2 and "1000 restarts x 1000 samples" in err


def test_restart_command_needs_bits(tmp_path, capfd):
    with pytest.raises(SystemExit) as exit_:
        main(["entropy", "restart", str(tmp_path / "x.bin")])
    assert exit_.value.code == 2 and "--bits" in capfd.readouterr().err


def test_assess_command_with_bits(tmp_path, capfd):
    f = tmp_path / "nibbles.bin"
    np.random.default_rng(8).integers(0, 16, 20_000, dtype=np.uint8).tofile(f)
    code, out, _ = run(capfd, "entropy", "assess", str(f), "--bits", "4", "--json")
    report = json.loads(out)
    assert code == 0 and report["bits_per_sample"] == 4
    assert report["sp800_90b"]["bitstring"]["samples"] == 80_000
    assert 3.0 < report["min_entropy_per_sample"] <= 4.0
    code, _, err = run(capfd, "entropy", "assess", str(f))  # default 1 bit: bytes above 1 refused
    assert code == 2 and "outside 0..1" in err
    code, _, err = run(capfd, "entropy", "assess", str(f), "--packed", "--bits", "4")
    assert code == 2 and "packed capture is binary" in err


@pytest.mark.parametrize("value", ["0", "9", "four", "-1", "2.5"])
@pytest.mark.parametrize("command", ["assess", "restart"])
def test_bad_bits_are_refused_with_exit_2(tmp_path, capfd, command, value):
    with pytest.raises(SystemExit) as exit_:
        main(["entropy", command, str(tmp_path / "x.bin"), "--bits", value])
    err = capfd.readouterr().err
    assert exit_.value.code == 2
    assert "bits per sample must be an integer 1..8" in err and repr(value) in err


def test_assess_help_describes_bits(capfd):
    with pytest.raises(SystemExit):
        main(["entropy", "assess", "--help"])
    out = " ".join(capfd.readouterr().out.split())
    assert "--bits 1..8" in out and "bitstring" in out
