"""The whole top's figures quoted in docs/axi-top.md are those of the recorded report
(docs/hw-report-xc7z020.json: ``rosvd hw report --target xc7z020 --json``, n=32)."""
from __future__ import annotations

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Table row label (its start) -> where the report holds that row's figures.
ROWS = {"whole top": None, "engine": "engine", "entropy source": "entropy",
        "bus and registers": "bus_and_registers", "DNA reader": "dna", "stream adapters": "stream_adapters"}
COLUMNS = ("LUT", "FF", "DSP", "BRAM", "LUTRAM")


def _number(cell: str) -> float:
    return float(re.match(r"\s*([\d,.]+)", cell)[1].replace(",", ""))


def test_the_docs_table_is_the_recorded_report():
    report = json.loads((DOCS / "hw-report-xc7z020.json").read_text())
    text = (DOCS / "axi-top.md").read_text()
    assert (report["target"], report["design"], report["params"]["n"]) == ("xc7z020", "top", 32)
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        label = next((row for row in ROWS if cells[0].startswith(row)), None)
        if label is not None and len(cells) == 1 + len(COLUMNS):
            found[label] = dict(zip(COLUMNS, map(_number, cells[1:]), strict=True))
    assert sorted(found) == sorted(ROWS)
    for label, key in ROWS.items():
        figures = report if key is None else report["components"][key]
        assert found[label] == {column: figures[column] for column in COLUMNS}, label
    assert found["engine"] == {column: report["engine"][column] for column in COLUMNS}
    assert f"**{report['fmax_mhz_ecp5_standin']} MHz** at seed {report['fmax_seed']}" in text
    assert f"critical path ({report['timing']['critical_path']['ns']} ns)" in text
    assert f"{report['timing']['port_bits']} port bits" in text
    assert report["primitives"]["found"] == {"DNA_PORT": 1, "ring_oscillator_lut1": 24}
