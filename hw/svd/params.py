"""Parameters of the RO-SVD decomposition engine and the widths derived from them.

One frozen dataclass is shared by the bit-exact model (:mod:`.model`) and the RTL
(:mod:`.engine`), so a width is computed in exactly one place.

Fixed-point formats (all two's complement, ``Qi.f`` = i integer bits incl. sign, f fraction):

* input element ``x``: signed ``data_width`` integer, interpreted as an integer.
* column word ``a`` (matrix being orthogonalised): ``x << guard_bits`` held in
  ``col_width = data_width + clog2(n) + 1 + guard_bits`` bits.  Every entry of a
  rotated column is bounded by the column's norm, which is bounded by the spectral
  norm ``||X||_2 <= n * 2**(data_width-1)``; ``clog2(n)`` bits cover that growth and
  one more bit keeps a margin for rounding, so saturation never triggers for inputs
  in range (it is still implemented, so an out-of-model state cannot wrap:
  ``tests/hw/test_rotation_unit.py`` drives column words and vector elements up to their
  formats' extremes into a rotation unit and checks that they come out clamped as
  :func:`.model.rotate` clamps them).
* dot products ``alpha, beta, gamma``: exact integer sums of column-word products,
  ``dot_width = 2*col_width + clog2(n)`` bits; no rounding, so their order of
  accumulation does not matter (the RTL may accumulate in any order).
* rotation ``c, s``: ``Q2.cs_frac`` in ``cs_frac + 2`` bits (18 by default, one
  DSP48 B port). ``|theta| <= pi/4`` so ``c`` lies in ``[0.7, 1]``.
* right singular vectors ``v``: ``Q2.(v_width-2)``; orthogonal, so ``|v| <= 1``.
* CORDIC datapath: ``cordic_width`` bits; vectoring inputs are normalised to
  ``cordic_width-3`` magnitude bits (gain 1.65 * sqrt 2 < 4), angles carry
  ``cordic_width-3`` fraction bits per radian (sum of the table < 1.75 rad).
* singular values ``sigma``: ``floor(sqrt(sum a**2))``, same scale as column words.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Largest product width the numpy model handles exactly in int64 (sign bit kept).
MODEL_INT_BITS = 62
#: Sizes the engine is specified and tested for.
SUPPORTED_N = (8, 16, 32, 64)


def clog2(value: int) -> int:
    """Smallest ``b`` with ``2**b >= value``."""
    return max(0, (value - 1).bit_length())


@dataclass(frozen=True)
class SVDParams:
    """Engine parameters.

    n            matrix size (square n x n); one of :data:`SUPPORTED_N`.
    k            number of right singular vectors returned (top-k by singular value).
    data_width   bits of a signed input element.
    sweeps       maximum number of Jacobi sweeps (each sweep: n-1 rounds of n/2 pairs).
    skip_shift   convergence threshold T: a pair is left unrotated when
                 ``|gamma| < 2**-T * sqrt(alpha*beta)`` is guaranteed by bit lengths;
                 a sweep without any rotation ends the decomposition early.
                 ``None`` disables the threshold (fixed sweep count).
    units        parallel rotation units; must divide n/2. Area scales with it,
                 rotation time with n/(2*units).
    guard_bits   fraction bits appended to input elements in the column words.
    cs_frac      fraction bits of cos/sin.
    v_width      bits of a singular vector element (Q2.(v_width-2)).
    cordic_width CORDIC datapath width.
    cordic_iters CORDIC iterations (each mode).
    angle_share  rotation units that take turns on one shared, fully pipelined angle
                 (CORDIC) pipeline; the engine has ``ceil(units / angle_share)`` of
                 them. Each round waits ``angle_slots - 1`` cycles more than with one
                 pipeline per unit, so this trades LUTs against cycles.
    """

    n: int = 32
    k: int = 4
    data_width: int = 16
    sweeps: int = 8
    skip_shift: int | None = None
    units: int = 16
    guard_bits: int = 2
    cs_frac: int = 16
    v_width: int = 18
    cordic_width: int = 24
    cordic_iters: int = 16
    #: 8 by default: at n=32 with 16 units, two pipelines cost 7 cycles per round
    #: (248 rounds: 1,736 cycles, 24,733 in all with the current pipeline depths) and
    #: leave room under the 25,000-cycle target for deeper pipelining; one pipeline (15
    #: cycles per round, 26,717 in all) would miss it. (tests/hw/test_cycle_figures.py)
    angle_share: int = 8

    def __post_init__(self):
        def need(ok, message):
            if not ok:
                raise ValueError(f"SVDParams: {message}")

        need(self.n in SUPPORTED_N, f"n must be one of {SUPPORTED_N}, not {self.n}")
        need(1 <= self.k <= self.n, f"k must be in 1..n={self.n}, not {self.k}")
        need(2 <= self.data_width <= 24, f"data_width must be in 2..24, not {self.data_width}")
        need(self.sweeps >= 1, f"sweeps must be >= 1, not {self.sweeps}")
        need(self.skip_shift is None or 1 <= self.skip_shift <= 30,
             f"skip_shift must be None or in 1..30, not {self.skip_shift}")
        need(self.units >= 1 and (self.n // 2) % self.units == 0,
             f"units must divide n/2={self.n // 2}, not {self.units}")
        need(0 <= self.guard_bits <= 8, f"guard_bits must be in 0..8, not {self.guard_bits}")
        need(8 <= self.cs_frac <= 24, f"cs_frac must be in 8..24, not {self.cs_frac}")
        need(4 <= self.v_width <= 30, f"v_width must be in 4..30, not {self.v_width}")
        need(self.cs_frac + 2 <= self.cordic_width - 2 <= 40,
             f"cordic_width must be in cs_frac+4..42, not {self.cordic_width}")
        need(4 <= self.cordic_iters <= self.cordic_width,
             f"cordic_iters must be in 4..cordic_width, not {self.cordic_iters}")
        need(self.angle_share >= 1, f"angle_share must be >= 1, not {self.angle_share}")
        need(self.dot_width + 1 <= MODEL_INT_BITS,
             f"2*col_width + clog2(n) + 1 = {self.dot_width + 1} exceeds {MODEL_INT_BITS} bits;"
             " lower data_width or guard_bits")
        need(self.col_width + self.cs_frac + 2 <= MODEL_INT_BITS, "col_width + cs width too large")

    # Derived widths -------------------------------------------------------------------
    @property
    def half(self) -> int:
        """Pairs per round (n/2)."""
        return self.n // 2

    @property
    def pairs_per_unit(self) -> int:
        """Pairs each rotation unit processes, one after another, in a round."""
        return self.half // self.units

    @property
    def angle_pipelines(self) -> int:
        """Shared angle pipelines: ``ceil(units / angle_share)``."""
        return -(-self.units // self.angle_share)

    @property
    def angle_slots(self) -> int:
        """Units feeding one angle pipeline, one per cycle: the issue cycles of a round."""
        return -(-self.units // self.angle_pipelines)

    @property
    def rounds_per_sweep(self) -> int:
        return self.n - 1

    @property
    def col_width(self) -> int:
        return self.data_width + clog2(self.n) + 1 + self.guard_bits

    @property
    def dot_width(self) -> int:
        return 2 * self.col_width + clog2(self.n)

    @property
    def cs_width(self) -> int:
        return self.cs_frac + 2

    @property
    def v_frac(self) -> int:
        return self.v_width - 2

    @property
    def sigma_width(self) -> int:
        """Unsigned bits of a singular value (< 2**(col_width-1))."""
        return self.col_width - 1

    @property
    def out_width(self) -> int:
        """Payload bits of an output word: sigma (unsigned) or v (signed), sign-extended."""
        return max(self.col_width, self.v_width)

    @property
    def cordic_frac(self) -> int:
        """Fraction bits of CORDIC magnitudes in rotation mode and of angles (per radian)."""
        return self.cordic_width - 3

    @property
    def input_min(self) -> int:
        return -(1 << (self.data_width - 1))

    @property
    def input_max(self) -> int:
        return (1 << (self.data_width - 1)) - 1

    @property
    def output_words(self) -> int:
        """Words per decomposition on the output stream: n sigmas then k vectors of n."""
        return self.n + self.k * self.n
