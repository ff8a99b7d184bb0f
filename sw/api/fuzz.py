"""Schemathesis against a running server: generated requests for every operation of its
OpenAPI document, every response checked against that document.

:func:`fuzz` runs ``schemathesis run`` (its command line: examples, coverage, fuzzing and
stateful phases, positive and negative data) on the server's ``/openapi.json`` with the
write token as a header (passed in the environment, never on a command line), so writes
get past authentication, while ``ignored_auth`` sends each secured request again without
the token and with a wrong one. Runs repeat with the
next seed until ``cases`` test cases have been generated. Every response runs
:data:`CHECKS`: no 5xx, a documented status code, content type and headers, a body that
conforms to the schema of its status, requests the schema forbids refused, no write
without the token. The report counts the responses by operation and status from
schemathesis' own NDJSON record and lists each failure once per operation and check.
schemathesis is a ``dev`` dependency; it runs as a child process in a scratch directory
(its example database off), so nothing is left behind.

One worker by default: with two, Hypothesis (describing a filter's lambda) now and then
parses source in two threads at once, and CPython 3.11's ``ast`` fails with "AST constructor
recursion depth mismatch" (a schemathesis "Runtime Error", not the API's; 2 suite runs in 10).
"""
from __future__ import annotations

import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
          "ignored_auth", "unsupported_method", "allow_header_conformance", "missing_required_header")
#: 413 is a refusal too: a negative case over a limit (say 17 query files) is refused before
#: it is validated. The rest is schemathesis' default list; a 5xx fails ``not_a_server_error``.
REFUSALS = (400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429)
#: The token travels in the environment, never on a command line (``ps`` shows those).
TOKEN_ENV = "ROSVD_FUZZ_TOKEN"
CONFIG = f"""[headers]
Authorization = "Bearer ${{{TOKEN_ENV}}}"

[checks.negative_data_rejection]
expected-statuses = {list(REFUSALS)}
"""
#: Runs at most, each with the next seed, to reach the number of cases asked for.
MAX_RUNS = 6
REQUEST_TIMEOUT_S = 60


class FuzzError(RuntimeError):
    """schemathesis could not run (not installed, no report)."""


def _command(url: str, max_examples: int, seed: int, workers: int, scratch: Path) -> list[str]:
    return [sys.executable, "-m", "schemathesis.cli", "--config-file", str(scratch / "schemathesis.toml"),
            "--no-color", "run", url + "/openapi.json", "--checks", ",".join(CHECKS),
            "--max-examples", str(max_examples), "--seed", str(seed), "--workers", str(workers),
            "--continue-on-failure", "--no-shrink", "--generation-database", "none",
            "--request-timeout", str(REQUEST_TIMEOUT_S),
            "--report", "json,ndjson", "--report-dir", str(scratch),
            "--report-json-path", str(scratch / "report.json"),
            "--report-ndjson-path", str(scratch / "events.ndjson")]


class _Tally:
    """Responses by operation and status; failures once per (operation, check)."""

    def __init__(self):
        self.cases = self.responses = self.server_errors = self.no_response = 0
        self.statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.failures: dict[tuple[str, str], dict] = {}

    def add_run(self, report: dict, events: Path) -> None:
        self.cases += report["test_cases"]["generated"]
        with events.open() as lines:
            for line in lines:
                event = json.loads(line)
                finished = event.get("ScenarioFinished")
                if finished and finished.get("recorder"):
                    self._scenario(finished["recorder"])

    def _scenario(self, recorder: dict) -> None:
        cases = recorder.get("cases", {})
        for case_id, interaction in recorder.get("interactions", {}).items():
            label = _label(cases.get(case_id, {}).get("value"), recorder["label"])
            response = interaction.get("response")
            if response is None:
                self.no_response += 1
                continue
            self.responses += 1
            self.statuses[label][response["status_code"]] += 1
            self.server_errors += response["status_code"] >= 500
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                case = cases.get(case_id, {}).get("value", {})
                interaction = recorder.get("interactions", {}).get(case_id) or {}
                uri = (interaction.get("request") or {}).get("uri", "?")
                key = (failure.get("operation") or recorder["label"], f"{check['name']}: {failure['title']}")
                entry = self.failures.setdefault(key, {
                    "operation": key[0], "check": check["name"], "title": failure["title"], "count": 0,
                    "message": failure.get("message", "")[:1000],
                    "request": f"{case.get('method', '?')} {uri}",
                    "status": (interaction.get("response") or {}).get("status_code")})
                entry["count"] += 1

    def operations(self) -> dict:
        return {label: {str(code): n for code, n in sorted(counts.items())}
                for label, counts in sorted(self.statuses.items())}


def _label(case: dict | None, fallback: str) -> str:
    return fallback if not case else f"{case['method']} {case['path']}"


def fuzz(url: str, token: str, cases: int, seed: int = 1, workers: int = 1,
         progress: Callable[[str], None] | None = None, log: Path | None = None) -> dict:
    """Generate at least ``cases`` test cases against the server at ``url``; the report
    (``ok`` when no response was a 5xx and no check failed). schemathesis' own output is
    appended to ``log`` if given."""
    try:
        import schemathesis
    except ImportError:
        raise FuzzError("schemathesis is not installed: `pip install -e .[dev]`") from None
    tally = _Tally()
    start = time.perf_counter()
    runs, per_example = [], 15.0  # cases per --max-examples step (~16 here); then as measured
    with tempfile.TemporaryDirectory(prefix="rosvd-fuzz-") as scratch_name:
        scratch = Path(scratch_name)
        (scratch / "schemathesis.toml").write_text(CONFIG)
        while tally.cases < cases and len(runs) < MAX_RUNS:
            max_examples = max(1, math.ceil((cases - tally.cases) / per_example))
            run_seed = seed + len(runs)
            began = time.perf_counter()
            done = subprocess.run(_command(url, max_examples, run_seed, workers, scratch), cwd=scratch,
                                  capture_output=True, text=True, env={**os.environ, TOKEN_ENV: token})
            if log is not None:
                with Path(log).open("a") as handle:
                    handle.write(done.stdout + done.stderr)
            report_path = scratch / "report.json"
            if not report_path.exists():
                raise FuzzError(f"schemathesis wrote no report (exit {done.returncode}):"
                                f" {(done.stderr or done.stdout)[-2000:]}")
            report = json.loads(report_path.read_text())
            tally.add_run(report, scratch / "events.ndjson")
            generated = report["test_cases"]["generated"]
            per_example = max(1.0, generated / max_examples)
            runs.append({"seed": run_seed, "max_examples": max_examples, "cases": generated,
                         "seconds": round(time.perf_counter() - began, 1), "exit_code": done.returncode,
                         "errors": report.get("errors", [])})
            report_path.unlink()
            if progress:
                progress(f"run {len(runs)} (seed {run_seed}, --max-examples {max_examples}): {generated}"
                         f" cases, {tally.cases} in all, {len(tally.failures)} distinct failures")
    elapsed = time.perf_counter() - start
    errors = [error for run in runs for error in run["errors"]]
    return {"schemathesis": schemathesis.SCHEMATHESIS_VERSION, "checks": list(CHECKS), "target": cases,
            "cases": tally.cases, "responses": tally.responses, "server_errors": tally.server_errors,
            "no_response": tally.no_response, "seconds": round(elapsed, 1),
            "cases_per_s": round(tally.cases / elapsed, 1) if elapsed else None, "runs": runs,
            "statuses": tally.operations(),
            "failures": sorted(tally.failures.values(), key=lambda f: (f["operation"], f["check"])),
            "ok": (tally.server_errors == 0 and tally.no_response == 0 and not tally.failures and not errors
                   and tally.cases >= cases)}
