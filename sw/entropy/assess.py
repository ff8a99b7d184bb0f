"""``rosvd entropy assess``: SP 800-90B min-entropy and SP 800-22 tests over a raw capture.

A capture is a file in the convention of NIST's SP 800-90B tools: one sample per byte, the
sample in the low ``bits`` bits (a binary source writes bytes 0 and 1). ``packed=True`` reads
a packed bit stream instead, eight binary samples per byte, most significant bit first.

The result is one JSON-able dict (see docs/entropy-assessment.md): sample count, bits per
sample, each SP 800-90B estimator's estimate and parameters on the samples and (for samples
wider than a bit) on their bitstring, the initial entropy estimate of SP 800-90B 3.1.3
(the min-entropy per sample this capture supports, with the track and estimator that set
it), and each SP 800-22 test's p-value and pass/fail at 0.01 (the SP 800-22 tests run on
binary captures only).

Usage: ``python -m rosvd.entropy.assess FILE [--packed] [--bits N] [--json]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from rosvd.entropy import estimators, sp800_22
from rosvd.entropy.cli_args import BITS_HELP, MAX_BITS, bits_argument

#: Fewest samples we assess. The compression estimate needs 6 * 1002 bits, the t-tuple estimate
#: needs a value seen 35 times; below ~10^4 the 99 % bounds are too wide to mean much. NIST
#: asks for 10^6 samples for a validation; this tool warns below that.
MIN_SAMPLES = 10_000
RECOMMENDED_SAMPLES = 1_000_000


class CaptureError(ValueError):
    """A capture that cannot be assessed; the message says why and what to do."""


class EmptyCaptureError(CaptureError):
    pass


class SampleValueError(CaptureError):
    """A byte outside the declared sample width (e.g. 0x30 '0' in a binary capture)."""


class TooFewSamplesError(CaptureError):
    pass


def read_capture(path: str | os.PathLike, packed: bool = False,
                 bits: int | None = None) -> tuple[np.ndarray, int]:
    """Read a capture file; returns ``(samples, bits)``.

    Unpacked files default to ``bits = 1`` (a binary source) and must then hold only bytes 0
    and 1. A packed file is always binary. Raises :class:`EmptyCaptureError` or
    :class:`SampleValueError`.
    """
    raw = np.fromfile(os.fspath(path), dtype=np.uint8)
    if raw.size == 0:
        raise EmptyCaptureError(f"{os.fspath(path)}: empty capture file")
    if packed:
        if bits not in (None, 1):
            raise CaptureError(f"a packed capture is binary; got bits={bits}")
        return np.unpackbits(raw), 1
    bits = 1 if bits is None else bits
    return validate_samples(raw, bits, source=os.fspath(path)), bits


def validate_samples(samples, bits: int, source: str = "samples") -> np.ndarray:
    """Check the width and values; returns the samples as uint8."""
    if not isinstance(bits, int | np.integer) or not 1 <= bits <= MAX_BITS:
        raise CaptureError(f"bits per sample must be 1..{MAX_BITS}, got {bits!r}")
    s = np.asarray(samples)
    if s.ndim != 1:
        raise CaptureError(f"{source}: samples must be 1-D, got shape {s.shape}")
    if s.size == 0:
        raise EmptyCaptureError(f"{source}: no samples")
    if not np.issubdtype(s.dtype, np.integer):
        raise CaptureError(f"{source}: samples must be integers, got {s.dtype}")
    bad = np.flatnonzero((s < 0) | (s >= (1 << bits)))
    if bad.size:
        i = int(bad[0])
        ascii_digit = bits == 1 and int(s[i]) in (48, 49)
        hint = " (ASCII '0'/'1'? write bytes 0 and 1, or use --packed)" if ascii_digit else ""
        raise SampleValueError(
            f"{source}: sample {i} is {int(s[i])}, outside 0..{(1 << bits) - 1} for {bits}-bit samples; "
            f"{bad.size} such samples{hint}")
    return s.astype(np.uint8)


def assess_samples(samples, bits: int) -> dict:
    """Assess samples already in memory; see the module docstring for the result."""
    s = validate_samples(samples, bits)
    n = int(s.size)
    if n < MIN_SAMPLES:
        raise TooFewSamplesError(f"{n} samples: need at least {MIN_SAMPLES} for a meaningful estimate "
                                 f"({RECOMMENDED_SAMPLES} recommended by SP 800-90B)")
    h = estimators.assess_min_entropy(s, bits)
    warnings = []
    if n < RECOMMENDED_SAMPLES:
        warnings.append(f"{n} samples: SP 800-90B asks for at least {RECOMMENDED_SAMPLES}")
    if bits == 1:
        tests = sp800_22.run_all(s)
        ran = [t for t in tests.values() if t["passed"] is not None]
        sp22 = {"alpha": sp800_22.ALPHA, "tests": tests, "all_passed": all(t["passed"] for t in ran)}
    else:
        sp22 = {"alpha": sp800_22.ALPHA, "tests": {}, "all_passed": None,
                "skipped": "SP 800-22 tests run on binary captures only"}
    return {
        "samples": n,
        "bits_per_sample": bits,
        "standard": "NIST SP 800-90B (2018) 3.1.3 and 6.3 non-IID estimators; NIST SP 800-22 rev. 1a",
        "min_entropy_per_sample": h["min_entropy_per_sample"],
        "limiting_track": h["limiting_track"],
        "limiting_estimator": h["limiting_estimator"],
        "sp800_90b": {"original": h["original"], "bitstring": h["bitstring"],
                      "not_implemented": h["not_implemented"]},
        "sp800_22": sp22,
        "warnings": warnings,
    }


def assess_file(path: str | os.PathLike, packed: bool = False, bits: int | None = None) -> dict:
    """Read and assess a capture; the result also names the file."""
    samples, width = read_capture(path, packed=packed, bits=bits)
    result = assess_samples(samples, width)
    result["file"] = os.fspath(path)
    result["packed"] = packed
    return result


def _summary(r: dict) -> str:
    bits = r["bits_per_sample"]
    lines = [f"{r.get('file', 'samples')}: {r['samples']} samples, {bits} bit(s) each",
             f"min-entropy per sample: {r['min_entropy_per_sample']:.4f} "
             f"(limited by {r['limiting_estimator']} on the {r['limiting_track']} track)"]
    for track in ("original", "bitstring"):
        t = r["sp800_90b"][track]
        if t is None:
            continue
        unit = "per sample" if track == "original" else f"per bit, x {bits} = {bits * t['min_entropy']:.4f}"
        lines.append(f"  {track} ({t['samples']} values, {t['alphabet_size']} distinct): "
                     f"H = {t['min_entropy']:.4f} {unit}")
        for name, e in t["estimators"].items():
            lines.append(f"    {name:12s} {e['section']:6s} H = {e['min_entropy']:.4f}")
        for name, why in t["skipped"].items():
            lines.append(f"    {name:12s} skipped: {why}")
    for name, t in r["sp800_22"]["tests"].items():
        if t["passed"] is None:
            lines.append(f"  SP 800-22 {name:20s} skipped")
        else:
            verdict = "pass" if t["passed"] else "FAIL"
            lines.append(f"  SP 800-22 {name:20s} p = {t['p_value']:.4f} {verdict}")
    lines += [f"warning: {w}" for w in r["warnings"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rosvd entropy assess", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="raw capture: one sample per byte (default) or packed bits")
    ap.add_argument("--packed", action="store_true", help="8 binary samples per byte, MSB first")
    ap.add_argument("--bits", type=bits_argument, default=None, metavar="1..8",
                    help=BITS_HELP + " (default 1)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        result = assess_file(args.file, packed=args.packed, bits=args.bits)
    except (CaptureError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else _summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
