"""False matches per query at scale, from the fingerprint bench's different-content pairs.

For a match rule "distance <= r bits" the per-pair false-positive rate is
``FPR(r) = P(d <= r)`` over pairs of unrelated content. It is *empirical* (pairs at or
below ``r`` over all pairs) where at least :data:`MIN_EMPIRICAL_PAIRS` pairs fall there,
and read from a lower-tail model fitted on the tuning pairs beyond. A store of ``N``
certificates of content unrelated to the query then returns ``N * FPR(r)`` false matches
per query on average.

The tail model (:func:`fit_lower_tail`) is a **beta-binomial** on ``bits`` trials fitted
by censored maximum likelihood to the lower tail: pairs at or below the threshold ``u``
(the :data:`TAIL_FRACTION` quantile) enter with their exact distance, pairs above only
as a count, ``P(d > u)``. Why this family: a distance of unrelated codes is a count of
differing bits, a binomial if every pair disagreed on each bit with the same
probability; unrelated content that happens to look alike (two smooth gradients, two
gratings) disagrees less, so the per-pair rate varies from pair to pair, which is what a
beta mixture of binomials is. It contains the binomial (the limit of no over-dispersion),
has a bounded support like the data, and needs two parameters; a normal or Pareto tail
fitted to the same points has no such reason and no floor at 0 bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Radii reported, in bits of 256.
RADII = tuple(range(0, 53))
#: Store size the false matches per query are computed for.
STORED = 10_000_000
#: An empirical rate is used only where at least this many pairs lie at or below the radius.
MIN_EMPIRICAL_PAIRS = 10
#: The share of pairs (lowest distances) whose exact values the tail fit uses.
TAIL_FRACTION = 0.05
#: The fit is skipped below this many pairs in the tail (a ``--quick`` run has about 5).
MIN_TAIL_PAIRS = 20

INDEPENDENCE = (
    "false matches per query = N * FPR(r) is the expectation over N stored certificates of"
    " content unrelated to the query, each distributed like the bench's unrelated images (by"
    " linearity, true whatever their dependence); P(any false match) = 1 - exp(-N FPR) further"
    " assumes the N matches independent (Poisson); look-alike clusters in a real store make"
    " the count burstier (same mean, larger variance)")


def bit_distances(distances, bits: int = 256) -> np.ndarray:
    """Normalised Hamming distances (multiples of ``1/bits``) -> integer bit counts."""
    return np.rint(np.asarray(distances, dtype=np.float64) * bits).astype(np.int64)


def histogram(distances, bits: int = 256) -> np.ndarray:
    """Counts of pairs at each bit distance ``0..bits`` (length ``bits + 1``)."""
    return np.bincount(bit_distances(distances, bits), minlength=bits + 1)[:bits + 1]


@dataclass(frozen=True)
class TailFit:
    """A beta-binomial ``BB(bits, alpha, beta)`` fitted to the lower tail ``d <= threshold``."""
    bits: int
    alpha: float
    beta: float
    threshold: int          #: ``u``: distances at or below it entered exactly
    tail_pairs: int         #: pairs at or below ``u``
    pairs: int              #: all pairs

    def cdf(self, radius) -> np.ndarray:
        """Model ``P(d <= radius)``."""
        from scipy.stats import betabinom
        return betabinom.cdf(np.asarray(radius), self.bits, self.alpha, self.beta)

    def as_json(self) -> dict:
        return {"family": "beta-binomial", "bits": self.bits, "alpha": self.alpha, "beta": self.beta,
                "mean_bits": self.bits * self.alpha / (self.alpha + self.beta),
                "threshold_bits": self.threshold, "tail_pairs": self.tail_pairs, "pairs": self.pairs,
                "method": "censored maximum likelihood: pairs <= threshold exactly, pairs above as a count"}


def fit_lower_tail(counts, tail_fraction: float = TAIL_FRACTION) -> TailFit | None:
    """Fit :class:`TailFit` to a histogram ``counts[d]`` (pairs at ``d`` bits, ``d = 0..bits``);
    ``None`` when the tail holds fewer than :data:`MIN_TAIL_PAIRS` pairs."""
    from scipy.optimize import minimize
    from scipy.stats import betabinom
    counts = np.asarray(counts, dtype=np.float64)
    bits, total = len(counts) - 1, counts.sum()
    cumulative = np.cumsum(counts)
    threshold = int(np.searchsorted(cumulative, tail_fraction * total))
    tail = counts[:threshold + 1]
    if tail.sum() < MIN_TAIL_PAIRS:
        return None
    above = total - cumulative[threshold]
    support = np.arange(threshold + 1)

    def parameters(theta):          # (logit of the mean rate, log of alpha + beta): well conditioned
        mean_rate, scale = 1 / (1 + np.exp(-theta[0])), np.exp(theta[1])
        return mean_rate * scale, (1 - mean_rate) * scale

    def negative_log_likelihood(theta):
        alpha, beta = parameters(theta)
        log_pmf = betabinom.logpmf(support, bits, alpha, beta)
        log_above = betabinom.logsf(threshold, bits, alpha, beta)
        value = -(tail @ log_pmf + above * log_above)
        return value if np.isfinite(value) else 1e300

    # Start from the moments of the whole histogram (over-dispersion floored at binomial's).
    values = np.arange(bits + 1)
    mean = values @ counts / total
    variance = ((values - mean) ** 2) @ counts / total
    p = min(max(mean / bits, 1e-3), 1 - 1e-3)
    binomial = bits * p * (1 - p)
    rho = min(max((variance / binomial - 1) / (bits - 1), 1e-4), 0.5)   # intra-class correlation
    scale = 1 / rho - 1                                                  # alpha + beta
    best = minimize(negative_log_likelihood, [np.log(p / (1 - p)), np.log(scale)], method="Nelder-Mead",
                    options={"xatol": 1e-5, "fatol": 1e-4, "maxiter": 2000})
    alpha, beta = (float(v) for v in parameters(best.x))
    return TailFit(bits, alpha, beta, threshold, int(tail.sum()), int(total))


def empirical_upper(count: int, pairs: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate observed as ``count`` of ``pairs``."""
    from scipy.stats import beta
    return 1.0 if count >= pairs else float(beta.ppf(confidence, count + 1, pairs - count))


def rows(different_tuning, different_held_out, same: dict, stored: int = STORED, radii=RADII,
         bits: int = 256, fit: TailFit | None | bool = True, attacked_queries: dict | None = None) -> dict:
    """Per-radius false-match rows for one method.

    ``different_*``: the unrelated pairs' distances (normalised); ``same``: part -> attack ->
    the copies' distances; ``fit``: ``True`` to fit the tuning tail here, ``False`` to skip,
    or a :class:`TailFit`; ``attacked_queries``: attack -> distances of unrelated pairs whose
    query is an attacked copy (tuning), reported as the worst attack's empirical rate."""
    tuning, held = histogram(different_tuning, bits), histogram(different_held_out, bits)
    if fit is True:
        fit = fit_lower_tail(tuning)
    fit = fit or None
    cum_tuning, cum_held = np.cumsum(tuning), np.cumsum(held)
    pairs_tuning, pairs_held = int(tuning.sum()), int(held.sum())
    cum_same = {part: {name: (np.cumsum(histogram(values, bits)), len(values)) for name, values in by.items()}
                for part, by in same.items()}
    cum_attacked = {name: (np.cumsum(histogram(values, bits)), len(values))
                    for name, values in (attacked_queries or {}).items()}
    model = fit.cdf(np.asarray(radii)) if fit is not None else None
    out = []
    for index, radius in enumerate(radii):
        count = int(cum_tuning[radius])
        empirical = count / pairs_tuning if pairs_tuning else 0.0
        row = {"radius": int(radius), "distance": radius / bits,
               "empirical_tuning": {"pairs": count, "fpr": empirical,
                                    "upper95": empirical_upper(count, pairs_tuning) if pairs_tuning else 1.0},
               "empirical_held_out": {"pairs": int(cum_held[radius]),
                                      "fpr": int(cum_held[radius]) / pairs_held if pairs_held else 0.0},
               "model_fpr": float(model[index]) if model is not None else None}
        if cum_attacked:
            worst = max(cum_attacked, key=lambda name: cum_attacked[name][0][radius] / max(1, cum_attacked[name][1]))
            row["empirical_attacked_queries_worst"] = {
                "attack": worst, "pairs": int(cum_attacked[worst][0][radius]),
                "fpr": float(cum_attacked[worst][0][radius] / max(1, cum_attacked[worst][1]))}
        use_model = count < MIN_EMPIRICAL_PAIRS and model is not None
        row["source"] = "model" if use_model else (
            "empirical" if count >= MIN_EMPIRICAL_PAIRS else "empirical (few pairs)")
        row["fpr"] = row["model_fpr"] if use_model else empirical
        row["tpr"] = {part: {name: round(float(cum[radius] / size), 4) if size else None
                             for name, (cum, size) in by.items()} for part, by in cum_same.items()}
        out.append(row)
    # Where the model hands over to the empirical rate the two may cross by a little; the
    # reported rate is made non-decreasing in r by capping a model value at the next row's.
    for below, above in zip(reversed(out[:-1]), reversed(out[1:])):
        if below["fpr"] > above["fpr"]:
            below["fpr"] = above["fpr"]
            below["source"] += " (capped)"
    for row in out:
        row["false_matches_per_query"] = stored * row["fpr"]
    return {"fit": fit.as_json() if fit is not None else None,
            "histogram_tuning": tuning.tolist(), "histogram_held_out": held.tolist(), "rows": out}


def largest_radius(method_rows: list[dict], budget: float) -> int | None:
    """The largest radius whose false matches per query stay at or below ``budget`` (rows resting
    on fewer than :data:`MIN_EMPIRICAL_PAIRS` pairs without a model do not count)."""
    within = [row["radius"] for row in method_rows
              if row["false_matches_per_query"] <= budget and "few pairs" not in row["source"]]
    return max(within) if within else None


def markdown(false_matches: dict, radii=(16, 20, 24, 28, 32, 36, 39, 40),
             attacks=("jpeg50", "crop90", "rotate2", "mirror", "letterbox20", "rotate5", "caption14",
                      "screenshot")) -> str:
    """docs/fingerprint.md's table of false matches per query from a run's ``false_matches``."""
    lines = []
    for method, entry in false_matches["methods"].items():
        by_radius = {row["radius"]: row for row in entry["rows"]}
        lines += [f"`{method}`:", "",
                  "| r (bits) | empirical tuning (pairs) | held out (pairs) | model | FPR used "
                  f"| false matches / query at {false_matches['stored']:,} | "
                  + " | ".join(f"TPR {a}" for a in attacks) + " |",
                  "|---|---|---|---|---|---|" + "---|" * len(attacks)]
        for radius in radii:
            row = by_radius[radius]
            emp, held = row["empirical_tuning"], row["empirical_held_out"]
            model = "-" if row["model_fpr"] is None else f"{row['model_fpr']:.1e}"
            lines.append(f"| {radius} | {emp['fpr']:.1e} ({emp['pairs']}) | {held['fpr']:.1e} ({held['pairs']})"
                         f" | {model} | {row['fpr']:.1e} | {row['false_matches_per_query']:.2g} | "
                         + " | ".join(f"{row['tpr']['held_out'][a]:.3f}" for a in attacks) + " |")
        lines.append("")
    return "\n".join(lines)
