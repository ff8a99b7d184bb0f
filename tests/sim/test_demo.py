"""`make demo` end to end (RTL device on Verilator): every check it prints must pass."""
import io
import re

import pytest

from rosvd.demo import run_demo


@pytest.mark.heavy
def test_demo_passes(tmp_path):
    out = io.StringIO()
    assert run_demo(out=out, home=tmp_path / "home") == 0, out.getvalue()
    text = out.getvalue()
    compared = re.search(r"\[ok\] RTL results equal the specification model .*: (\d+) of (\d+) compared",
                         text)
    assert compared and compared[1] == compared[2] and int(compared[2]) >= 4, text
    assert "FAILED" not in text and text.rstrip().endswith("demo passed")
