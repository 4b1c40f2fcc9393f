"""The boundary of the sequential comparisons: a confidence sequence for the mean of
paired log ratios that holds at every look (``analysis.sequential`` decides on it).

Method: the scale-invariant Gaussian-mixture t-test martingale (Lai, "On
confidence sequences", Ann. Statist. 4, 1976; in the form of Wang & Ramdas,
"Anytime-valid t-tests and confidence sequences for Gaussian means with unknown
variance", Sequential Analysis 44, 2025, arXiv 2310.03722: Lai's flat mixture over
the mean swapped for a Gaussian one, a test martingale in the filtration of the
scale-invariant statistics). For observations ``d_i`` and a candidate mean ``mu``,
with ``A = sum (d_i - mu)^2``, ``B = sum (d_i - mu)`` and the standardised effect
mixed over N(0, 1/c), the right-Haar integral over the unknown scale gives

    M_n(mu) = sqrt(c / (n + c)) * (A / (A - B^2 / (n + c))) ** (n / 2),

a nonnegative martingale with M_1 = 1 when the ``d_i`` are N(mu, sigma^2) for any
sigma. Ville's inequality bounds P(exists n: M_n(mu) >= 1/alpha) by alpha, so
``{mu : M_n(mu) < 1/alpha}`` covers the mean at every n at once: stopping on it
whenever it looks clear costs nothing. Solving for mu gives the closed form of
:func:`t_mixture_radius`. It needs no variance bound (unlike the normal-mixture
boundaries of Howard et al. 2021 with a known variance proxy) and, unlike the
asymptotic confidence sequences of Waudby-Smith et al. (2021), it is exact at
every n >= 2 for Gaussian data; heavy tails are checked by simulation
(``bench/sequential_level.py``, docs/sequential.md).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray


def mixture_precision(target_rounds: float, alpha: float) -> float:
    """The mixture precision ``c`` (in rounds) that makes the boundary tightest near
    ``target_rounds`` rounds at level ``alpha``: Howard et al. 2021's optimum for the
    normal mixture, ``rho = t / (2 log(1/alpha) + log(1 + 2 log(1/alpha)))``.

    Raises ValueError when ``target_rounds`` is not positive or alpha not in (0, 1).
    """
    if not target_rounds > 0:
        raise ValueError(f"target_rounds {target_rounds!r} must be positive")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha!r} must lie strictly between 0 and 1")
    ell = 2 * math.log(1 / alpha)
    return float(target_rounds / (ell + math.log1p(ell)))


def t_mixture_radius(
    n: ArrayLike, sum_sq_dev: ArrayLike, c: float, alpha: float
) -> NDArray[np.float64]:
    """Half-width of the confidence sequence around the running mean, elementwise.

    ``n``: observations so far; ``sum_sq_dev``: sum of squared deviations from their
    mean (``n * variance``, same units squared as the observations); ``c``: mixture
    precision (> 0, :func:`mixture_precision`); ``alpha``: level of the whole sequence.
    ``inf`` where the sequence is still the whole line (n < 2, or too few rounds for
    this alpha); 0 where the observations are all equal. Same shape as the broadcast
    of ``n`` and ``sum_sq_dev``.
    """
    if not c > 0:
        raise ValueError(f"mixture precision {c!r} must be positive")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha!r} must lie strictly between 0 and 1")
    n_arr = np.asarray(n, dtype=float)
    q = np.asarray(sum_sq_dev, dtype=float)
    n_arr, q = np.broadcast_arrays(n_arr, q)
    safe_n = np.maximum(n_arr, 1.0)
    # M_n(mu) >= 1/alpha  <=>  A / (A - B^2/(n+c)) >= k, k = (sqrt((n+c)/c) / alpha)^(2/n).
    log_k = (0.5 * np.log((safe_n + c) / c) + math.log(1 / alpha)) * 2.0 / safe_n
    k = np.exp(log_k)
    room = 1.0 - k * c / (safe_n + c)  # > 0 once the data can exclude anything
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = np.sqrt(np.expm1(log_k) * q / (safe_n * room))
    radius = np.where((n_arr < 2) | (room <= 0), np.inf, radius)
    return np.asarray(np.maximum(radius, 0.0), dtype=float)


def t_mixture_log_e(n: int, mean: float, sum_sq_dev: float, mu: float, c: float) -> float:
    """log M_n(mu), the martingale itself (for tests and reports): ``mean`` and
    ``sum_sq_dev`` of the n observations; 0 for n < 2 or when A is 0."""
    if n < 2:
        return 0.0
    delta = mean - mu
    a = sum_sq_dev + n * delta * delta
    b = n * delta
    if a <= 0:
        return 0.0
    rest = a - b * b / (n + c)
    if rest <= 0:
        return math.inf
    return 0.5 * math.log(c / (n + c)) + 0.5 * n * (math.log(a) - math.log(rest))
