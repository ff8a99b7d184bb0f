"""False matches per query at scale, from the fingerprint bench's different-content pairs.

For a match rule "distance <= r bits" the per-pair false-positive rate is
``FPR(r) = P(d <= r)`` over pairs of unrelated content. It is *empirical* (pairs at or
below ``r`` over all pairs) where at least :data:`MIN_EMPIRICAL_PAIRS` pairs fall there,
and read from a lower-tail model fitted on the tuning pairs beyond. A store of ``N``
certificates of content unrelated to the query then returns ``N * FPR(r)`` false matches
per query on average.

The tail model (:func:`fit_lower_tail`) is a **generalized Pareto** (GPD) on the lower
tail, the extreme-value law of the excess below a threshold: with ``u`` the
:data:`TAIL_FRACTION` quantile of the tuning distances, ``y = u - d`` for the pairs at or
below ``u`` is GPD(shape ``xi``, scale ``sigma``), fitted by maximum likelihood on the
discrete distances (``d = k`` is ``y`` in ``[u - k, u - k + 1)``), and
``P(d <= r) = P(d <= u) P(y >= u - r | y < u + 1)``. Why this one: the closest unrelated
pairs are look-alikes (two gratings, two smooth gradients), a population of its own, so
the lower tail is heavier than any binomial-like law of the whole distribution; a
beta-binomial (:func:`fit_beta_binomial`, a beta mixture of binomials on 256 bits, fitted
the same censored way) is kept for contrast and gives 0.36-0.85 of the empirical rates
at 38-52 bits and 1/30-1/8 of the few pairs at 28-32, while the GPD assumes only a
smooth tail and follows them (0.83-1.41 at 38-52 bits). On a
light tail (a binomial) the GPD errs high, so the false matches it reports are an
over-estimate, not an under-estimate (tests/host/test_false_matches.py).
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
#: The share of pairs (lowest distances) whose exact values the tail fit uses (about 1,900
#: of the 193,131 tuning pairs: u = 62 bits for one fingerprint, 60 for the mirror query).
TAIL_FRACTION = 0.01
#: Bootstrap resamples for the model's upper bound (about 40 ms a fit).
BOOTSTRAP_RESAMPLES = 40
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
    """A generalized Pareto law of ``u - d`` fitted to the lower tail ``d <= u = threshold``."""
    bits: int
    shape: float            #: ``xi``: 0 an exponential tail, > 0 heavier, < 0 bounded
    scale: float            #: ``sigma``, in bits
    threshold: int          #: ``u``: distances at or below it entered exactly
    tail_pairs: int         #: pairs at or below ``u``
    pairs: int              #: all pairs

    def cdf(self, radius) -> np.ndarray:
        """Model ``P(d <= radius)`` for ``radius <= threshold``."""
        from scipy.stats import genpareto
        radius = np.asarray(radius, dtype=np.float64)
        survival = genpareto.sf(self.threshold - radius, self.shape, scale=self.scale)
        floor = genpareto.sf(self.threshold + 1.0, self.shape, scale=self.scale)
        return self.tail_pairs / self.pairs * np.clip((survival - floor) / (1 - floor), 0.0, 1.0)

    def as_json(self) -> dict:
        return {"family": "generalized Pareto of u - d", "shape": self.shape, "scale": self.scale,
                "threshold_bits": self.threshold, "tail_pairs": self.tail_pairs, "pairs": self.pairs,
                "method": "maximum likelihood on the pairs <= threshold (discrete: d = k is u - d in"
                          " [u - k, u - k + 1)), scaled by their share of all pairs"}


def _tail(counts, tail_fraction):
    counts = np.asarray(counts, dtype=np.float64)
    cumulative = np.cumsum(counts)
    threshold = int(np.searchsorted(cumulative, tail_fraction * counts.sum()))
    return counts, threshold, counts[:threshold + 1]


def fit_lower_tail(counts, tail_fraction: float = TAIL_FRACTION) -> TailFit | None:
    """Fit :class:`TailFit` to a histogram ``counts[d]`` (pairs at ``d`` bits, ``d = 0..bits``);
    ``None`` when the tail holds fewer than :data:`MIN_TAIL_PAIRS` pairs."""
    from scipy.optimize import minimize
    from scipy.stats import genpareto
    counts, threshold, tail = _tail(counts, tail_fraction)
    if tail.sum() < MIN_TAIL_PAIRS:
        return None
    excess = threshold - np.arange(threshold + 1, dtype=np.float64)      # u - k
    seen = tail > 0
    tail, excess_seen = tail[seen], excess[seen]

    def negative_log_likelihood(theta):
        shape, scale = abs(theta[0]), np.exp(theta[1])   # xi >= 0: no finite end below the data
        mass = genpareto.sf(excess_seen, shape, scale=scale) - genpareto.sf(excess_seen + 1.0, shape,
                                                                            scale=scale)
        within = 1 - genpareto.sf(threshold + 1.0, shape, scale=scale)     # P(0 <= d <= u)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -(tail @ np.log(mass / within))
        return value if np.isfinite(value) else 1e300

    mean_excess = float(tail @ excess_seen / tail.sum()) + 0.5
    best = minimize(negative_log_likelihood, [0.0, np.log(mean_excess)], method="Nelder-Mead",
                    options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 2000})
    return TailFit(len(counts) - 1, float(abs(best.x[0])), float(np.exp(best.x[1])), threshold,
                   int(tail.sum()), int(counts.sum()))


def bootstrap_upper(counts, radii, resamples: int = BOOTSTRAP_RESAMPLES, quantile: float = 0.95,
                    tail_fraction: float = TAIL_FRACTION, seed: int = 0) -> np.ndarray | None:
    """The ``quantile`` of the fitted ``P(d <= r)`` over ``resamples`` parametric-free bootstrap
    histograms (all pairs redrawn, multinomial): the fit's own sampling uncertainty, which
    grows as ``r`` goes below the data (mostly the shape's)."""
    counts = np.asarray(counts, dtype=np.int64)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        fit = fit_lower_tail(rng.multinomial(counts.sum(), counts / counts.sum()), tail_fraction)
        if fit is None:
            return None
        draws.append(fit.cdf(np.asarray(radii)))
    return np.quantile(np.array(draws), quantile, axis=0)


@dataclass(frozen=True)
class BetaBinomialFit:
    """For contrast: a beta-binomial ``BB(bits, alpha, beta)`` fitted to the lower tail."""
    bits: int
    alpha: float
    beta: float
    threshold: int

    def cdf(self, radius) -> np.ndarray:
        from scipy.stats import betabinom
        return betabinom.cdf(np.asarray(radius), self.bits, self.alpha, self.beta)

    def as_json(self) -> dict:
        return {"family": "beta-binomial", "bits": self.bits, "alpha": self.alpha, "beta": self.beta,
                "threshold_bits": self.threshold,
                "method": "censored maximum likelihood: pairs <= threshold exactly, pairs above as a count"}


def fit_beta_binomial(counts, tail_fraction: float = TAIL_FRACTION) -> BetaBinomialFit | None:
    """Censored maximum-likelihood beta-binomial on ``bits`` trials (``None`` on a thin tail)."""
    from scipy.optimize import minimize
    from scipy.stats import betabinom
    counts, threshold, tail = _tail(counts, tail_fraction)
    if tail.sum() < MIN_TAIL_PAIRS:
        return None
    bits, total = len(counts) - 1, counts.sum()
    above = total - tail.sum()
    support = np.arange(threshold + 1)

    def parameters(theta):          # (logit of the mean rate, log of alpha + beta): well conditioned
        mean_rate, scale = 1 / (1 + np.exp(-theta[0])), np.exp(theta[1])
        return mean_rate * scale, (1 - mean_rate) * scale

    def negative_log_likelihood(theta):
        alpha, beta = parameters(theta)
        value = -(tail @ betabinom.logpmf(support, bits, alpha, beta)
                  + above * betabinom.logsf(threshold, bits, alpha, beta))
        return value if np.isfinite(value) else 1e300

    values = np.arange(bits + 1)
    mean = values @ counts / total
    p = min(max(mean / bits, 1e-3), 1 - 1e-3)
    best = minimize(negative_log_likelihood, [np.log(p / (1 - p)), np.log(100.0)], method="Nelder-Mead",
                    options={"xatol": 1e-5, "fatol": 1e-4, "maxiter": 2000})
    alpha, beta = (float(v) for v in parameters(best.x))
    return BetaBinomialFit(bits, alpha, beta, threshold)


def empirical_upper(count: int, pairs: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate observed as ``count`` of ``pairs``."""
    from scipy.stats import beta
    return 1.0 if count >= pairs else float(beta.ppf(confidence, count + 1, pairs - count))


def rows(different_tuning, different_held_out, same: dict, stored: int = STORED, radii=RADII,
         bits: int = 256, fit: TailFit | None | bool = True, attacked_queries: dict | None = None,
         bootstrap: bool = True) -> dict:
    """Per-radius false-match rows for one method.

    ``different_*``: the unrelated pairs' distances (normalised); ``same``: part -> attack ->
    the copies' distances; ``fit``: ``True`` to fit the tuning tail here (and the
    beta-binomial for contrast), ``False`` to skip both, or a :class:`TailFit`;
    ``attacked_queries``: attack -> distances of unrelated pairs whose query is an attacked
    copy (tuning), reported as the worst attack's empirical rate."""
    tuning, held = histogram(different_tuning, bits), histogram(different_held_out, bits)
    contrast = fit_beta_binomial(tuning) if fit is not False else None
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
    upper = bootstrap_upper(tuning, radii) if fit is not None and bootstrap else None
    beta_binomial = contrast.cdf(np.asarray(radii)) if contrast is not None else None
    out = []
    for index, radius in enumerate(radii):
        count = int(cum_tuning[radius])
        empirical = count / pairs_tuning if pairs_tuning else 0.0
        row = {"radius": int(radius), "distance": radius / bits,
               "empirical_tuning": {"pairs": count, "fpr": empirical,
                                    "upper95": empirical_upper(count, pairs_tuning) if pairs_tuning else 1.0},
               "empirical_held_out": {"pairs": int(cum_held[radius]),
                                      "fpr": int(cum_held[radius]) / pairs_held if pairs_held else 0.0},
               "model_fpr": float(model[index]) if model is not None else None,
               "model_fpr_upper95": float(upper[index]) if upper is not None else None,
               "beta_binomial_fpr": float(beta_binomial[index]) if beta_binomial is not None else None}
        if cum_attacked:
            worst = max(cum_attacked,
                        key=lambda name: cum_attacked[name][0][radius] / max(1, cum_attacked[name][1]))
            row["empirical_attacked_queries_worst"] = {
                "attack": worst, "pairs": int(cum_attacked[worst][0][radius]),
                "fpr": float(cum_attacked[worst][0][radius] / max(1, cum_attacked[worst][1]))}
        use_model = count < MIN_EMPIRICAL_PAIRS and model is not None
        row["source"] = "model" if use_model else (
            "empirical" if count >= MIN_EMPIRICAL_PAIRS else "empirical (few pairs)")
        row["fpr"] = row["model_fpr"] if use_model else empirical
        row["fpr_upper95"] = (row["model_fpr_upper95"] if use_model and upper is not None
                              else row["empirical_tuning"]["upper95"])
        row["tpr"] = {part: {name: round(float(cum[radius] / size), 4) if size else None
                             for name, (cum, size) in by.items()} for part, by in cum_same.items()}
        out.append(row)
    # Where the model hands over to the empirical rate the two may cross by a little; the
    # reported rate is made non-decreasing in r by capping a model value at the next row's.
    for below, above in zip(reversed(out[:-1]), reversed(out[1:]), strict=True):
        if below["fpr"] > above["fpr"]:
            below["fpr"] = above["fpr"]
            below["source"] += " (capped)"
        below["fpr_upper95"] = min(below["fpr_upper95"], above["fpr_upper95"])
    for row in out:
        row["false_matches_per_query"] = stored * row["fpr"]
        row["false_matches_per_query_upper95"] = stored * row["fpr_upper95"]
    return {"fit": fit.as_json() if fit is not None else None,
            "beta_binomial_fit": contrast.as_json() if contrast is not None else None,
            "histogram_tuning": tuning.tolist(), "histogram_held_out": held.tolist(), "rows": out}


def largest_radius(method_rows: list[dict], budget: float,
                   key: str = "false_matches_per_query") -> int | None:
    """The largest radius whose false matches per query (``key``: the estimate, or
    ``false_matches_per_query_upper95``) stay at or below ``budget`` (rows resting
    on fewer than :data:`MIN_EMPIRICAL_PAIRS` pairs without a model do not count)."""
    within = [row["radius"] for row in method_rows
              if row[key] <= budget and "few pairs" not in row["source"]]
    return max(within) if within else None


def markdown(false_matches: dict, radii=(16, 20, 24, 28, 32, 36, 39, 40),
             attacks=("jpeg50", "crop90", "rotate2", "mirror", "letterbox20", "rotate5", "caption14",
                      "screenshot")) -> str:
    """docs/fingerprint.md's tables of false matches per query from a run's ``false_matches``."""
    def rate(value):
        return "-" if value is None else f"{value:.1e}"

    lines = []
    stored = f"{false_matches['stored']:,}"
    for method, entry in false_matches["methods"].items():
        by_radius = {row["radius"]: row for row in entry["rows"]}
        lines += [f"`{method}`:", "",
                  "| r (bits) | tuning pairs <= r | FPR empirical (95% up) | held out (pairs) | GPD (95% up)"
                  f" | beta-binomial | false matches / query at {stored} (95% up) |",
                  "|---|---|---|---|---|---|---|"]
        for radius in radii:
            row = by_radius[radius]
            emp, held = row["empirical_tuning"], row["empirical_held_out"]
            lines.append(f"| {radius} | {emp['pairs']} | {rate(emp['fpr'])} ({rate(emp['upper95'])})"
                         f" | {rate(held['fpr'])} ({held['pairs']})"
                         f" | {rate(row['model_fpr'])} ({rate(row['model_fpr_upper95'])})"
                         f" | {rate(row['beta_binomial_fpr'])}"
                         f" | {row['false_matches_per_query']:.2g}"
                         f" ({row['false_matches_per_query_upper95']:.2g}) |")
        lines += ["", f"TPR at d <= r, `{method}` (held out / tuning):", "",
                  "| r (bits) | " + " | ".join(attacks) + " |", "|---|" + "---|" * len(attacks)]
        for radius in radii:
            tpr = by_radius[radius]["tpr"]
            lines.append(f"| {radius} | " + " | ".join(f"{tpr['held_out'][a]:.2f} / {tpr['tuning'][a]:.2f}"
                                                       for a in attacks) + " |")
        lines.append("")
    return "\n".join(lines)
