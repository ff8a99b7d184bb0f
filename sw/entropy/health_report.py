"""``rosvd entropy health``: the health-test parameters and their measured detection latency.

For each fault model of :mod:`rosvd.sim.entropy_model` and several seeds, the raw bits
(healthy before the onset, faulty from it) are run through the entropy source RTL, in
Amaranth's simulator (default) or Verilator, and the latency is read from the RTL:
``samples from fault onset to alarm`` = index of the sample that raised the alarm minus
the onset index, plus one (the number of faulty samples consumed, the alarming one
included). Every RTL result is also checked against the reference model.

Everything here is simulation: the bits come from a seeded jitter model, so the report
says how fast the *logic* detects these fault patterns, not how the silicon fails.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys

from rosvd.hw.entropy import model
from rosvd.hw.entropy.params import EntropyParams
from rosvd.sim.entropy_model import EXPECTED_TEST, SCENARIOS, scenario_bits

BACKENDS = ("amaranth", "verilator")
DEFAULT_SEEDS = 4


def onset_for(params: EntropyParams) -> int:
    """Fault onset: after start-up and one full window, in the middle of the next window."""
    return params.startup_samples + params.apt_window + params.apt_window // 2 + 17


def _run(params: EntropyParams, sequences: dict, backend: str) -> dict[str, dict]:
    if backend == "verilator":
        from rosvd.sim.entropy_rtl import rtl_replay

        return rtl_replay(params, sequences)
    from rosvd.sim.entropy_pysim import rtl_run

    out = {}
    for name, bits in sequences.items():
        result = rtl_run(params, bits)
        out[name] = {"rct_cycle": result.rct_cycle, "apt_cycle": result.apt_cycle,
                     "words": result.words, "final": result.final}
    return out


def _summary(values: list[int | None]) -> dict:
    seen = [v for v in values if v is not None]
    summary = {"per_seed": values, "detected": len(seen), "runs": len(values)}
    if seen:
        summary.update(min=min(seen), median=statistics.median(seen), max=max(seen))
    return summary


def run(params: EntropyParams | None = None, seeds: int = DEFAULT_SEEDS, backend: str = "amaranth") -> dict:
    """Parameters, cutoffs, false-alarm expectation and per-fault detection latencies."""
    if backend not in BACKENDS:
        raise ValueError(f"health report: backend must be one of {BACKENDS}, not {backend!r}")
    if seeds < 1:
        raise ValueError(f"health report: seeds must be >= 1, not {seeds}")
    p = params or EntropyParams()
    onset = onset_for(p)
    samples = onset + 4 * p.apt_window
    cases = {f"{name}_s{seed}": (name, seed) for name in SCENARIOS for seed in range(1, seeds + 1)}
    sequences = {case: scenario_bits(name, p.oscillators, samples, onset, seed=seed)
                 for case, (name, seed) in cases.items()}
    records = _run(p, sequences, backend)

    faults = {}
    for name in SCENARIOS:
        latencies = {"rct": [], "apt": [], "first": []}
        for case, (case_name, _) in cases.items():
            if case_name != name:
                continue
            record, expected = records[case], model.evaluate(sequences[case], p)
            if (record["rct_cycle"], record["apt_cycle"]) != (expected.rct_failure, expected.apt_failure) \
                    or record["words"] != expected.words:
                raise AssertionError(f"health report: RTL and model disagree on {case}")
            rct = None if record["rct_cycle"] is None else record["rct_cycle"] - onset + 1
            apt = None if record["apt_cycle"] is None else record["apt_cycle"] - onset + 1
            latencies["rct"].append(rct)
            latencies["apt"].append(apt)
            found = [v for v in (rct, apt) if v is not None]
            latencies["first"].append(min(found) if found else None)
        bank, kind, extra = SCENARIOS[name]
        faults[name] = {
            "fault": kind, "oscillators": bank or p.oscillators,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in extra.items()},
            "expected_test": EXPECTED_TEST[name],
            "latency_samples": {test: _summary(values) for test, values in latencies.items()},
        }
    windows_per_million = 10**6 / p.apt_window
    return {
        "parameters": {
            "alpha": p.alpha, "alpha_exponent": p.alpha_exponent, "min_entropy_per_bit": p.min_entropy,
            "rct_cutoff": p.rct_cutoff, "apt_cutoff": p.apt_cutoff, "apt_window": p.apt_window,
            "startup_samples": p.startup_samples, "oscillators": p.oscillators, "stages": p.stages,
            "sample_period": p.sample_period, "sp800_90b_window": p.sp800_90b_window,
            "derivation": {
                "rct": f"1 + ceil({p.alpha_exponent} / {p.min_entropy}) = {p.rct_cutoff}",
                "apt": f"smallest C with P(Binomial({p.apt_window}, 2**-{p.min_entropy}) >= C) <= "
                       f"2**-{p.alpha_exponent}: C = {p.apt_cutoff}",
            },
        },
        "false_alarms_per_million_samples_bound": {
            "rct": 10**6 * p.alpha, "apt": windows_per_million * p.alpha,
            "note": "upper bound for a source at exactly the assessed min-entropy H; a near-uniform"
                    " source alarms far less often",
        },
        "fault_onset_sample": onset,
        "samples_per_run": samples,
        "simulation": {"backend": backend, "seeds": seeds, "bits": "rosvd.sim.entropy_model (seeded model,"
                       " not entropy)", "params": dataclasses.asdict(p)},
        "faults": faults,
        "latency_definition": "index of the alarming sample - onset index + 1 (faulty samples consumed)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rosvd entropy health", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the only format for now)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per fault model")
    parser.add_argument("--backend", choices=BACKENDS, default="amaranth", help="RTL simulator")
    args = parser.parse_args(argv)
    json.dump(run(seeds=args.seeds, backend=args.backend), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
