"""Where simulator builds live: one fixed place, whatever directory a command runs in.

``$ROSVD_SIM_BUILD`` if set; else the source checkout's ``build/sim`` (shared by the tests,
the demo and ``make clean``); else, for an installed package, ``$XDG_CACHE_HOME/rosvd/sim``
(default ``~/.cache/rosvd/sim``). Builds below it are keyed by their parameters, so one
build serves every later run with the same ones.
"""
from __future__ import annotations

import os
from pathlib import Path

BUILD_ENV = "ROSVD_SIM_BUILD"
#: The checkout this package runs from, when it is one (editable install, tests).
CHECKOUT = Path(__file__).resolve().parents[1]


def build_root() -> Path:
    if os.environ.get(BUILD_ENV):
        return Path(os.environ[BUILD_ENV]).expanduser().resolve()
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "sim" / "build_root.py").is_file():
        return CHECKOUT / "build" / "sim"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rosvd" / "sim"
