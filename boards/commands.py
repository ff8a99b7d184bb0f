"""``rosvd boards``: the board bundles (``rosvd boards build``)."""
from __future__ import annotations

import argparse
import sys


def _summary(result: dict) -> str:
    lines = [f"{result['board']} ({result['part']}): {len(result['files'])} files under {result['out']}"]
    lines += [f"  {path}" for path in result["files"]]
    lines += ["checks:"] + [f"  {name}: {status}" for name, status in result["checks"].items()]
    lines += ["never run:"] + [f"  {item}" for item in result["never_run"]]
    return "\n".join(lines)


def _build(args) -> int:
    from rosvd.output import report

    from .bundle import build
    result = build(args.board, args.out, force=args.force)
    report(result, args, _summary)
    failed = [name for name, status in result["checks"].items() if status.startswith("FAILED")]
    if failed:
        print(f"rosvd: bundle checks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from rosvd.output import add_json_flag

    from .vivado import BOARDS
    boards = commands.add_parser("boards", help="board bundles for Vivado").add_subparsers(
        dest="boards_command", required=True)
    build = boards.add_parser("build", help="write one board's Vivado bundle (IP-XACT, Verilog, XDC, build"
                              " script) and check it without Vivado")
    build.add_argument("--board", required=True, type=str.lower, choices=list(BOARDS),
                       help="the board: " + ", ".join(f"{k} ({b.target})" for k, b in BOARDS.items()))
    build.add_argument("--out", required=True, help="directory to write the bundle to (new or empty)")
    build.add_argument("--force", action="store_true",
                       help="write into a non-empty --out, overwriting the bundle's files")
    add_json_flag(build)
    build.set_defaults(handler=_build)
