"""One output convention for every ``rosvd`` command.

Results alone go to stdout: a short summary for people by default, one JSON document with
``--json`` (the same flag, with the same help, on every command that reports a result).
Progress, warnings and refusals go to stderr. Commands that write a document (``rosvd
bundle``) or stream records (``certify --jsonl``) say so in their own help.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

JSON_HELP = "print the result as one JSON document on stdout (default: a summary for people)"


def add_json_flag(parser: argparse.ArgumentParser, group=None) -> argparse.ArgumentParser:
    """Give ``parser`` (or its mutually exclusive ``group``) the ``--json`` flag."""
    (group or parser).add_argument("--json", action="store_true", help=JSON_HELP)
    return parser


def summary_lines(record: dict, prefix: str = "") -> list[str]:
    """``key: value`` lines of a record; nested records as ``outer.inner: value``."""
    lines = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines += summary_lines(value, f"{name}.")
        elif isinstance(value, list | tuple):
            lines.append(f"{name}: {', '.join(str(item) for item in value) if value else '(none)'}")
        else:
            lines.append(f"{name}: {'-' if value is None else value}")
    return lines


def emit(record, as_json: bool, summary: Callable[[dict], str] | None = None, out=None) -> None:
    """Print ``record`` on ``out`` (stdout): JSON, or ``summary(record)`` (default: its lines)."""
    out = out or sys.stdout
    if as_json:
        text = json.dumps(record, indent=2, sort_keys=True)
    else:
        text = summary(record) if summary else "\n".join(summary_lines(record))
    print(text, file=out, flush=True)


def report(record, args, summary: Callable[[dict], str] | None = None) -> None:
    """:func:`emit` as a command handler calls it: JSON when ``args.json`` is set."""
    emit(record, args.json, summary)
