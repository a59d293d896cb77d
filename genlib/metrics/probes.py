"""Probes: how much of a factor (a class, an attribute) a representation carries, and in which directions.

- ``linear_probe``: a multinomial logistic regression from features (codes, pixels, PCA scores) to a
  class, its regularisation chosen on a validation split; its test accuracy says how linearly
  separable the classes are in that representation, whatever direction separates them.
- ``direction_r2``: for each unit direction u, the share of an attribute's variance explained by a
  straight line in the projection u . z. A disentangled code would have each attribute peak on one
  axis and vanish on the others; an entangled one spreads it over many directions.
- ``class_variance_share``: for each direction u, the share of the variance of u . z that lies between the
  class means (the correlation ratio eta^2): 0 when every class projects to the same mean, 1 when the
  classes sit at distinct points.
- ``unit_directions_2d``: n directions evenly spread over the half circle (u and -u are the same line).

Layer: ``genlib.metrics`` (it uses numpy, torch and scikit-learn only).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)  # wide enough that a 2-D probe is all but unregularised at the top


def _as_2d_array(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(value).__name__}.")
    if value.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, n_features), got shape {value.shape}. "
                         f"For one feature, reshape it with {name}.reshape(-1, 1).")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return value.astype(np.float64)


def _as_1d_array(name: str, value, n: int) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one value per row of the features, got shape {value.shape}.")
    return value


def linear_probe(features_train, y_train, features_val, y_val, *, Cs=C_GRID) -> Pipeline:
    """A logistic-regression probe, its inverse regularisation C chosen on the validation split.

    Features are standardised (on the training split), then a multinomial logistic regression is
    fitted for each C in ``Cs``; the one with the best validation accuracy (the smaller C on a tie)
    is returned. Score it on the test split with ``probe.score(features_test, y_test)``.

    Parameters
    ----------
    features_train, features_val : tensor or array, shape (n_train, F) and (n_val, F)
    y_train, y_val : tensor or array, shape (n_train,) and (n_val,)
        Class labels.
    Cs : sequence of float
        Candidate inverse regularisation strengths.

    Returns
    -------
    sklearn.pipeline.Pipeline
        StandardScaler + LogisticRegression, fitted on the training split, with attributes
        ``chosen_C``, ``val_accuracy`` (at ``chosen_C``) and ``val_accuracies`` (a dict: the
        validation accuracy at every C tried, to show whether the choice sits on a plateau or at
        the edge of the grid).
    """
    f_train, f_val = _as_2d_array("features_train", features_train), _as_2d_array("features_val", features_val)
    if f_train.shape[1] != f_val.shape[1]:
        raise ValueError(f"features_train and features_val must have the same number of columns, got "
                         f"{f_train.shape[1]} and {f_val.shape[1]}.")
    y_tr, y_va = _as_1d_array("y_train", y_train, len(f_train)), _as_1d_array("y_val", y_val, len(f_val))
    if len(Cs) == 0 or any(not np.isscalar(C) or C <= 0 for C in Cs):
        raise ValueError(f"Cs must be a non-empty sequence of positive numbers, got {Cs!r}.")
    best, val_accuracies = None, {}
    with threadpool_limits(1):  # small problems: one BLAS thread is fastest, and does not stall on a busy machine
        for C in sorted(Cs):
            probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
            accuracy = probe.fit(f_train, y_tr).score(f_val, y_va)
            val_accuracies[C] = accuracy
            if best is None or accuracy > best[0]:
                best = (accuracy, C, probe)
    accuracy, C, probe = best
    probe.chosen_C, probe.val_accuracy, probe.val_accuracies = C, accuracy, val_accuracies
    return probe


def direction_r2(codes, attribute, directions) -> np.ndarray:
    """R^2 of the best straight line from the projection ``codes @ u`` to ``attribute``, for each direction u.

    It is the squared correlation between the projection and the attribute: 1 when the attribute is a
    linear function of u . z, 0 when it does not vary linearly along u.

    Parameters
    ----------
    codes : tensor or array, shape (N, K)
    attribute : tensor or array, shape (N,)
    directions : tensor or array, shape (M, K)
        Unit vectors (rows are normalised here).

    Returns
    -------
    numpy.ndarray, shape (M,)
    """
    z = _as_2d_array("codes", codes)
    a = _as_1d_array("attribute", attribute, len(z)).astype(np.float64)
    u = _as_2d_array("directions", directions)
    if u.shape[1] != z.shape[1]:
        raise ValueError(f"directions must have shape (M, {z.shape[1]}) like the codes, got {u.shape}.")
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("directions contains a zero vector; every direction must have a nonzero length.")
    if a.std() == 0:
        raise ValueError("attribute is constant: it has no variance to explain.")
    projections = (z - z.mean(0)) @ (u / norms).T  # (N, M)
    a_centred = a - a.mean()
    covariance = a_centred @ projections / len(z)  # (M,)
    variance = (projections ** 2).mean(0)  # (M,)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = covariance ** 2 / (variance * a_centred.var())
    return np.nan_to_num(r2, nan=0.0)


def class_variance_share(codes, labels, directions) -> np.ndarray:
    """Between-class share of the variance of the projection ``codes @ u``, for each direction u (eta^2).

    Parameters
    ----------
    codes : tensor or array, shape (N, K)
    labels : tensor or array, shape (N,)
        Class of each code.
    directions : tensor or array, shape (M, K)
        Unit vectors (rows are normalised here).

    Returns
    -------
    numpy.ndarray, shape (M,)
        Var(E[u . z | class]) / Var(u . z), in [0, 1].
    """
    z = _as_2d_array("codes", codes)
    y = _as_1d_array("labels", labels, len(z))
    u = _as_2d_array("directions", directions)
    if u.shape[1] != z.shape[1]:
        raise ValueError(f"directions must have shape (M, {z.shape[1]}) like the codes, got {u.shape}.")
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("directions contains a zero vector; every direction must have a nonzero length.")
    projections = (z - z.mean(0)) @ (u / norms).T  # (N, M)
    classes, index = np.unique(y, return_inverse=True)
    counts = np.bincount(index)  # (C,)
    means = np.stack([np.bincount(index, weights=column) for column in projections.T], axis=1) / counts[:, None]  # (C, M)
    between = (counts[:, None] * means ** 2).sum(0) / len(z)  # (M,)
    total = (projections ** 2).mean(0)  # (M,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(between / total, nan=0.0)


def unit_directions_2d(n: int) -> np.ndarray:
    """``n`` unit vectors at angles 0, 180/n, ..., 180 (n - 1)/n degrees, shape (n, 2)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    angles = np.pi * np.arange(n) / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)
