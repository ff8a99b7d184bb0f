"""`make demo` end to end (the API on the RTL device on Verilator, a devnet): every check it
prints must pass, and the figures it prints must say what was checked."""
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
    verified = re.search(r"\[ok\] its bundle verified here: (\d+) of (\d+) checks passed", text)
    assert verified and verified[1] == verified[2] and int(verified[2]) >= 18, text
    assert "[ok] no certificate matches it" in text and "[ok] server stopped" in text
    assert "FAILED" not in text and text.rstrip().endswith("demo passed")
