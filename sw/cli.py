"""``rosvd`` command line."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys


def _add_svd_params(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine parameters")
    group.add_argument("--n", type=int, default=32, help="matrix size (8, 16, 32, 64)")
    group.add_argument("--k", type=int, default=4, help="singular vectors returned")
    group.add_argument("--data-width", type=int, default=16, help="input element bits")
    group.add_argument("--sweeps", type=int, default=8, help="Jacobi sweeps (maximum)")
    group.add_argument("--skip-shift", type=int, default=None,
                       help="convergence threshold T (skip pairs with |cos| < 2**-T; early exit)")
    group.add_argument("--units", type=int, default=None, help="parallel rotation units (default n/2)")


def svd_params(args: argparse.Namespace):
    from rosvd.hw.svd.params import SVDParams
    return SVDParams(n=args.n, k=args.k, data_width=args.data_width, sweeps=args.sweeps,
                     skip_shift=args.skip_shift, units=args.units or args.n // 2)


@contextlib.contextmanager
def _stdout_for_results():
    """Send everything written to file descriptor 1 (tools, simulators) to stderr while a
    command works, so stdout carries only its result; yields a stream to the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with os.fdopen(os.dup(saved), "w") as real_stdout:
            yield real_stdout
            real_stdout.flush()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _emit(compute, as_json: bool, summary=None) -> None:
    from rosvd.output import emit
    with _stdout_for_results() as out:
        emit(compute(), as_json, summary, out=out)


def _bench_svd(args):
    from rosvd.bench.svd import bench_svd
    params = svd_params(args)
    _emit(lambda: bench_svd(params, matrices=args.matrices, simulator=args.simulator), args.json)


def _bench_cosim(args) -> int:
    from rosvd.bench.cosim import bench_cosim
    from rosvd.driver.core import DriverError
    from rosvd.output import emit
    try:
        with _stdout_for_results() as out:
            result = bench_cosim(svd_params(args), matrices=args.matrices,
                                 amaranth_matrices=args.amaranth_matrices, simulator=args.simulator,
                                 progress=lambda text: print(f"[bench cosim] {text}", file=sys.stderr,
                                                             flush=True))
            emit(result, args.json, out=out)
    except DriverError as error:
        print(f"rosvd: bench cosim: {error}", file=sys.stderr)
        return 2
    if not result["agree"]:
        print("rosvd: bench cosim: results differ from the specification model (matrices"
              f" {result[args.simulator + '_mismatched']} on {args.simulator},"
              f" {result['amaranth_mismatched']} on amaranth)", file=sys.stderr)
        return 1
    return 0


def _bench_accuracy(args):
    from rosvd.bench.svd import accuracy_table
    _emit(lambda: accuracy_table(matrices=args.matrices), args.json)


def _hw_report(args):
    from rosvd.bench.hw_report import hw_report, summary
    params = svd_params(args)
    seed = {} if args.fmax_seed is None else {"fmax_seed": args.fmax_seed}
    _emit(lambda: hw_report(params, args.target, design=args.design, fmax_io=args.fmax_io, **seed),
          args.json, summary)


def _hw_verilog(args):
    from pathlib import Path

    from rosvd.hw.svd.engine import SVDEngine
    from rosvd.sim.verilog import export
    path = export(SVDEngine(svd_params(args)), "rosvd_svd", Path(args.output).parent)
    print(path)


def _sim_waves(args) -> int:
    from rosvd.output import emit
    from rosvd.sim.waves import record_waves
    with _stdout_for_results() as out:
        result = record_waves(svd_params(args), simulator=args.simulator, seed=args.seed, output=args.output)
        # The path alone by default, so `gtkwave "$(rosvd sim waves --n 8)"` works.
        emit(result, args.json, lambda r: r["waves"], out=out)
    if not result["matches_model"]:
        print(f"rosvd: the RTL's output differs from the model's from word {result['first_mismatched_word']}",
              file=sys.stderr)
        return 1
    return 0


def _demo(args):
    from rosvd.demo import run_demo
    return run_demo(simulator=args.simulator)


def _device_selftest(args) -> int:
    from rosvd.device_selftest import selftest
    from rosvd.driver.core import DriverError
    from rosvd.output import emit
    try:
        with _stdout_for_results() as out:
            result = selftest(args.device, svd_params(args), matrices=args.matrices, seed=args.seed,
                              entropy_bytes=args.entropy_bytes, overlay=args.overlay,
                              simulator=args.simulator)
            emit(result, args.json, out=out)
    except DriverError as error:
        print(f"rosvd: {args.device} device: {error}", file=sys.stderr)
        return 2
    if not result["agree"]:
        print(f"rosvd: {result['mismatches']} of {result['decompositions']} decompositions differ from"
              f" {result['reference']}", file=sys.stderr)
        return 1
    return 0


def _target_names() -> list[str]:
    from rosvd.boards.targets import names
    return names()


def build_parser() -> argparse.ArgumentParser:
    from rosvd.output import add_json_flag
    parser = argparse.ArgumentParser(prog="rosvd", description="RO-SVD traceability appliance")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="decompose sample content through the RTL and the model")
    demo.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator",
                      help="RTL simulator of the engine (default verilator)")
    demo.set_defaults(handler=_demo)

    bench = commands.add_parser("bench", help="benchmarks (JSON on stdout)").add_subparsers(
        dest="bench", required=True)
    svd = bench.add_parser("svd", help="cycles in RTL simulation, accuracy, model and numpy time")
    _add_svd_params(svd)
    svd.add_argument("--matrices", type=int, default=32,
                     help="seeded matrices for accuracy and timing (default 32)")
    svd.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator",
                     help="RTL simulator that counts the cycles (default verilator)")
    add_json_flag(svd)
    svd.set_defaults(handler=_bench_svd)
    cosim = bench.add_parser("cosim", help="decompositions per second: the top through the driver on"
                             " Verilator, and the engine in Amaranth's simulator, in one run")
    _add_svd_params(cosim)
    cosim.add_argument("--matrices", type=int, default=8,
                       help="seeded matrices through the driver on the simulator (default 8)")
    cosim.add_argument("--amaranth-matrices", type=int, default=1,
                       help="the first of them run in Amaranth's simulator (default 1; ~2 min each at n=32)")
    cosim.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator",
                       help="simulator of the top (default verilator)")
    add_json_flag(cosim)
    cosim.set_defaults(handler=_bench_cosim)
    acc = bench.add_parser("accuracy", help="model accuracy against LAPACK per n and data width")
    acc.add_argument("--matrices", type=int, default=20, help="seeded matrices per table cell (default 20)")
    add_json_flag(acc)
    acc.set_defaults(handler=_bench_accuracy)

    from rosvd.api.cli import add_benches as add_api_benches
    from rosvd.api.cli import add_commands as add_api_commands
    from rosvd.boards.commands import add_commands as add_board_commands
    from rosvd.chain.commands import add_commands as add_chain_commands
    from rosvd.host_cli import add_benches, add_commands
    from rosvd.verify_cli import add_commands as add_verify_commands
    add_benches(bench)
    add_api_benches(bench)
    add_commands(commands)
    add_chain_commands(commands)
    add_verify_commands(commands)
    add_board_commands(commands)
    add_api_commands(commands)

    device = commands.add_parser("device", help="the device behind the driver").add_subparsers(
        dest="device_command", required=True)
    selftest = device.add_parser("selftest", help="seeded decompositions and an entropy read through the"
                                 " driver, compared with the specification model")
    _add_svd_params(selftest)
    selftest.add_argument("--device", choices=["model", "rtl", "pynq"], default="model",
                          help="model (trivially agrees), rtl (the simulated top through the driver) or pynq"
                          " (a board; needs the pynq package)")
    selftest.add_argument("--matrices", type=int, default=4, help="seeded matrices to decompose (default 4)")
    selftest.add_argument("--seed", type=int, default=1, help="seed of the matrices (default 1)")
    selftest.add_argument("--entropy-bytes", type=int, default=32,
                          help="conditioned bytes to read (default 32)")
    selftest.add_argument("--overlay", default=None, help="--device pynq: the overlay's .bit file")
    selftest.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator",
                          help="--device rtl: the simulator of the top (default verilator)")
    add_json_flag(selftest)
    selftest.set_defaults(handler=_device_selftest)

    hw = commands.add_parser("hw", help="gateware").add_subparsers(dest="hw", required=True)
    report = hw.add_parser("report", help="resources of the whole top (yosys synth_xilinx) and the ECP5"
                                          " stand-in Fmax")
    _add_svd_params(report)
    report.add_argument("--design", choices=("top", "engine"), default="top",
                        help="top (default): the whole RosvdCore (engine, entropy source, AXI registers,"
                             " stream adapters, DNA reader), with the engine's own figures under 'engine';"
                             " engine: the SVD engine alone, resources and Fmax")
    report.add_argument("--target", default="xc7z020", type=str.lower, choices=_target_names(),
                        help="Xilinx device or board (default xc7z020, the PYNQ-Z2's)")
    report.add_argument("--fmax-io", choices=("scan", "pins", "ooc", "auto"), default="scan",
                        help="how the timed core's ports meet the ECP5 (default: scan, registered ports)")
    report.add_argument("--fmax-seed", type=int,
                        help="nextpnr placement seed of the Fmax run (default: 1); placements of the "
                             "same netlist differ by over 10%%, so compare figures at equal seeds")
    add_json_flag(report)
    report.set_defaults(handler=_hw_report)
    sim = commands.add_parser("sim", help="RTL simulation").add_subparsers(dest="sim", required=True)
    waves = sim.add_parser("waves", help="trace one decomposition to one waveform file; prints its path")
    _add_svd_params(waves)
    waves.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                       help="icarus (default) always writes FST; verilator writes FST if liblz4-dev is"
                       " installed, else VCD")
    waves.add_argument("--seed", type=int, default=0, help="which seeded random matrix (default 0)")
    waves.add_argument("-o", "--output", default=None,
                       help="waveform file to write (default rosvd_svd-n<N>-u<U>-<simulator>.fst here)")
    add_json_flag(waves)
    waves.set_defaults(handler=_sim_waves)

    verilog = hw.add_parser("verilog", help="write the engine's Verilog")
    _add_svd_params(verilog)
    verilog.add_argument("-o", "--output", default="build/rosvd_svd.v",
                         help="where to write it (default build/rosvd_svd.v); the path is printed")
    verilog.set_defaults(handler=_hw_verilog)
    return parser


#: Set to get Python's traceback instead of the one-line message for OS and SQLite errors.
TRACEBACK_ENV = "ROSVD_TRACEBACK"


def main(argv=None) -> int:
    import sqlite3
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except (OSError, sqlite3.Error) as error:
        # A file the command could not read or write, a store SQLite cannot read: the user's
        # to fix, so a message naming it, not a traceback.
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"rosvd: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"rosvd: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        # Refusals the user can act on: not enrolled, unsafe key file, simulated entropy.
        from rosvd.certify import ApplianceError
        from rosvd.chain.anchor import AnchorConfigError, AnchoringBlocked, ChainUnavailable
        from rosvd.chain.contracts import ArtifactError
        from rosvd.chain.deployment import DeploymentError
        from rosvd.chain.devnet import DevnetError
        from rosvd.device import SimulatedEntropyRefused
        from rosvd.identity import IdentityError
        from rosvd.store import StoreError
        actionable = (ApplianceError, IdentityError, StoreError, SimulatedEntropyRefused, DeploymentError,
                      AnchorConfigError, AnchoringBlocked, ChainUnavailable, ArtifactError, DevnetError)
        if isinstance(error, actionable):
            print(f"rosvd: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
