"""A Tcl interpreter (Python's tkinter, Tcl 8.6) in which Vivado's commands are stubs that
record their calls, so a generated script or XDC is parsed and run by real Tcl and the
test reads what it asked Vivado to do.

``get_cells -hierarchical -filter {...}`` answers from the cells of the generated Verilog
(:func:`rosvd.boards.checks.filter_cells`, under the block design's path) when ``cells``
are given, so the script's own post-synthesis checks run against the RTL's names.
Everything else returns a handle naming its arguments; ``get_property PROGRESS`` says
``100%``; ``get_sites`` finds every site but ``missing_sites``. ``file copy`` and
``file mkdir`` are recorded, not done.
"""
from __future__ import annotations

import pytest

from rosvd.boards.checks import filter_cells

VIVADO_COMMANDS = (
    "create_project", "set_property", "current_project", "current_fileset", "update_ip_catalog",
    "add_files", "get_files", "create_bd_design", "create_bd_cell", "apply_bd_automation", "get_bd_cells",
    "get_bd_pins", "get_bd_intf_pins", "connect_bd_net", "connect_bd_intf_net", "assign_bd_address",
    "validate_bd_design", "save_bd_design", "generate_target", "make_wrapper", "update_compile_order",
    "launch_runs", "wait_on_run", "get_runs", "get_property", "open_run", "close_design", "get_sites",
    "report_timing_summary", "report_utilization", "report_drc", "get_cells", "get_pins", "get_nets",
    "create_pblock", "add_cells_to_pblock", "resize_pblock", "get_pblocks", "set_false_path",
    "create_generated_clock",
)


def tcl_interpreter():
    try:
        import tkinter
        return tkinter.Tcl()
    except Exception as error:  # no tkinter, or no Tcl library
        print(f"no Tcl interpreter: {error}")
        pytest.skip(f"Python's tkinter/Tcl is not available ({error})")


class VivadoStub:
    def __init__(self, cells=None, prefix: str = "", missing_sites=()):
        self.tcl = tcl_interpreter()
        self.missing_sites = set(missing_sites)
        self.calls: list[tuple[str, ...]] = []
        self.cells, self.prefix = cells, prefix
        for name in VIVADO_COMMANDS:
            self.tcl.createcommand(name, self._recorder(name))
        self.tcl.eval("rename file _tcl_file")
        self.tcl.createcommand("file", self._file)
        self.tcl.eval("rename glob _tcl_glob")
        self.tcl.createcommand("glob", self._glob)

    def _recorder(self, name):
        def command(*args):
            self.calls.append((name, *args))
            return self._answer(name, args)
        return command

    def _answer(self, name, args):
        if name == "get_property":
            return {"PROGRESS": "100%", "STATS.WNS": "0.1", "DIRECTORY": "/stub/impl_1"}.get(args[0], "stub")
        if name == "make_wrapper":
            return "/stub/rosvd_wrapper.v"
        if name == "get_cells" and self.cells is not None and "-filter" in args:
            return tuple(filter_cells(args[args.index("-filter") + 1], self.cells, self.prefix))
        if name == "get_sites":
            return "" if args[-1] in self.missing_sites else args[-1]
        return f"<{name} {' '.join(args)}>"

    def _file(self, *args):
        if args[0] in ("copy", "mkdir"):
            self.calls.append(("file", *args))
            return ""
        return self.tcl.call("_tcl_file", *args)

    def _glob(self, *args):
        self.calls.append(("glob", *args))
        return ("/stub/project/rosvd.gen/sources_1/bd/rosvd/hw_handoff/rosvd.hwh",)

    def source(self, path) -> list[tuple[str, ...]]:
        self.tcl.eval(f"source {{{path}}}")
        return self.calls

    def named(self, name: str) -> list[tuple[str, ...]]:
        return [call[1:] for call in self.calls if call[0] == name]
