"""Statistics of unit 07's experiment: per-subject scores, summaries over seeds, paired bootstrap intervals.

Every test image is one subject (one slice per subject), so a per-image score is a per-subject score.
A comparison of two arms is **paired**: the same subjects, the same seeds. With d_si = s_si(arm) -
s_si(baseline) the difference of subject i's scores in seed s, the estimate is the mean over seeds and
subjects. Its 95 % interval is the percentile interval of that mean over ``n_boot`` **two-level**
bootstrap resamples (Efron & Tibshirani, 1993): the seeds are resampled (with replacement), then the
subjects, so the interval covers both the training noise (seed to seed) and the test sample. With five
seeds the seed level is coarse; ``resample_seeds=False`` gives the subjects-only interval, which holds the
seeds fixed. The mean is unbiased, so the percentile interval holds its own estimate (unlike the FID's,
lecture 04). The interval holds fixed what every arm shares: the site's one labelled set and the one
trained scenario generator.
"""
from __future__ import annotations

import numpy as np


def _as_scores(name: str, scores) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (seeds, subjects), got shape {array.shape}.")
    return array


def paired_bootstrap(scores, baseline, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                     resample_seeds: bool = True) -> dict:
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
    resample_seeds : bool
        Resample the seeds as well as the subjects (the two-level bootstrap; with one seed, subjects only).

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
    kept = diff[:, keep]  # (seeds, n)
    n_seeds, n = kept.shape
    rng = np.random.default_rng(seed)
    seed_rows = (rng.integers(n_seeds, size=(n_boot, n_seeds)) if resample_seeds and n_seeds > 1
                 else np.broadcast_to(np.arange(n_seeds), (n_boot, n_seeds)))
    seed_means = kept[seed_rows].mean(1)  # (n_boot, n): each subject's difference, averaged over the drawn seeds
    subjects = rng.integers(n, size=(n_boot, n))
    means = np.take_along_axis(seed_means, subjects, axis=1).mean(1)
    per_subject = kept.mean(0)
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
