"""`make demo` end to end (RTL device on Verilator): every check it prints must pass."""
import io

import pytest

from rosvd.demo import run_demo


@pytest.mark.heavy
def test_demo_passes(tmp_path):
    out = io.StringIO()
    assert run_demo(out=out, home=tmp_path / "home") == 0, out.getvalue()
    text = out.getvalue()
    assert "RTL output equals the bit-exact model: True" in text
    assert "FAILED" not in text and text.rstrip().endswith("demo passed")
