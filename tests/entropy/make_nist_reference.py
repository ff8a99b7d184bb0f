"""Regenerate tests/entropy/nist_reference.json from NIST's own SP 800-90B code.

Not a test (pytest does not collect it). Needs the PyPI package ``sp800-90b`` (0.1.1, a
pybind11 wrapper of NIST's ``ea_non_iid`` sources), which builds with Debian's
libdivsufsort-dev, libjsoncpp-dev and libmpfr-dev; keep it out of the project's venv::

    apt-get install -y libdivsufsort-dev libjsoncpp-dev libmpfr-dev
    python3 -m venv /tmp/nist90b && /tmp/nist90b/bin/pip install sp800-90b numpy
    PYTHONPATH=tests/entropy /tmp/nist90b/bin/python tests/entropy/make_nist_reference.py [NAME ...]

With capture names, only those are (re)computed and merged into the existing file.

Each capture of captures.py is assessed on its samples ("literal") and
on its bitstring (samples wider than a bit expanded to bits, MSB first), one estimator at a time, as
NIST's ``Data.h_min_all`` and ``h_bitstring_min_all`` call them. A value of -1 is NIST's
"could not run" (e.g. LRS when v < u). NIST's code takes ~13 minutes over all captures (11 of
them on byte_repeated_block: its MultiMMC and LZ78Y dictionaries are std::maps).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import sp800_90b
from captures import CAPTURES, capture, sha256


def literal(d) -> dict:
    out = {"mcv": d.h_most_common()}
    if d.is_binary:
        out |= {"collision": d.h_collision(), "markov": d.h_markov(), "compression": d.h_compression()}
    out["t_tuple"], out["lrs"] = d.h_t_tuple_and_lrs()
    out |= {"multi_mcw": d.h_multi_most_common(), "lag": d.h_lag_prediction(),
            "multi_mmc": d.h_multi_markov(), "lz78y": d.h_lz78y()}
    return out


def bitstring(d) -> dict:
    out = {"mcv": d.h_bitstring_most_common(), "collision": d.h_bitstring_collision(),
           "markov": d.h_bitstring_markov(), "compression": d.h_bitstring_compression()}
    out["t_tuple"], out["lrs"] = d.h_bitstring_t_tuple_and_lrs()
    out |= {"multi_mcw": d.h_bitstring_multi_most_common(), "lag": d.h_bitstring_lag_prediction(),
            "multi_mmc": d.h_bitstring_multi_markov(), "lz78y": d.h_bitstring_lz78y()}
    return out


def main(names: list[str]) -> int:
    out = Path(__file__).with_name("nist_reference.json")
    if names:
        result = json.loads(out.read_text())
    else:
        result = {"generator": "sp800-90b 0.1.1 (NIST ea_non_iid sources) via make_nist_reference.py",
                  "captures": {}}
        names = list(CAPTURES)
    for name in names:
        s, bits = capture(name)
        d = sp800_90b.Data(s.tobytes(), bits)
        t0 = time.perf_counter()
        entry = {"bits": bits, "samples": int(s.size), "sha256": sha256(s),
                 "literal": literal(d), "h_original": d.h_min_all()}
        if bits > 1:
            entry["bitstring"] = bitstring(d)
            entry["h_bitstring"] = d.h_bitstring_min_all()
        entry["h_initial"] = d.h_initial()  # NIST skips the bitstring when there are two values
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        result["captures"][name] = entry
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main(sys.argv[1:]))
