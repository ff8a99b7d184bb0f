"""One output convention for every `rosvd` command: each option has help, each command that
reports a result takes `--json` with the same help, and prints a summary for people without it."""
import argparse
import json

import pytest

from rosvd.cli import build_parser, main
from rosvd.output import JSON_HELP, summary_lines

#: Commands whose output is not a report: a document (the bundle), a path, a demo's story.
NOT_REPORTS = {("bundle",), ("demo",), ("hw", "verilog")}


def leaf_commands(parser: argparse.ArgumentParser, path=()):
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from leaf_commands(child, (*path, name))


COMMANDS = list(leaf_commands(build_parser()))


def test_the_walk_finds_every_command():
    names = {path for path, _ in COMMANDS}
    assert {("status",), ("enroll",), ("epoch", "seal"), ("chain", "status"), ("certify",),
            ("verify-chain",), ("fingerprint",), ("bench", "model"), ("hw", "report")} <= names
    assert len(names) >= 25


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help(path, parser):
    missing = [action.dest for action in parser._actions
               if not isinstance(action, argparse._HelpAction) and not action.help]
    assert not missing, f"rosvd {' '.join(path)}: no help text for {missing}"


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_report_takes_json_with_one_help(path, parser):
    flags = {option: action for action in parser._actions for option in action.option_strings}
    if path in NOT_REPORTS:
        assert "--json" not in flags
        return
    assert "--json" in flags, f"rosvd {' '.join(path)} has no --json"
    assert flags["--json"].help == JSON_HELP


def test_target_lists_its_choices_and_refuses_others(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["hw", "report", "--target", "xc7k325t"])
    assert exit_info.value.code == 2
    assert "xc7z020" in capsys.readouterr().err


def test_status_prints_a_summary_by_default_and_json_on_request(tmp_path, capsys):
    home = str(tmp_path / "home")
    assert main(["enroll", "--home", home, "--dev"]) == 0
    enrolled = capsys.readouterr().out
    assert enrolled.startswith("address: 0x") and "device_key.format: plain" in enrolled
    assert main(["status", "--home", home]) == 0
    summary = capsys.readouterr().out
    assert "certificates: 0" in summary and "epochs.open: 1" in summary
    with pytest.raises(json.JSONDecodeError):
        json.loads(summary)
    assert main(["status", "--home", home, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["certificates"] == 0


def test_summary_lines_flatten_records():
    assert summary_lines({"a": 1, "b": {"c": None, "d": [1, 2]}, "e": [], "f": {}}) == [
        "a: 1", "b.c: -", "b.d: 1, 2", "e: (none)", "f: {}"]
