"""`rosvd sim waves`: one decomposition, one FST file, its path alone on stdout, and the run
checked against the model."""
import json
from pathlib import Path

import pytest

from rosvd.cli import main
from rosvd.sim import waves

SMALL = ["--n", "8", "--units", "4"]
#: An FST file opens with its header block: block type 0 (FST_BL_HDR), then a length.
FST_HEADER_BLOCK = 0


def test_one_decomposition_writes_one_fst_and_prints_its_path(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sim", "waves", *SMALL]) == 0
    out, err = capfd.readouterr()
    path = Path(out.strip())
    assert out == f"{path}\n" and path == tmp_path / "rosvd_svd-n8-u4-icarus.fst"
    data = path.read_bytes()
    assert data[0] == FST_HEADER_BLOCK and len(data) > 10_000
    assert list(tmp_path.iterdir()) == [path]      # one file, nothing else left here
    assert "building" in err or "icarus rosvd_svd" in err


def fake_run(words):
    """A stand-in for the simulator run: leaves a waveform and the given output words."""
    def run_svd(simulator, params, module, testcase, *, waves, ROSVD_REPLAY_IN, ROSVD_REPLAY_OUT):
        assert waves is True and testcase == "svd_replay"
        run_dir = Path(ROSVD_REPLAY_OUT).parent / "run"
        run_dir.mkdir()
        waves_path_ = run_dir / "rosvd_svd.fst"
        waves_path_.write_bytes(b"\0fst")
        Path(ROSVD_REPLAY_OUT).write_text(json.dumps([{"words": words, "cycles": 123, "sweeps_run": 2}]))
        return run_dir / "results.xml"
    return run_svd


def test_json_reports_the_run_and_a_wrong_rtl_fails(tmp_path, capfd, monkeypatch):
    params = waves.SVDParams(n=8, units=4)
    right = waves.model_words(params, waves.random_matrices(params, 1, 3)[0])
    target = tmp_path / "sub" / "engine"
    monkeypatch.setattr(waves, "run_svd", fake_run(right))
    assert main(["sim", "waves", *SMALL, "--seed", "3", "-o", str(target), "--json"]) == 0
    record = json.loads(capfd.readouterr().out)
    assert record["waves"] == str(target.with_suffix(".fst")) and record["format"] == "fst"
    assert record["matches_model"] is True and record["cycles"] == 123 and record["params"]["n"] == 8
    # The command compares the traced run with the model; a disagreement is an error.
    monkeypatch.setattr(waves, "run_svd", fake_run([w + (i == 5) for i, w in enumerate(right)]))
    assert main(["sim", "waves", *SMALL, "--seed", "3", "-o", str(target) + ".fst"]) == 1
    assert "differs from the model's from word 5" in capfd.readouterr().err


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "waves", "--simulator", "ghdl"])
    assert exit_info.value.code == 2
