"""The false-matches-per-query estimate (rosvd.bench.false_matches) and its keys in the bench."""
import numpy as np
import pytest
from scipy.stats import betabinom, binom, genpareto

from rosvd.bench.false_matches import (
    MIN_EMPIRICAL_PAIRS,
    RADII,
    STORED,
    bootstrap_upper,
    fit_beta_binomial,
    fit_lower_tail,
    histogram,
    largest_radius,
    markdown,
    rows,
)

PAIRS = 200_000


def _exceedance_sample(rng, shape=0.02, scale=4.0, centre=120):
    """``d = centre - ceil(Y)``, ``Y`` GPD: a lower tail the fit's family holds exactly."""
    draws = genpareto.rvs(shape, scale=scale, size=PAIRS, random_state=rng)
    values = np.clip(centre - np.ceil(draws), 0, 256)
    return values.astype(np.int64), lambda r: genpareto.sf(centre - 1 - r, shape, scale=scale)


@pytest.mark.parametrize("shape", [0.0, 0.02, 0.04])
def test_the_tail_fit_recovers_a_known_tail_decades_below_the_data(shape):
    values, exact = _exceedance_sample(np.random.default_rng(7), shape=shape)
    counts = np.bincount(values, minlength=257)
    fit = fit_lower_tail(counts)
    # Radii at least two decades under the smallest rate the sample can show (1 / PAIRS);
    # below 5 bits the law's truncation at d = 0 differs from the sample's clipping.
    radii = [r for r in range(5, int(values.min())) if exact(r) < 1e-2 / PAIRS]
    assert len(radii) >= 10, radii
    upper = bootstrap_upper(counts, radii)
    for radius, bound in zip(radii, upper, strict=True):
        truth = exact(radius)
        # The bootstrap's 95% bound covers the truth and stays within a few times it.
        assert truth <= bound < 6 * truth, (shape, radius, bound / truth)
        if shape == 0:      # an exponential tail: the point estimate itself, 3-11 decades below
            assert 1 / 3 < fit.cdf(radius) / truth < 3, (radius, fit.cdf(radius) / truth)
    _agrees_with_the_sample_where_it_is_dense(fit, values)


def _agrees_with_the_sample_where_it_is_dense(fit, values):
    for radius in range(int(values.min()), fit.threshold + 1):
        count = int((values <= radius).sum())
        if count >= 500:
            assert abs(fit.cdf(radius) * PAIRS / count - 1) < 0.2, radius


@pytest.mark.parametrize("name, sample, exact", [
    # Independent bits, and over-dispersed bits: tails lighter than exponential.
    ("binomial", lambda rng: rng.binomial(256, 0.38, PAIRS), lambda r: binom.cdf(r, 256, 0.38)),
    ("beta-binomial", lambda rng: betabinom.rvs(256, 26, 40, size=PAIRS, random_state=rng),
     lambda r: betabinom.cdf(r, 256, 26, 40)),
])
def test_on_a_light_tail_the_fit_errs_high_never_low(name, sample, exact):
    values = sample(np.random.default_rng(7))
    counts = np.bincount(values, minlength=257)
    fit = fit_lower_tail(counts)
    below = [r for r in range(0, int(values.min())) if exact(r) > 1e-30]
    assert below
    assert all(fit.cdf(r) >= 0.9 * exact(r) for r in below), name
    _agrees_with_the_sample_where_it_is_dense(fit, values)
    # The beta-binomial kept for contrast holds these laws and recovers them far below.
    contrast = fit_beta_binomial(counts)
    for radius in below[-12:]:
        assert 1 / 3 < float(contrast.cdf(radius) / exact(radius)) < 3, (name, radius)


def test_the_fit_is_skipped_on_too_few_pairs():
    assert fit_lower_tail(np.bincount(np.arange(80, 95), minlength=257)) is None   # 15 pairs


def _synthetic_rows(fit=True):
    rng = np.random.default_rng(3)
    different = betabinom.rvs(256, 12, 20, size=PAIRS, random_state=rng) / 256
    held = betabinom.rvs(256, 12, 20, size=50_000, random_state=rng) / 256
    same = {"held_out": {"jpeg50": rng.integers(0, 8, 300) / 256, "crop90": rng.integers(0, 50, 300) / 256}}
    attacked = {"crop90": betabinom.rvs(256, 10, 20, size=PAIRS, random_state=rng) / 256}
    return rows(different, held, same, fit=fit, attacked_queries=attacked)


def test_per_radius_rows_are_monotone_and_switch_to_the_model_below_the_data():
    result = _synthetic_rows()
    table = result["rows"]
    assert [row["radius"] for row in table] == list(RADII)
    for key in ("fpr", "model_fpr", "model_fpr_upper95", "fpr_upper95", "false_matches_per_query",
                "false_matches_per_query_upper95", "beta_binomial_fpr"):
        values = [row[key] for row in table]
        assert values == sorted(values), key
    for part in ("empirical_tuning", "empirical_held_out"):
        counts = [row[part]["pairs"] for row in table]
        assert counts == sorted(counts), part
    for attack in ("jpeg50", "crop90"):
        tprs = [row["tpr"]["held_out"][attack] for row in table]
        assert tprs == sorted(tprs) and 0 <= tprs[0] and tprs[-1] == 1.0
    for row in table:
        assert row["false_matches_per_query"] == STORED * row["fpr"]
        assert row["fpr_upper95"] >= row["fpr"]
        assert row["empirical_tuning"]["upper95"] >= row["empirical_tuning"]["fpr"]
        if row["empirical_tuning"]["pairs"] >= MIN_EMPIRICAL_PAIRS:
            assert row["source"] == "empirical" and row["fpr"] == row["empirical_tuning"]["fpr"]
        else:
            assert row["source"].startswith("model")
    assert table[0]["source"] == "model" and table[-1]["source"] == "empirical"
    assert set(table[0]["empirical_attacked_queries_worst"]) == {"attack", "pairs", "fpr"}
    assert sum(result["histogram_tuning"]) == PAIRS and len(result["histogram_tuning"]) == 257
    assert result["fit"]["family"].startswith("generalized Pareto")
    assert result["beta_binomial_fit"]["family"] == "beta-binomial"
    assert all(row["beta_binomial_fpr"] is not None for row in table)
    # The largest radius under a budget really is under it, and the next one is not.
    budget = table[20]["false_matches_per_query"]
    radius = largest_radius(table, budget)
    assert table[radius]["false_matches_per_query"] <= budget < table[radius + 1]["false_matches_per_query"]


def test_without_a_fit_rows_on_few_pairs_are_flagged_and_never_chosen():
    table = _synthetic_rows(fit=False)["rows"]
    assert all(row["model_fpr"] is None and row["beta_binomial_fpr"] is None for row in table)
    few = [row for row in table if row["empirical_tuning"]["pairs"] < MIN_EMPIRICAL_PAIRS]
    assert few and all(row["source"] == "empirical (few pairs)" for row in few)
    assert largest_radius(table, 1e9) == RADII[-1]
    assert largest_radius(few, 1e9) is None


def test_histogram_counts_bits():
    assert histogram([0.0, 1 / 256, 1 / 256, 1.0]).tolist() == [1, 2] + [0] * 254 + [1]


def test_quick_bench_emits_the_false_match_keys():
    from rosvd.bench.fingerprint import ATTACKS, FALSE_MATCH_METHODS, run
    result = run(quick=True)
    false_matches = result["false_matches"]
    assert {"stored", "radii", "min_empirical_pairs", "model", "assumption", "largest_radius_below",
            "methods"} <= set(false_matches)
    assert false_matches["stored"] == 10_000_000 and false_matches["radii"] == list(range(53))
    assert set(false_matches["methods"]) == set(FALSE_MATCH_METHODS) == {"rosvd", "rosvd_mirror"}
    for method, entry in false_matches["methods"].items():
        assert sum(entry["histogram_tuning"]) == result["pairs"]["different_tuning"]
        assert sum(entry["histogram_held_out"]) == result["pairs"]["different_held_out"]
        assert len(entry["rows"]) == 53
        for row in entry["rows"]:
            assert set(row["tpr"]) == {"tuning", "photos", "held_out"}
            assert set(row["tpr"]["held_out"]) == set(ATTACKS)
        # The per-radius TPR agrees with the bench's own at its threshold (d < t, t in bits).
        threshold = round(result["methods"][method]["thresholds"]["0.0001"] * 256)
        row = entry["rows"][min(threshold - 1, 52)]
        expected = result["methods"][method]["held_out"]["jpeg50"]["tpr@0.0001"]
        assert row["tpr"]["held_out"]["jpeg50"] == expected
    assert "| 39 |" in markdown(false_matches)
