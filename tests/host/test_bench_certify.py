"""`rosvd bench certify` at a small size: every documented key, a verified chain, sane ratios,
epochs sealing during the file run, and the baseline given the same files and threads."""
from rosvd.bench import c2pa_baseline
from rosvd.bench.certify import run

KEYS = {"arrays_per_s", "files_per_s", "c2pa_files_per_s", "c2pa_no_thumbnail_files_per_s", "files_vs_c2pa",
        "files_vs_c2pa_no_thumbnail", "files_vs_c2pa_no_thumbnail_rounds", "files_epochs_sealed",
        "files_vdf_blocking_pct",
        "files_seal_share_pct", "vdf_share_pct", "vdf_blocking_pct", "seal_share_pct", "vdf_overhead_pct",
        "epoch_step_s", "chiavdf_raw_s", "epochs_sealed", "chain_verified", "params"}


def test_small_bench_run(monkeypatch):
    baseline_calls = []
    real = c2pa_baseline.files_per_s

    def recording(paths, **options):
        baseline_calls.append((sorted(p.name for p in paths), options))
        return real(paths, **options)

    monkeypatch.setattr(c2pa_baseline, "files_per_s", recording)
    result = run(count=96, files=6, batch=16, epoch_size=32, files_epoch_size=2, vdf_iterations=2000,
                 threads=2)
    assert set(result) == KEYS
    assert result["chain_verified"] is True
    assert result["epochs_sealed"] == 3               # 96 arrays, 32 per epoch
    assert result["files_epochs_sealed"] == 3         # 6 files, 2 per epoch: the VDF is in the clock
    assert result["arrays_per_s"] > 0 and result["files_per_s"] > 0 and result["c2pa_files_per_s"] > 0
    assert 0 <= result["vdf_blocking_pct"] <= result["vdf_share_pct"] + 1e-9 < 100
    assert 0 < result["files_vdf_blocking_pct"] < 100
    assert result["epoch_step_s"] > 0 and result["chiavdf_raw_s"] > 0
    rounds = result["files_vs_c2pa_no_thumbnail_rounds"]
    assert len(rounds) == 3 and result["files_vs_c2pa_no_thumbnail"] == sorted(rounds)[1]
    # c2pa signs every one of our files, with and without its thumbnail, on as many threads.
    names = [f"image{i:05d}.png" for i in range(6)]
    lean = (names, {"thumbnails": False, "threads": 2})
    assert baseline_calls == [lean, lean, lean, (names, {"threads": 2})]
    assert result["params"]["threads"] == 2 and result["params"]["c2pa_files"] == 6
