"""Statistics of unit 07's experiment: per-subject scores, summaries over seeds, paired bootstrap intervals.

Every test image is one subject (one slice per subject), so a per-image score is a per-subject score.
A comparison of two arms is **paired**: the same subjects, the same seeds. For each subject i the
difference d_i = s_i(arm) - s_i(baseline) of its scores averaged over seeds; the estimate is the mean of
d_i, and its 95 % interval is the percentile interval of that mean over ``n_boot`` bootstrap resamples
of the subjects (Efron & Tibshirani, 1993). The mean is unbiased, so the percentile interval holds its
own estimate (unlike the FID's, lecture 04). It covers the uncertainty of the test sample, not of the
training seeds: the per-seed mean differences are reported beside it.
"""
from __future__ import annotations

import numpy as np


def _as_scores(name: str, scores) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (seeds, subjects), got shape {array.shape}.")
    return array


def paired_bootstrap(scores, baseline, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """The paired difference of two arms' per-subject scores, with a bootstrap interval over subjects.

    Parameters
    ----------
    scores, baseline : array, shape (n_seeds, n_subjects)
        Per-subject scores (e.g. myocardium Dice) of the arm and of the baseline, seed by seed, the same
        subjects in the same order. NaN (an undefined score) drops that subject from the comparison.
    n_boot : int
    seed : int
        Seeds the resampling.
    level : float in (0, 1)

    Returns
    -------
    dict
        "mean" (mean over subjects of the seed-averaged difference), "low", "high" (the interval),
        "per_seed" (the mean difference in each seed), "n_subjects", "excludes_zero".
    """
    a, b = _as_scores("scores", scores), _as_scores("baseline", baseline)
    if a.shape != b.shape:
        raise ValueError(f"scores and baseline must have the same shape (seeds, subjects), got {a.shape} and {b.shape}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    if not isinstance(n_boot, int) or n_boot < 100:
        raise ValueError(f"n_boot must be an int >= 100, got {n_boot!r}.")
    diff = a - b  # (seeds, subjects)
    keep = ~np.isnan(diff).any(0)
    if not keep.any():
        raise ValueError("no subject has a defined score in every seed of both arms.")
    per_subject = diff[:, keep].mean(0)  # (n,)
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(per_subject), size=(n_boot, len(per_subject)))
    means = per_subject[rows].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(per_subject.mean()), "low": float(low), "high": float(high),
            "per_seed": diff[:, keep].mean(1).tolist(), "n_subjects": int(keep.sum()),
            "excludes_zero": bool(low > 0 or high < 0)}


def seed_summary(scores) -> dict:
    """Mean over subjects per seed, then mean, std (ddof 1; 0 for one seed) and the values over seeds.

    Parameters
    ----------
    scores : array, shape (n_seeds, n_subjects); NaN entries are skipped.
    """
    per_seed = np.nanmean(_as_scores("scores", scores), axis=1)
    return {"mean": float(per_seed.mean()), "std": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
            "per_seed": per_seed.tolist()}
