"""Export Amaranth designs to Verilog files that simulator builds can cache on.

The file is rewritten only when its text changes, so its modification time moves only
with the design: Icarus (mtime check in the cocotb runner) and Verilator (its own
``--skip-identical`` check plus make) then skip rebuilding an unchanged design.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Elaboratable


def export(design: Elaboratable | Callable[[], Elaboratable], name: str,
           build_dir: str | os.PathLike, *, platform=None, extra: str = "") -> Path:
    """Write ``design`` as Verilog module ``name`` to ``build_dir/name.v`` and return the path.

    ``design`` is a ``wiring.Component`` (ports come from its signature) or a
    zero-argument factory returning one. An existing file with identical text is left
    untouched; a changed one is replaced atomically, so a concurrent reader (another
    pytest-xdist worker) never sees a half-written file. ``platform`` is passed to
    ``elaborate`` (default ``None``); ``extra`` Verilog is appended (simulation models
    of the primitives a platform's design instantiates).
    """
    component = design if isinstance(design, Elaboratable) else design()
    if not isinstance(component, Elaboratable):
        raise TypeError(f"export: expected an Amaranth component or a factory of one, got {component!r}")
    text = verilog.convert(component, name=name, platform=platform) + extra
    return write_if_changed(Path(build_dir) / f"{name}.v", text)


def write_if_changed(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` unless it already holds exactly that text (mtime kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text() == text:
            return path
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
