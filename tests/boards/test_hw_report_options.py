"""`rosvd hw report` passes its Fmax options to the ECP5 run and records them (synthesis
itself is replaced here: the real runs take minutes and are covered in test_synth.py)."""
from __future__ import annotations

import json

from rosvd.bench import hw_report
from rosvd.boards import synth
from rosvd.cli import main


def fake_tools(monkeypatch, calls):
    def resources(verilog, top, target):
        return {"target": target, "board": "PYNQ-Z2", "part": "xc7z020", "LUT": 1, "FF": 2, "DSP": 3,
                "BRAM": 0, "LUTRAM": {"lut": 0}, "utilisation_pct": {}, "fits": True}

    def fmax(verilog, top, **options):
        calls.append(options)
        return {"fmax_mhz": 123.45}

    monkeypatch.setattr(synth, "xilinx_resources", resources)
    monkeypatch.setattr(synth, "ecp5_fmax", fmax)
    monkeypatch.setattr(hw_report, "engine_verilog", lambda params, platform=None: "engine.v")


def test_seed_and_io_reach_the_fmax_run_and_the_json(monkeypatch, capfd):
    calls = []
    fake_tools(monkeypatch, calls)
    main(["hw", "report", "--n", "8", "--fmax-seed", "7", "--fmax-io", "pins", "--json"])
    report = json.loads(capfd.readouterr().out)
    assert calls == [{"io": "pins", "seed": 7}]
    assert (report["fmax_seed"], report["fmax_io"], report["fmax_mhz_ecp5_standin"]) == (7, "pins", 123.45)
    assert "seed 7" in report["fmax_source"]
    # The stand-in's figure is named for what it is; no Xilinx figure without Vivado.
    assert "fmax_mhz_estimate" not in report and report["fmax_mhz_xilinx"] is None


def test_default_seed_is_the_documented_one(monkeypatch, capfd):
    calls = []
    fake_tools(monkeypatch, calls)
    main(["hw", "report", "--n", "8", "--json"])
    report = json.loads(capfd.readouterr().out)
    assert calls == [{"io": hw_report.FMAX_IO, "seed": hw_report.FMAX_SEED}]
    assert report["fmax_seed"] == hw_report.FMAX_SEED == 1
