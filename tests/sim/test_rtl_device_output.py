"""A command on an RTL-device home prints its results alone on stdout: the simulator's build
and run logs go to files, its progress lines to stderr."""
import json

import numpy as np
import pytest
from PIL import Image

from rosvd.cli import main


@pytest.mark.slow  # 20 s; tests/sim/test_stream_infra.py checks stdout of every simulator run
def test_certify_json_on_an_rtl_home_is_valid_json(tmp_path, capfd):
    home = str(tmp_path / "home")
    assert main(["enroll", "--home", home, "--dev", "--device", "rtl"]) == 0
    capfd.readouterr()
    image = tmp_path / "generated.png"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(image)
    assert main(["certify", "--home", home, "--json", "--quiet", str(image)]) == 0
    out, err = capfd.readouterr()  # fd-level: the simulator subprocesses' output too
    (certificate,) = json.loads(out)["certificates"]
    assert certificate["name"] == str(image) and certificate["fingerprint"] != "00" * 32
    assert "[rosvd.sim]" in err  # its progress went where progress goes
