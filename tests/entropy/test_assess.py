"""Capture reading, validation, the JSON result and the SP 800-22 subset."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rosvd.entropy import assess, sp800_22


def bits_from(text: str) -> np.ndarray:
    return np.array([int(c) for c in text], dtype=np.uint8)


def fair(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n, dtype=np.uint8)


# --- SP 800-22 against the worked examples of its section 2 -------------------------------

@pytest.mark.parametrize("fn, text, kwargs, key, expected", [
    (sp800_22.frequency, "1011010101", {}, "p_value", 0.527089),                      # 2.1.8
    (sp800_22.block_frequency, "0110011010", {"block": 3}, "p_value", 0.801252),      # 2.2.8
    (sp800_22.runs, "1001101011", {}, "p_value", 0.147232),                           # 2.3.8
    (sp800_22.cumulative_sums, "1011010111", {}, "p_forward", 0.4116588),             # 2.13.8
    (sp800_22.approximate_entropy, "0100110101", {"m": 3}, "p_value", 0.261961),      # 2.12.8
    (sp800_22.serial, "0011011101", {"m": 3}, "p_value_1", 0.808792),                 # 2.11.8
    (sp800_22.serial, "0011011101", {"m": 3}, "p_value_2", 0.670320),                 # 2.11.8
])
def test_sp800_22_worked_examples(fn, text, kwargs, key, expected):
    assert fn(bits_from(text), **kwargs)[key] == pytest.approx(expected, abs=2e-6)


def test_longest_run_example_sequence():
    # 2.4.8: the 128-bit example gives nu = (4, 9, 3, 0) and chi^2 = 4.882605 (M = 8, N = 16);
    # p = igamc(3/2, chi^2/2) = 0.180598.
    text = ("11001100000101010110110001001100111000000000001001"
            "00110101010001000100111101011010000000110101111100"
            "1100111001101101100010110010")
    r = sp800_22.longest_run(bits_from(text))
    assert (r["M"], r["N"]) == (8, 16)
    assert r["nu"] == [4, 9, 3, 0]
    assert r["chi2"] == pytest.approx(4.882605, abs=1e-6)
    assert r["p_value"] == pytest.approx(0.180598, abs=1e-6)


@pytest.mark.parametrize("block, bounds, table", [
    (8, (1, 2, 3, 4), (0.2148, 0.3672, 0.2305, 0.1875)),
    (128, tuple(range(4, 10)), (0.1174, 0.2430, 0.2493, 0.1752, 0.1027, 0.1124)),
])
def test_longest_run_table_matches_exact_probabilities(block, bounds, table):
    assert sp800_22.longest_run_class_probabilities(block, bounds) == pytest.approx(table, abs=1e-4)


def test_sp800_22_pass_on_good_data_and_fail_on_bad():
    good = sp800_22.run_all(fair(1_000_000))
    assert all(t["passed"] for t in good.values()), {k: t["p_value"] for k, t in good.items()}
    biased = sp800_22.run_all((np.random.default_rng(1).random(1_000_000) < 0.51).astype(np.uint8))
    # A 1 % bias is a frequency defect: serial and approximate entropy compare pattern counts
    # of consecutive lengths and largely cancel it, so they are not expected to fail here.
    for name in ("frequency", "block_frequency", "runs", "cumulative_sums"):
        assert not biased[name]["passed"], name
    periodic = sp800_22.run_all(np.tile(bits_from("01101001110"), 100_000))
    failing = [k for k, t in periodic.items() if not t["passed"]]
    assert {"runs", "longest_run", "approximate_entropy", "serial"} <= set(failing), failing


def test_runs_prerequisite_fails_a_biased_sequence():
    r = sp800_22.runs(np.ones(1000, dtype=np.uint8))
    assert r["p_value"] == 0.0 and not r["passed"]


# --- reading captures ----------------------------------------------------------------------

def test_unpacked_binary_capture(tmp_path):
    s = fair(20_000)
    f = tmp_path / "cap.bin"
    f.write_bytes(s.tobytes())
    samples, bits = assess.read_capture(f)
    assert bits == 1 and np.array_equal(samples, s)


def test_packed_capture_is_msb_first(tmp_path):
    f = tmp_path / "cap.packed"
    f.write_bytes(bytes([0b10000001, 0b01000000]))
    samples, bits = assess.read_capture(f, packed=True)
    assert bits == 1
    assert samples.tolist() == [1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]


def test_packed_and_unpacked_assess_the_same(tmp_path):
    s = fair(40_000, seed=3)
    (tmp_path / "u.bin").write_bytes(s.tobytes())
    (tmp_path / "p.bin").write_bytes(np.packbits(s).tobytes())
    a = assess.assess_file(tmp_path / "u.bin")
    b = assess.assess_file(tmp_path / "p.bin", packed=True)
    assert a["min_entropy_per_sample"] == b["min_entropy_per_sample"]
    assert a["sp800_22"] == b["sp800_22"]


def test_empty_capture_is_refused(tmp_path):
    f = tmp_path / "empty.bin"
    f.write_bytes(b"")
    with pytest.raises(assess.EmptyCaptureError, match="empty"):
        assess.read_capture(f)


def test_ascii_digits_are_refused_with_a_hint(tmp_path):
    f = tmp_path / "ascii.bin"
    f.write_bytes(b"0110" * 5000)
    with pytest.raises(assess.SampleValueError, match=r"sample 0 is 48.*ASCII"):
        assess.read_capture(f)


def test_byte_above_declared_width_is_refused(tmp_path):
    f = tmp_path / "wide.bin"
    f.write_bytes(bytes([0, 1, 2, 3, 4]))
    with pytest.raises(assess.SampleValueError, match=r"sample 4 is 4, outside 0..3 for 2-bit"):
        assess.read_capture(f, bits=2)


def test_too_few_samples_are_refused(tmp_path):
    f = tmp_path / "short.bin"
    f.write_bytes(fair(500).tobytes())
    with pytest.raises(assess.TooFewSamplesError, match="500 samples"):
        assess.assess_file(f)


@pytest.mark.parametrize("bits", [0, 9])
def test_bad_width_is_refused(bits):
    with pytest.raises(assess.CaptureError, match="bits per sample"):
        assess.assess_samples(fair(20_000), bits)


def test_packed_with_wider_samples_is_refused(tmp_path):
    f = tmp_path / "p.bin"
    f.write_bytes(b"\x00")
    with pytest.raises(assess.CaptureError, match="packed capture is binary"):
        assess.read_capture(f, packed=True, bits=4)


# --- the result and the command line --------------------------------------------------------

def test_result_is_json_and_consistent(tmp_path):
    s = fair(200_000, seed=9)
    r = assess.assess_samples(s, 1)
    json.dumps(r)  # JSON-able, no numpy scalars
    assert r["samples"] == 200_000 and r["bits_per_sample"] == 1
    ests = r["sp800_90b"]["original"]["estimators"]
    assert set(ests) == {"mcv", "collision", "markov", "compression", "t_tuple", "lrs",
                         "multi_mcw", "lag", "multi_mmc", "lz78y"}
    assert r["sp800_90b"]["bitstring"] is None and r["sp800_90b"]["not_implemented"] == []
    assert r["min_entropy_per_sample"] == min(e["min_entropy"] for e in ests.values())
    assert r["limiting_track"] == "original"
    assert ests[r["limiting_estimator"]]["min_entropy"] == r["min_entropy_per_sample"]
    assert 0.75 < r["min_entropy_per_sample"] <= 1.0
    assert r["sp800_22"]["all_passed"] is True
    assert any("1000000" in w for w in r["warnings"])


def test_biased_capture_gets_its_entropy_and_fails_sp800_22():
    s = (np.random.default_rng(4).random(200_000) < 0.75).astype(np.uint8)
    r = assess.assess_samples(s, 1)
    assert r["min_entropy_per_sample"] <= -math.log2(0.75) + 0.005
    assert r["sp800_22"]["all_passed"] is False


def test_main_json(tmp_path, capsys):
    f = tmp_path / "cap.bin"
    f.write_bytes(fair(50_000).tobytes())
    assert assess.main([str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["file"] == str(f) and out["samples"] == 50_000


def test_main_reports_bad_capture(tmp_path, capsys):
    f = tmp_path / "empty.bin"
    f.write_bytes(b"")
    assert assess.main([str(f), "--json"]) == 2
    assert "empty capture" in capsys.readouterr().err
