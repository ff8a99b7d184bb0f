"""Parallel Jacobi ordering: the round-robin ("circle") tournament over column slots.

Input column c starts in slot c. The n columns live in n *slots*: slot ``p``
(0 <= p < n/2) is the top of pair ``p``, slot ``n/2 + p`` its bottom. In every round
the n/2 pairs are disjoint, so they can be rotated in any order or in parallel with
the same result. After a round each
column moves to a new slot: slot 0 stays, all others move one place around the circle
``top1 -> top2 -> ... -> top(h-1) -> bottom(h-1) -> ... -> bottom0 -> top1``.
After n-1 rounds (one sweep) every pair of columns has met exactly once and every
column is back in its starting slot.
"""
from __future__ import annotations


def destination_slot(n: int, slot: int) -> int:
    """Slot that the column now in ``slot`` occupies in the next round."""
    half = n // 2
    if not 0 <= slot < n:
        raise ValueError(f"slot {slot} out of range for n={n}")
    if slot == 0:
        return 0
    if slot < half - 1:          # top p -> top p+1
        return slot + 1
    if slot == half - 1:         # last top -> last bottom
        return n - 1
    if slot == half:             # bottom 0 -> top 1
        return 1
    return slot - 1              # bottom p -> bottom p-1


def source_slot(n: int) -> list[int]:
    """``source_slot(n)[d]`` is the slot whose column moves into slot ``d``."""
    sources = [0] * n
    for slot in range(n):
        sources[destination_slot(n, slot)] = slot
    return sources

