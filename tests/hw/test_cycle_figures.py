# amaranth: UnusedElaboratable=no
"""Cycle figures written in prose (``hw/svd/params.py``, ``docs/svd-engine.md``, docstrings)
equal what :meth:`SVDEngine.cycle_estimate` and the pipelines compute, so a stale number
fails here. Each figure is read from the text by the phrase it sits in; a rewording that
drops the phrase fails too, with the phrase to update. Historical figures in the docs
("24,734 before the rank ring ...") are not current claims and are not checked.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rosvd.hw.svd.cordic import AnglePipeline
from rosvd.hw.svd.engine import SVDEngine
from rosvd.hw.svd.params import SVDParams

REPO = Path(__file__).resolve().parents[2]
DEFAULT = SVDEngine(SVDParams())
ONE_PIPELINE = SVDEngine(SVDParams(angle_share=16))
ROUNDS = DEFAULT.params.sweeps * DEFAULT.params.rounds_per_sweep * DEFAULT.params.pairs_per_unit


def prose(relative: str) -> str:
    """The file's text with comment markers dropped and whitespace runs made one space."""
    text = (REPO / relative).read_text()
    return re.sub(r"\s+", " ", re.sub(r"^\s*#:?", " ", text, flags=re.M))


def numbers(relative: str, pattern: str) -> list[int]:
    found = re.findall(pattern, prose(relative))
    assert len(found) == 1, f"{relative}: phrase {pattern!r} found {len(found)} times; update this test"
    groups = found[0] if isinstance(found[0], tuple) else (found[0],)
    return [int(group.replace(",", "")) for group in groups]


N = r"([\d,]+)"
FIGURES = [
    # hw/svd/params.py, the comment above ``angle_share``
    ("hw/svd/params.py", rf"two pipelines cost {N} cycles per round \({N} rounds: {N} cycles, {N} in all",
     [DEFAULT.params.angle_slots - 1, ROUNDS, ROUNDS * (DEFAULT.params.angle_slots - 1),
      DEFAULT.cycle_estimate()]),
    ("hw/svd/params.py", rf"one pipeline \({N} cycles per round, {N} in all\)",
     [ONE_PIPELINE.params.angle_slots - 1, ONE_PIPELINE.cycle_estimate()]),
    # docs/svd-engine.md, "Architecture and cycles" and the targets
    ("docs/svd-engine.md", rf"two pipelines of {N}, {N} cycles per round \({N} in all at n=32\); one pipeline"
                           rf" would cost {N} per round \({N} cycles in all\)",
     [DEFAULT.params.angle_slots, DEFAULT.params.angle_slots - 1, ROUNDS * (DEFAULT.params.angle_slots - 1),
      ONE_PIPELINE.params.angle_slots - 1, ONE_PIPELINE.cycle_estimate()]),
    ("docs/svd-engine.md", rf"Default \(n=32, 16 units, 8 sweeps\): {N} cycles per decomposition",
     [DEFAULT.cycle_estimate()]),
    ("docs/svd-engine.md", rf"\| <= 25,000 cycles \| {N} \(Verilator", [DEFAULT.cycle_estimate()]),
    ("docs/svd-engine.md", rf"\(7 sweeps: {N} cycles", [DEFAULT.cycle_estimate(7)]),
    ("docs/svd-engine.md", rf"angle = angle_latency \+ angle_slots \({N} \+ {N} by default\)",
     [AnglePipeline(SVDParams()).latency, DEFAULT.params.angle_slots]),
    ("docs/svd-engine.md", rf"one rounding stage: latency {N}, one new pair per cycle",
     [AnglePipeline(SVDParams()).latency]),
    ("hw/svd/cordic.py", rf"\({N} with the defaults\)", [AnglePipeline(SVDParams()).latency]),
]


@pytest.mark.parametrize("relative, pattern, computed", FIGURES,
                         ids=[f"{path}:{i}" for i, (path, _, _) in enumerate(FIGURES)])
def test_written_cycle_figures_equal_the_computed_ones(relative, pattern, computed):
    assert numbers(relative, pattern) == computed


def test_the_default_meets_the_cycle_target_and_one_pipeline_would_not():
    """The reason params gives for ``angle_share = 8``."""
    assert DEFAULT.cycle_estimate() <= 25_000 < ONE_PIPELINE.cycle_estimate()
