"""Patient-level splits: every slice of a subject lands in the same split, and no subject is in two.

A slice-level split leaks: neighbouring slices and the ED/ES frames of one heart look alike, so a test
slice whose subject is in training scores too well. The functions here split **subject ids**
(``SubjectInfo.subject``), and ``check_disjoint`` asserts that no subject is in two splits.

- ``split_subjects``: random train/validation/test by subject (optionally stratified, e.g. by group);
- ``domain_split``: for domain-shift studies (M&Ms): labels from ``source`` vendors (or centres) only,
  unlabelled images of the others, a test set of other subjects of every vendor; the unlabelled and test
  subjects of the target vendors are disjoint.
"""
from __future__ import annotations

import numpy as np


def check_disjoint(splits: dict) -> None:
    """Raise ``ValueError`` naming the first subject found in two splits (``splits``: name -> list of ids)."""
    seen = {}
    for name, subjects in splits.items():
        for subject in subjects:
            if subject in seen and seen[subject] != name:
                raise ValueError(f"subject {subject!r} is in two splits, {seen[subject]!r} and {name!r}: "
                                 "split by subject, never by slice.")
            seen[subject] = name


def _ids(rows) -> list[str]:
    ids = [r.subject if hasattr(r, "subject") else str(r) for r in rows]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"subject ids must be unique, got duplicates {duplicates[:5]}.")
    return ids


def _shares(n: int, fractions) -> list[int]:
    counts = np.floor(np.asarray(fractions) * n).astype(int)
    order = np.argsort(counts - np.asarray(fractions) * n)
    counts[order[: n - counts.sum()]] += 1
    return counts.tolist()


def split_subjects(rows, fractions=(0.6, 0.2, 0.2), *, names=("train", "validation", "test"), seed: int = 0,
                   stratify=None) -> dict[str, list[str]]:
    """Split subjects at random into named parts of the given fractions.

    Parameters
    ----------
    rows : sequence of SubjectInfo (or of subject ids)
    fractions : sequence of floats summing to 1, one per name
    names : sequence of str
    seed : int
    stratify : None or str
        A ``SubjectInfo`` field ("group", "vendor", "centre"): split each of its values by ``fractions``.

    Returns
    -------
    dict name -> sorted list of subject ids; every subject in exactly one part (checked).
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(names) or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be {len(names)} non-negative numbers summing to 1 (one per name "
                         f"{tuple(names)}), got {fractions}.")
    rows = list(rows)
    ids = _ids(rows)
    keys = [getattr(r, stratify) for r in rows] if stratify else [""] * len(rows)
    rng = np.random.default_rng(seed)
    out = {name: [] for name in names}
    for key in sorted(set(keys)):
        members = [i for i, k in zip(ids, keys) if k == key]
        members = [members[j] for j in rng.permutation(len(members))]
        start = 0
        for name, count in zip(names, _shares(len(members), fractions)):
            out[name] += members[start:start + count]
            start += count
    out = {name: sorted(v) for name, v in out.items()}
    check_disjoint(out)
    return out


def domain_split(rows, *, key: str = "vendor", source, validation_fraction: float = 0.2,
                 test_fraction: float = 0.3, unlabelled_fraction: float = 0.5, seed: int = 0) -> dict[str, list[str]]:
    """A domain-shift split by vendor (or centre): labels from ``source`` only.

    Parameters
    ----------
    rows : sequence of SubjectInfo
    key : {"vendor", "centre"}
    source : str or sequence of str
        The value(s) of ``key`` whose labels the site has.
    validation_fraction, test_fraction : float
        Shares of the source subjects held out for checkpoint choice and for the test set.
    unlabelled_fraction : float
        Share of every other domain's subjects whose images (never labels) train the generative models;
        the rest of them is test.
    seed : int

    Returns
    -------
    dict
        "site" (labelled source training subjects), "validation" (source), "unlabelled" (other domains),
        "test" (source and other domains): sorted ids, no subject in two (checked); and "source", "targets"
        (the domains, as tuples).
    """
    rows = list(rows)
    _ids(rows)
    source = (source,) if isinstance(source, str) else tuple(source)
    domains = sorted({getattr(r, key) for r in rows})
    missing = [s for s in source if s not in domains]
    if missing:
        raise ValueError(f"source {missing} is not a {key} of these subjects; they have {domains}.")
    targets = tuple(d for d in domains if d not in source)
    site = split_subjects([r for r in rows if getattr(r, key) in source],
                          (1 - validation_fraction - test_fraction, validation_fraction, test_fraction),
                          names=("site", "validation", "test"), seed=seed)
    other = split_subjects([r for r in rows if getattr(r, key) in targets],
                           (unlabelled_fraction, 1 - unlabelled_fraction), names=("unlabelled", "test"),
                           seed=seed + 1, stratify=key) if targets else {"unlabelled": [], "test": []}
    out = {"site": site["site"], "validation": site["validation"], "unlabelled": other["unlabelled"],
           "test": sorted(site["test"] + other["test"])}
    check_disjoint(out)
    return {**out, "source": source, "targets": targets}
