"""Downstream accuracy of an adapter's estimated outputs on MNIST inputs.

Job specs carry an adapter (``M = Σ α_i O_i``) but no model around it, so the downstream
quantity is the simplest honest one: a classifier that consumes the adapter output.

Definition (for a spec with ``inputs.source = "mnist"``, width ``n = circuit.qubits``):
- features: ``y(x) = M x̂`` with ``x̂ = x/‖x‖`` — exactly what the circuits compute for the
  unary-loaded image ``x`` (downsampled to ``n`` pixels by :func:`hwadapt.training.data.load_mnist`
  with ``split_seed = inputs.seed``);
- downstream model: nearest class centroid over the 10 digits, centroids ``μ_c`` = mean exact
  feature ``y`` of the *training* split's digit ``c``; prediction ``argmin_c ‖y - μ_c‖``
  (the evaluated inputs are the first ``inputs.count`` validation images, never used to fit);
- reported: ``accuracy_exact`` (predictions from the exact ``y``), ``accuracy_estimate`` (from
  the estimate ``ŷ`` in place of ``y``) and ``agreement`` (fraction of inputs whose prediction
  is unchanged by the replacement), over ``inputs`` evaluated images.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def centroids(features: np.ndarray, labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """Class means ``(classes, n)`` of ``features (N, n)``; NaN rows for absent classes."""
    out = np.full((classes, features.shape[1]), np.nan)
    for c in range(classes):
        if np.any(labels == c):
            out[c] = features[labels == c].mean(axis=0)
    return out


def predict(features: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Nearest-centroid class per row of ``features (N, n)`` (absent classes never win)."""
    d = ((features[:, None, :] - mu[None]) ** 2).sum(axis=-1)
    return np.argmin(np.where(np.isnan(d), np.inf, d), axis=1)


def mnist_downstream(split_seed: int, M: np.ndarray, y_exact: np.ndarray, y_est: np.ndarray
                     ) -> dict[str, Any]:
    """Downstream metrics (module docstring) for MNIST inputs (``inputs.seed = split_seed``)
    with adapter matrix ``M (n, n)``, exact outputs ``y_exact`` and estimates ``y_est``
    ``(inputs.count, n)``."""
    from hwadapt.training.data import load_mnist

    n, count = M.shape[0], len(y_exact)
    data = load_mnist(hidden=n, split_seed=split_seed)
    x_train = data.x_train.double().numpy()
    x_train = x_train / np.linalg.norm(x_train, axis=1, keepdims=True).clip(1e-300)
    mu = centroids(x_train @ M.T, data.y_train.numpy())
    labels = data.y_val[:count].numpy()
    p_exact, p_est = predict(y_exact, mu), predict(y_est, mu)
    return {"model": "nearest class centroid on exact adapter outputs of the MNIST train split",
            "inputs": len(labels), "accuracy_exact": float(np.mean(p_exact == labels)),
            "accuracy_estimate": float(np.mean(p_est == labels)),
            "agreement": float(np.mean(p_est == p_exact)),
            "labels": labels.tolist(), "predicted_exact": p_exact.tolist(),
            "predicted_estimate": p_est.tolist()}
