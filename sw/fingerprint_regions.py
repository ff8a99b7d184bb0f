"""CANDIDATE: region fingerprints, so that an off-centre crop still finds its certificate.

Scheme 1 (:mod:`rosvd.fingerprint`) fingerprints the whole picture; a copy that keeps 80% of
each side from one corner (the bench's ``offcrop80``) is both shifted and zoomed and lands
as far from the original as unrelated content. A crop keeping ``CROP_KEEP`` of each side, at
any offset, still contains the original's central ``REGION_FRACTION`` x ``REGION_FRACTION``
(``REGION_FRACTION <= 2 CROP_KEEP - 1``). So:

- **Stored side** (:func:`region_images`, :func:`region_fingerprints`): besides the
  full-image fingerprint, the scheme-1 fingerprint of that central region of the original.
- **Query side** (:func:`region_query_images`, :func:`region_query_fingerprints`): if the
  query ``Q`` is such a crop, the region is a ``QUERY_REGION_FRACTION = REGION_FRACTION /
  CROP_KEEP`` (3/4) window of ``Q`` at an unknown offset in ``[0, 1 - QUERY_REGION_FRACTION]``
  of ``Q``'s side; the query tries the windows on the grid :data:`QUERY_OFFSETS` (0, 1/16,
  ..., 1/4) of each axis: a crop from a corner hits a grid point exactly, any other offset is
  at most half a grid step (1/32 of ``Q``'s side, 2.5% of the original's) from one. Two more
  windows cover a query that is not such a crop (:data:`QUERY_KEEPS`): a centred 90% crop and
  an uncropped copy, whose central 60% is the stored region itself. Mirrored windows are
  optional (:data:`QUERY_MIRRORS`). A query's region distance is the least Hamming distance
  between any of its window fingerprints and the stored region fingerprint; a match takes
  the least of that and the full-image query's distance (a minimum over many variants: its
  thresholds are its own, from unrelated pairs scored the same way;
  ``rosvd.bench.fingerprint``'s ``rosvd_regions``).

Which part runs where: the crops are **host code** on the decoded image, before
preprocessing (:mod:`rosvd.preprocess` is unchanged and runs on each crop as on any
picture); each crop then goes through the **engine unchanged** (one more decomposition per
region or query variant; nothing changes in the gateware) and the host's scheme-1
fingerprint. A region fingerprint is therefore exactly the scheme-1 fingerprint of the
cropped picture: anyone holding the content recomputes it with the public model.

Pixel geometry, per axis of length ``L``: a window of fraction ``f`` at offset ``o`` (both
fractions of ``L``) is ``size = max(1, floor(f L + 1/2))`` pixels starting at
``min(floor(o L + 1/2), L - size)``. For an ``L`` that ``CROP_KEEP``, ``REGION_FRACTION``
and the grid divide evenly (``L = 160``: crops of 128, region 32..128, query windows of 96
at 0, 8, ..., 32) the central region of a crop at a multiple of 8 pixels is one of the query
windows exactly.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from rosvd.hw.svd.params import SVDParams

#: The crop the regions are designed for: it keeps this fraction of each side (bench ``offcrop80``).
CROP_KEEP = Fraction(4, 5)
#: Side of the stored region as a fraction of the original's side, centred. The largest
#: centred window inside every ``CROP_KEEP`` crop at any offset is ``2 CROP_KEEP - 1``.
REGION_FRACTION = 2 * CROP_KEEP - 1
#: Offset of the stored region (fraction of the side): centred.
REGION_OFFSET = (1 - REGION_FRACTION) / 2
#: The crops a query's windows are laid out for, as ``(keep, grid)``: the query is assumed to
#: keep ``keep`` of each side of the original, so the stored region is a window of
#: ``REGION_FRACTION / keep`` of the query's side at an offset in ``[(REGION_OFFSET - (1 -
#: keep)) / keep, REGION_OFFSET / keep]``, tried at ``grid`` evenly spread points per axis
#: (one point: the middle). ``4/5`` is the off-centre crop the regions exist for (offsets
#: 0, 1/16, ..., 1/4 of the query: a crop from a corner hits a grid point exactly, any other
#: offset is at most 1/32 of the query's side, 2.5% of the original's, from one); ``9/10`` a
#: centred crop of 5% a side (the bench's ``crop90``), ``1`` an uncropped query (its central
#: 60% is the stored region itself, which a band over the bottom, a rotation's black corners
#: or a border outside it do not touch).
QUERY_KEEPS = ((CROP_KEEP, 5), (Fraction(9, 10), 1), (Fraction(1), 1))
#: Whether the query also tries each window's horizontal mirror (a mirrored crop). Off by
#: default: it doubles the region variants, and a plain mirror is found by the full-image
#: mirror query already.
QUERY_MIRRORS = False

#: Bits added to a region distance before it is compared with the full image's (one
#: threshold for both): the region codes of unrelated content lie closer than the full
#: codes (a 60% crop is smoother, and the query tries many windows), so without it the
#: region comparisons would set the threshold alone and the full-image matches (rotations,
#: borders) would pay for them. Chosen among 0, 8, 12 and 16 by the bench's tuning rows at
#: FPR 1e-4 (12 is best or tied there on every attack but letterbox20 and screenshot, where
#: 16 is ahead by 0.001 and 0.006); the exploratory runs printed held-out rows too, so the
#: held-out split is not blind to it.
REGION_PENALTY_BITS = 12


class Window(NamedTuple):
    """A query window: ``fraction`` of each side of the query at offsets ``top``, ``left``
    (fractions of the height and width), horizontally mirrored or not."""
    fraction: Fraction
    top: Fraction
    left: Fraction
    mirrored: bool = False

    @property
    def name(self) -> str:
        """``fraction@top,left`` (``+mirror``), e.g. ``3/4@0,1/16``."""
        return f"{self.fraction}@{self.top},{self.left}" + ("+mirror" if self.mirrored else "")


def _offsets(keep: Fraction, grid: int) -> tuple[Fraction, ...]:
    low, high = (REGION_OFFSET - (1 - keep)) / keep, REGION_OFFSET / keep
    if grid == 1:
        return ((low + high) / 2,)
    return tuple(low + (high - low) * Fraction(i, grid - 1) for i in range(grid))


#: Side of a query window, as a fraction of the query's side, for the crop the regions are for.
QUERY_REGION_FRACTION = REGION_FRACTION / CROP_KEEP
#: Offsets (fractions of the query's side) of those windows on each axis: 0, 1/16, ..., 1/4.
QUERY_OFFSETS = _offsets(CROP_KEEP, QUERY_KEEPS[0][1])


def window(length: int, fraction, offset) -> tuple[int, int]:
    """``(start, size)`` in pixels of a window of ``fraction`` of ``length`` at ``offset``
    (both fractions of ``length``, exact :class:`~fractions.Fraction` for the constants
    here, so a half is a tie, rounded up), inside ``0 .. length``."""
    if length < 1:
        raise ValueError(f"an axis must have at least one pixel, not {length}")
    size = min(length, max(1, math.floor(fraction * length + Fraction(1, 2))))
    start = min(max(0, math.floor(offset * length + Fraction(1, 2))), length - size)
    return start, size


def crop(image: np.ndarray, fraction, top, left) -> np.ndarray:
    """The window of ``fraction`` of each side at offsets ``top``, ``left`` (fractions of the
    height and width) of an ``(H, W, ...)`` image, C-contiguous."""
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"an image has at least two axes, not shape {image.shape}")
    row, rows = window(image.shape[0], fraction, top)
    col, cols = window(image.shape[1], fraction, left)
    return np.ascontiguousarray(image[row:row + rows, col:col + cols])


def region_images(image: np.ndarray) -> list[np.ndarray]:
    """The stored side's regions of an original: its central ``REGION_FRACTION`` window."""
    return [crop(image, REGION_FRACTION, REGION_OFFSET, REGION_OFFSET)]


def query_windows(mirrors: bool = QUERY_MIRRORS, keeps=QUERY_KEEPS) -> list[Window]:
    """Every query window, in :func:`region_query_images`' order: for each ``(keep, grid)``
    of ``keeps`` the ``grid x grid`` offsets row-major (top, then left); then (``mirrors``)
    the same windows mirrored."""
    plain = [Window(REGION_FRACTION / keep, top, left)
             for keep, grid in keeps for top in _offsets(keep, grid) for left in _offsets(keep, grid)]
    return plain + [w._replace(mirrored=True) for w in plain] if mirrors else plain


def region_query_images(image: np.ndarray, mirrors: bool = QUERY_MIRRORS,
                        keeps=QUERY_KEEPS) -> list[np.ndarray]:
    """The query side's windows of ``image`` (:func:`query_windows`), each cropped from the
    decoded image (and mirrored for a mirrored window)."""
    out = []
    for w in query_windows(mirrors, keeps):
        part = crop(image, w.fraction, w.top, w.left)
        out.append(np.ascontiguousarray(part[:, ::-1]) if w.mirrored else part)
    return out


def match_distance(stored: bytes, stored_regions, queries, region_queries,
                   penalty_bits: int = REGION_PENALTY_BITS) -> float:
    """Match distance of a query to a certificate that keeps a full-image fingerprint
    (``stored``) and region fingerprints (``stored_regions``): the least of the full-image
    query's :func:`~rosvd.fingerprint.query_distance` (``queries``: e.g. the content and
    its mirror) and, ``penalty_bits / 256`` added, the least distance between any stored
    region and any of ``region_queries`` (:func:`region_query_fingerprints`)."""
    from rosvd.fingerprint import hamming_distance, query_distance
    best = query_distance(stored, queries)
    regions, windows = list(stored_regions), list(region_queries)
    if regions and windows:
        penalty = penalty_bits / (8 * len(stored))
        best = min(best, penalty + min(hamming_distance(r, q) for r in regions for q in windows))
    return best


def region_fingerprints(params: SVDParams, image: np.ndarray) -> list[bytes]:
    """Scheme-1 fingerprints of :func:`region_images` (what a certificate would store
    besides the full-image fingerprint), via the compiled bit-exact paths."""
    from rosvd.fingerprint import fingerprint_images_fast
    return fingerprint_images_fast(params, region_images(image))


def region_query_fingerprints(params: SVDParams, image: np.ndarray, mirrors: bool = QUERY_MIRRORS,
                              keeps=QUERY_KEEPS) -> list[bytes]:
    """Scheme-1 fingerprints of :func:`region_query_images` (matched against the stored
    region fingerprints; the least distance counts)."""
    from rosvd.fingerprint import fingerprint_images_fast
    return fingerprint_images_fast(params, region_query_images(image, mirrors, keeps))
