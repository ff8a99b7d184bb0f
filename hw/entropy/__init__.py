"""Ring-oscillator entropy source with SP 800-90B continuous health tests (see docs/entropy-source.md)."""
