"""`rosvd bench certify` at a small size: every documented key, a verified chain, sane ratios."""
from rosvd.bench.certify import run

KEYS = {"arrays_per_s", "files_per_s", "c2pa_files_per_s", "c2pa_files_per_s_no_thumbnail", "files_vs_c2pa",
        "vdf_share_pct", "vdf_blocking_pct", "seal_share_pct", "vdf_overhead_pct", "epoch_step_s",
        "chiavdf_raw_s", "epochs_sealed", "chain_verified", "params"}


def test_small_bench_run():
    result = run(count=96, files=6, batch=16, epoch_size=32, vdf_iterations=2000, c2pa_files=2)
    assert set(result) == KEYS
    assert result["chain_verified"] is True
    assert result["epochs_sealed"] == 3               # 96 arrays, 32 per epoch
    assert result["arrays_per_s"] > 0 and result["files_per_s"] > 0 and result["c2pa_files_per_s"] > 0
    assert 0 <= result["vdf_blocking_pct"] <= result["vdf_share_pct"] + 1e-9 < 100
    assert result["epoch_step_s"] > 0 and result["chiavdf_raw_s"] > 0
