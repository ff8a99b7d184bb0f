"""Host conditioning: SHA-256 blocks over raw bits and the SP 800-90B 3.1.5.1.2 entropy credit."""
import hashlib

import pytest

from rosvd.entropy.conditioner import (
    DOMAIN,
    OUTPUT_BITS,
    Conditioner,
    ConditioningError,
    output_entropy,
)


@pytest.mark.parametrize("n_in,h_in", [(256, 64), (256, 128), (512, 200), (1024, 250), (1024, 256)])
def test_credit_never_exceeds_input_entropy_or_output_size(n_in, h_in):
    credited = output_entropy(n_in, OUTPUT_BITS, 256, h_in)
    assert credited <= min(h_in, OUTPUT_BITS) + 1e-9
    # Well below the output size, the credit is the input entropy (within rounding).
    if h_in <= OUTPUT_BITS - 32:
        assert credited == pytest.approx(h_in, abs=1e-6)


def test_full_entropy_needs_64_extra_bits():
    # SP 800-90B: h_in >= n_out + 64 gives (essentially) full-entropy output ...
    assert output_entropy(320, 256, 256, 320) > 256 - 1e-6
    # ... while h_in = n_out falls several bits short of it.
    assert output_entropy(256, 256, 256, 256) < 256 - 2


def test_credit_grows_with_input_entropy():
    credits = [output_entropy(1024, 256, 256, h) for h in (100, 200, 250, 280, 320, 512)]
    assert credits == sorted(credits)


def test_defaults_credit_full_entropy_at_h_one_half():
    conditioner = Conditioner(0.5)
    assert conditioner.credited_bits > 256 - 1e-9


def test_blocks_are_sha256_of_domain_counter_and_raw():
    conditioner = Conditioner(0.5)
    raw = bytes(range(128)) * 2
    first, second = conditioner.condition(raw, simulated=True)
    assert first.data == hashlib.sha256(DOMAIN + (0).to_bytes(8, "big") + raw[:128]).digest()
    assert second.data == hashlib.sha256(DOMAIN + (1).to_bytes(8, "big") + raw[128:]).digest()
    assert first.simulated and second.simulated
    # Identical raw input (a stuck source) still gives distinct blocks, credited no more.
    again = conditioner.condition(raw[:128], simulated=False)[0]
    assert again.data != first.data and not again.simulated


def test_refusals():
    with pytest.raises(ConditioningError):
        Conditioner(0.0)
    with pytest.raises(ConditioningError):
        Conditioner(0.5, raw_bits=100)
    conditioner = Conditioner(0.5)
    with pytest.raises(ConditioningError, match="multiple of 128"):
        conditioner.condition(bytes(100), simulated=True)
    with pytest.raises(ConditioningError):
        conditioner.condition(b"", simulated=True)
    with pytest.raises(ConditioningError):
        output_entropy(256, 256, 256, 300)
    assert conditioner.raw_bytes_for(33) == 256 and conditioner.raw_bytes_for(32) == 128
