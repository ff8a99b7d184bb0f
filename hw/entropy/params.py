"""Parameters of the ring-oscillator entropy source and its SP 800-90B health tests.

One frozen dataclass is shared by the RTL (:mod:`.source`, :mod:`.health`,
:mod:`.ring_oscillator`), the software jitter model (``rosvd.sim.entropy_model``) and the
health report, so a cutoff or a width is derived in exactly one place
(:mod:`.cutoffs`).

``min_entropy`` (H) is the *assessed* min-entropy per raw bit: a claim made by an
SP 800-90B assessment of the raw samples of the real device (``rosvd entropy assess`` on
board captures), not a property of this code. The default 0.5 bit per raw bit is a
conservative planning value for XOR-combined FPGA ring oscillators sampled at the system
clock; it must be replaced by the assessed value of the board before any claim is made.
The health-test cutoffs follow from H and alpha, so an H set too high makes the tests
stricter on the real source (more false alarms), one set too low makes them blunter.
"""
from __future__ import annotations

from dataclasses import dataclass

#: SP 800-90B 4.4.2: the adaptive proportion test window for a binary (1-bit) source.
APT_WINDOW_BINARY = 1024
#: SP 800-90B 4.3 (item 1): start-up health tests run over at least 1024 consecutive samples.
STARTUP_SAMPLES_MIN = 1024
#: SP 800-90B 4.4: alpha lies in [2**-40, 2**-20]; 2**-20 is the recommended upper bound.
ALPHA_EXPONENT_DEFAULT = 20
ALPHA_EXPONENT_RANGE = (20, 40)
#: Stages per ring: odd (an even ring latches instead of oscillating), at least 3.
MIN_STAGES = 3
MAX_STAGES = 63
MAX_OSCILLATORS = 64
#: Bits per word on the raw-sample output stream.
WORD_WIDTH = 32


@dataclass(frozen=True)
class EntropyParams:
    """Entropy-source parameters.

    oscillators     ring oscillators in the bank (1..64), XOR-combined into one raw bit.
    stages          inverters per ring: odd, 3..63 (each one LUT1 on Xilinx).
    sample_period   system-clock cycles per raw sample (1 = every cycle). A longer period
                    lets more jitter accumulate between samples (more entropy per bit,
                    fewer bits per second).
    alpha_exponent  false-positive probability of each health test alpha = 2**-alpha_exponent,
                    20..40 (SP 800-90B 4.4); default 20.
    min_entropy     H, assessed min-entropy per raw bit, 0 < H <= 1 (see module docstring).
    apt_window      W, adaptive proportion test window in samples; SP 800-90B fixes 1024
                    for binary sources; other powers of two (64..65536) are accepted for
                    experiments and flagged by :attr:`sp800_90b_window`.
    startup_samples samples tested before any output is released, >= apt_window and
                    >= 1024 unless the window itself is smaller (experiments only).
    counter_width   width of the free-running status counters (8..64), which saturate.
    """

    oscillators: int = 8
    stages: int = 3
    sample_period: int = 1
    alpha_exponent: int = ALPHA_EXPONENT_DEFAULT
    min_entropy: float = 0.5
    apt_window: int = APT_WINDOW_BINARY
    startup_samples: int = STARTUP_SAMPLES_MIN
    counter_width: int = 32

    def __post_init__(self):
        def need(ok, message):
            if not ok:
                raise ValueError(f"EntropyParams: {message}")

        for name in ("oscillators", "stages", "sample_period", "alpha_exponent", "apt_window",
                     "startup_samples", "counter_width"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool),
                 f"{name} must be an int, not {value!r}")
        need(1 <= self.oscillators <= MAX_OSCILLATORS,
             f"oscillators must be in 1..{MAX_OSCILLATORS}, not {self.oscillators}")
        need(MIN_STAGES <= self.stages <= MAX_STAGES and self.stages % 2 == 1,
             f"stages must be odd and in {MIN_STAGES}..{MAX_STAGES} (an even ring does not oscillate),"
             f" not {self.stages}")
        need(1 <= self.sample_period <= 1 << 16,
             f"sample_period must be in 1..65536 cycles, not {self.sample_period}")
        lo, hi = ALPHA_EXPONENT_RANGE
        need(lo <= self.alpha_exponent <= hi,
             f"alpha_exponent must be in {lo}..{hi} (SP 800-90B 4.4: 2**-40 <= alpha <= 2**-20),"
             f" not {self.alpha_exponent}")
        need(isinstance(self.min_entropy, (int, float)) and not isinstance(self.min_entropy, bool)
             and 0 < self.min_entropy <= 1,
             f"min_entropy must be a number in (0, 1] bits per raw bit, not {self.min_entropy!r}")
        need(64 <= self.apt_window <= 1 << 16 and self.apt_window & (self.apt_window - 1) == 0,
             f"apt_window must be a power of two in 64..65536 (SP 800-90B: 1024 for a binary"
             f" source), not {self.apt_window}")
        need(self.startup_samples >= max(self.apt_window, min(STARTUP_SAMPLES_MIN, self.apt_window)),
             f"startup_samples must be >= apt_window={self.apt_window} (and >= 1024 for SP 800-90B),"
             f" not {self.startup_samples}")
        need(self.startup_samples <= 1 << 20, f"startup_samples must be <= 2**20, not {self.startup_samples}")
        need(8 <= self.counter_width <= 64, f"counter_width must be in 8..64, not {self.counter_width}")
        # Import here: cutoffs imports this module for the constants.
        from .cutoffs import apt_cutoff, rct_cutoff

        need(rct_cutoff(self) <= 1 << 12, f"repetition count cutoff {rct_cutoff(self)} is too large;"
             " raise min_entropy or lower alpha_exponent")
        need(apt_cutoff(self) <= self.apt_window,
             f"adaptive proportion cutoff {apt_cutoff(self)} exceeds the window {self.apt_window}:"
             " the test could never fire; raise min_entropy or the window")

    @property
    def alpha(self) -> float:
        """False-positive probability per test (exact power of two)."""
        return 2.0 ** -self.alpha_exponent

    @property
    def rct_cutoff(self) -> int:
        from .cutoffs import rct_cutoff

        return rct_cutoff(self)

    @property
    def apt_cutoff(self) -> int:
        from .cutoffs import apt_cutoff

        return apt_cutoff(self)

    @property
    def sp800_90b_window(self) -> bool:
        """Whether the APT window and start-up length are the SP 800-90B values for binary data."""
        return self.apt_window == APT_WINDOW_BINARY and self.startup_samples >= STARTUP_SAMPLES_MIN

    @property
    def word_width(self) -> int:
        return WORD_WIDTH
