"""Semantic diversity: metrics over a matrix of sentence embeddings.

Every function takes ``embeddings``, an array of shape ``(n_samples, n_features)`` (one row
per generated text, e.g. from :func:`rewardshift.metrics.embed.embed_texts`), and treats the
rows as *directions*: it L2-normalises them internally, so a metric depends only on angles
(:func:`remote_clique` and :func:`chamfer_distance` can opt out with ``normalize=False``).
Rows must be finite and non-zero. numpy/scipy only; arithmetic in float64.

Direction: higher = more diverse for every metric except :func:`largest_cluster_mass`.

================================  ===========  ==========================================
metric                            range        reference
================================  ===========  ==========================================
:func:`embedding_diversity`       [0, 2]       1 - mean pairwise cosine
:func:`vendi_score`               [1, n]       Friedman & Dieng 2023; Pasarkar & Dieng 2023
:func:`n_clusters`                [1, n]       NoveltyBench-style distinct classes
:func:`largest_cluster_mass`      [1/n, 1]     higher = LESS diverse (the mode's share)
:func:`remote_clique`             [0, 2]       Cox et al. 2021
:func:`chamfer_distance`          [0, 2]       Cox et al. 2021
================================  ===========  ==========================================
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from rewardshift._exceptions import InputError, MetricUndefinedError

__all__ = [
    "chamfer_distance",
    "chamfer_distance_from_distances",
    "cluster_stats",
    "cluster_stats_from_distances",
    "cosine_distance_matrix",
    "embedding_diversity",
    "largest_cluster_mass",
    "n_clusters",
    "pairwise_cosine",
    "remote_clique",
    "remote_clique_from_distances",
    "vendi_score",
    "vendi_scores",
]

#: Rows of the (block, n) distance matrices held at once by the pairwise-distance metrics:
#: a block of this many float64 entries is ~32 MB, so 5,000 x 384 stays well under 200 MB.
_BLOCK_ENTRIES = 4_000_000


# --------------------------------------------------------------------------- validation


def _check_embeddings(embeddings: object, *, min_samples: int, metric: str,
                      normalize: bool = True) -> np.ndarray:
    """Return ``embeddings`` as a C-contiguous float64 (n, d) array, unit rows if ``normalize``.

    Raises :class:`InputError` for a wrong shape, NaN/inf or (when normalising) a zero row, and
    :class:`MetricUndefinedError` when there are fewer than ``min_samples`` rows.
    """
    try:
        x = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{metric}: embeddings must be a numeric array of shape "
                         f"(n_samples, n_features); could not convert: {e}") from e
    if x.ndim != 2:
        hint = (" Reshape your data with embeddings.reshape(1, -1) if it is a single sample."
                if x.ndim == 1 else "")
        raise InputError(f"{metric}: expected a 2D array of shape (n_samples, n_features), "
                         f"got an array of shape {x.shape}.{hint}")
    if x.shape[1] == 0:
        raise InputError(f"{metric}: embeddings have shape {x.shape}; need n_features >= 1")
    # One pass for the squared row norms (no n x d temporary); a non-finite one is where a NaN
    # or inf hides (or a square overflowed), and only then is the matrix scanned for it.
    sq = np.einsum("ij,ij->i", x, x) if x.size else np.zeros(x.shape[0])
    if not np.isfinite(sq).all() and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise InputError(f"{metric}: embeddings contain NaN or inf (first at row {bad[0]}, "
                         f"column {bad[1]}); drop or re-embed those samples")
    n = x.shape[0]
    if n < min_samples:
        raise MetricUndefinedError(f"{metric} needs at least {min_samples} sample(s), got "
                                   f"n_samples={n} (embeddings of shape {x.shape})")
    if normalize:
        norms = np.sqrt(sq) if np.isfinite(sq).all() else np.linalg.norm(x, axis=1)
        if n and not (norms > 0).all():
            raise InputError(f"{metric}: row {int(np.argmin(norms))} of the embeddings is all "
                             "zeros, so it has no direction; drop that sample")
        # divide in place when the conversion above already copied (never the caller's array)
        fresh = x is not embeddings and not (isinstance(embeddings, np.ndarray)
                                             and np.shares_memory(x, embeddings))
        if fresh and x.flags.c_contiguous and x.flags.writeable:
            x /= norms[:, None]
        else:
            x = x / norms[:, None]
    return np.ascontiguousarray(x)


# --------------------------------------------------------------------------- cosine


def pairwise_cosine(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity between every pair of rows.

    ``S_ij = u_i . u_j`` with ``u_i = x_i / ||x_i||``.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Finite, non-zero rows. ``n_samples >= 1``.

    Returns
    -------
    ndarray of shape (n_samples, n_samples), float64
        Symmetric, entries in [-1, 1], ones on the diagonal (up to rounding).

    Examples
    --------
    >>> pairwise_cosine([[1.0, 0.0], [1.0, 1.0]]).round(3)
    array([[1.   , 0.707],
           [0.707, 1.   ]])
    """
    u = _check_embeddings(embeddings, min_samples=1, metric="pairwise_cosine")
    sim: np.ndarray = np.clip(u @ u.T, -1.0, 1.0)
    return sim


def embedding_diversity(embeddings: np.ndarray) -> float:
    """One minus the mean cosine similarity over unordered pairs of samples.

    ``D = 1 - 2 / (n (n-1)) * sum_{i<j} cos(x_i, x_j)``, computed exactly in O(n d) from the
    sum of the unit rows: ``sum_{i != j} u_i . u_j = ||sum_i u_i||^2 - n``.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Finite, non-zero rows; ``n_samples >= 2``.

    Returns
    -------
    float
        In [0, 2]; higher = more diverse. 0 when all samples point the same way; 1 for mutually
        orthogonal samples (in practice sentence embeddings give [0, 1]).

    Raises
    ------
    MetricUndefinedError
        With fewer than 2 samples (there is no pair).

    Notes
    -----
    The "semantic diversity" of Kirk et al. 2023 (arXiv 2310.06452) and of Mohammadi 2024
    (arXiv 2406.05587), who find that aligned models' outputs form tighter clusters.

    Examples
    --------
    >>> embedding_diversity([[1.0, 0.0], [0.0, 1.0]])
    1.0
    >>> embedding_diversity([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    0.0
    """
    u = _check_embeddings(embeddings, min_samples=2, metric="embedding_diversity")
    return _embedding_diversity(u)


def _embedding_diversity(u: np.ndarray) -> float:
    """``1 - mean_{i<j} u_i.u_j`` for unit rows ``u`` (n >= 2); assumes validated input."""
    n = u.shape[0]
    s = u.sum(axis=0)
    mean_cos = (float(s @ s) - n) / (n * (n - 1))
    return float(np.clip(1.0 - mean_cos, 0.0, 2.0))


# --------------------------------------------------------------------------- Vendi


def vendi_score(embeddings: np.ndarray, *, q: float = 1.0) -> float:
    """Vendi score of order ``q`` with the cosine kernel: the effective number of distinct samples.

    With unit rows ``u_i`` and ``K_ij = u_i . u_j``, let ``lambda`` be the eigenvalues of ``K/n``
    (rounding noise set to 0, see below; then renormalised to sum to 1). Then
    ``VS_q = exp(H_q(lambda))`` with the Renyi entropy ``H_q = log(sum_k lambda_k^q) / (1 - q)``:

    * ``q = 1``: Shannon, ``VS_1 = exp(-sum_k lambda_k log lambda_k)`` (the original score);
    * ``q = inf``: ``VS_inf = 1 / max_k lambda_k``;
    * ``q = 0``: the number of nonzero eigenvalues, the rank of ``K``.

    For every ``q``, eigenvalues ``<= tol = max(lambda) * max(n, d) * eps`` count as 0 (the
    numerical-rank tolerance of ``numpy.linalg.matrix_rank``): the zero eigenvalues of a
    low-rank kernel come out as +-1e-17 rounding noise, which ``lambda^q`` with ``q < 1`` would
    otherwise magnify (``(1e-17)^0.5 = 3e-9`` each).

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Finite, non-zero rows; ``n_samples >= 1``.
    q : float, default=1.0
        Order, ``q >= 0`` (``math.inf`` allowed). Small ``q`` counts rare directions, large ``q``
        looks only at the dominant ones; ``VS_q`` is non-increasing in ``q``.

    Returns
    -------
    float
        In [1, min(n, d)] (so within [1, n]); higher = more diverse. 1 when every sample points
        the same way, ``n`` when the samples are mutually orthogonal.

    Notes
    -----
    Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning"
    (TMLR); orders ``q`` from Pasarkar & Dieng 2023, "Cousins of the Vendi Score" (arXiv
    2310.12952). The nonzero eigenvalues of ``K/n = U U^T / n`` (n x n) equal those of the
    *dual* ``U^T U / n`` (d x d), so when ``d < n`` this eigen-solves the d x d matrix in float64:
    O(n d^2 + d^3) instead of O(n^3). We do not use the ``vendi-score`` package, whose
    ``score_X`` ignores ``q`` (see DESIGN.md).

    Examples
    --------
    >>> round(vendi_score([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 2.0]]), 6)  # 2 directions
    2.0
    >>> round(vendi_score([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 4)  # lambda = (2/3, 1/3)
    1.8899
    >>> round(vendi_score([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], q=math.inf), 6)
    1.5
    >>> vendi_score([[1.0, 1.0], [2.0, 2.0]])
    1.0
    """
    q = _check_order(q)
    u = _check_embeddings(embeddings, min_samples=1, metric="vendi_score")
    return _vendi_from_eigenvalues(_kernel_eigenvalues(u), q=q, dims=u.shape)


def vendi_scores(embeddings: np.ndarray, *, orders: Sequence[float] = (0.5, 1.0, 2.0, math.inf)
                 ) -> dict[float, float]:
    """Vendi scores of several orders from one eigen-decomposition.

    Equal to ``{q: vendi_score(embeddings, q=q) for q in orders}``, at the cost of one.

    Examples
    --------
    >>> {q: round(v, 6) for q, v in vendi_scores(np.eye(3), orders=(1.0, math.inf)).items()}
    {1.0: 3.0, inf: 3.0}
    """
    qs = [_check_order(q) for q in orders]
    u = _check_embeddings(embeddings, min_samples=1, metric="vendi_score")
    lam = _kernel_eigenvalues(u)
    return {q: _vendi_from_eigenvalues(lam, q=q, dims=u.shape) for q in qs}


def _check_order(q: object) -> float:
    try:
        qf = float(q)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InputError(f"vendi_score: q must be a number >= 0 or math.inf, got {q!r}") from e
    if math.isnan(qf) or qf < 0:
        raise InputError(f"vendi_score: q must be >= 0 (or math.inf), got q={q!r}")
    return qf


def _kernel_eigenvalues(u: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``U U^T / n`` for unit rows ``U`` (n, d), via the d x d dual when d < n.

    Returns the min(n, d) possibly nonzero eigenvalues, float64, unprocessed (may hold tiny
    negatives).
    """
    n, d = u.shape
    if d < n:
        gram = u.T @ u  # (d, d)
    else:
        gram = u @ u.T  # (n, n)
    gram = (gram + gram.T) * (0.5 / n)  # exact symmetry for eigvalsh
    return np.linalg.eigvalsh(gram)


def _noise_floor(lam: np.ndarray, dims: tuple[int, int]) -> float:
    """Eigenvalues at or below this are rounding noise of true zeros (matrix_rank's rule)."""
    return float(lam.max()) * max(dims) * float(np.finfo(np.float64).eps)


def _vendi_from_eigenvalues(lam: np.ndarray, *, q: float, dims: tuple[int, int]) -> float:
    """``exp(H_q)`` of the eigenvalues ``lam`` (clipped at 0 and renormalised)."""
    lam = np.where(lam > _noise_floor(lam, dims), lam, 0.0)
    lam = lam / lam.sum()
    top = float(lam.max())
    if q == 0:
        return float(np.count_nonzero(lam))
    if math.isinf(q):
        return 1.0 / top
    pos = lam[lam > 0]
    if q == 1:
        h = -float(np.sum(pos * np.log(pos)))
    else:
        # log(sum lam^q) computed stably as q*log(max) + log(sum (lam/max)^q)
        h = (q * math.log(top) + math.log(float(np.sum((pos / top) ** q)))) / (1.0 - q)
    n_eff = math.exp(h)
    return float(min(max(n_eff, 1.0), float(min(dims))))


# --------------------------------------------------------------------------- clustering


def cluster_stats(embeddings: np.ndarray, *, threshold: float = 0.25) -> tuple[int, float]:
    """Number of semantic clusters and the share of samples in the largest one.

    Agglomerative clustering with average linkage on cosine distance ``1 - cos``
    (``scipy.cluster.hierarchy.linkage(pdist(X, "cosine"), "average")``), cut at
    ``threshold`` (``fcluster(..., t=threshold, criterion="distance")``): two groups merge while
    their mean pairwise cosine distance is ``<= threshold``. With the default 0.25 that is,
    roughly, "samples whose cosine similarity is >= 0.75 say the same thing".

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Finite, non-zero rows; ``n_samples >= 1``. Memory is O(n^2) (the condensed distance
        matrix: 5,000 samples take 100 MB).
    threshold : float, default=0.25
        Cosine-distance cut, in [0, 2]. Larger merges more (fewer clusters).

    Returns
    -------
    n_clusters : int
        In [1, n]; higher = more diverse.
    largest_mass : float
        Largest cluster's size divided by n, in [1/n, 1]; higher = LESS diverse (one
        "attractor" answer dominates).

    Notes
    -----
    Motivated by NoveltyBench (Zhang et al. 2025, arXiv 2504.05228), which counts the distinct
    equivalence classes among k = 10 samples of one prompt, and by Mohammadi 2024
    (arXiv 2406.05587), who finds aligned models' outputs in tighter clusters. NoveltyBench
    decides equivalence with a trained classifier; a cosine threshold is the model-free proxy.
    One sample gives ``(1, 1.0)``.

    Examples
    --------
    >>> cluster_stats([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    (2, 0.5)
    """
    t = _check_threshold(threshold)
    u = _check_embeddings(embeddings, min_samples=1, metric="cluster_stats")
    return _cluster_stats(u, threshold=t)


def _check_threshold(threshold: object) -> float:
    try:
        t = float(threshold)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InputError(f"cluster_stats: threshold must be a number in [0, 2], got "
                         f"{threshold!r}") from e
    if not 0.0 <= t <= 2.0:
        raise InputError(f"cluster_stats: threshold={threshold!r} is a cosine distance and must "
                         "lie in [0, 2] (0.25 merges samples with cosine similarity >= ~0.75)")
    return t


def _cluster_stats(u: np.ndarray, *, threshold: float) -> tuple[int, float]:
    """Cluster unit rows ``u``; assumes validated input."""
    if u.shape[0] == 1:
        return 1, 1.0
    return _cluster_condensed(np.clip(pdist(u, "cosine"), 0.0, 2.0), u.shape[0], threshold)


def _cluster_condensed(dist: np.ndarray, n: int, threshold: float) -> tuple[int, float]:
    labels = fcluster(linkage(dist, method="average"), t=threshold, criterion="distance")
    sizes = np.bincount(labels)
    return int(np.count_nonzero(sizes)), float(sizes.max() / n)


# ------------------------------------------------------- from a precomputed distance matrix
# Resampling evaluates a metric on hundreds of subsets of one set: computing the cosine
# distance matrix of the whole set once and indexing into it saves the O(n^2 d) work per
# subset. These equal the embedding-based functions up to floating-point rounding (~1e-8).


def cosine_distance_matrix(embeddings: np.ndarray) -> np.ndarray:
    """``1 - cos(u_i, u_j)`` for all pairs, clipped to [0, 2], zero diagonal; shape (n, n)."""
    u = _check_embeddings(embeddings, min_samples=1, metric="cosine_distance_matrix")
    d: np.ndarray = 1.0 - u @ u.T
    np.clip(d, 0.0, 2.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def cluster_stats_from_distances(dist: np.ndarray, *, threshold: float = 0.25
                                 ) -> tuple[int, float]:
    """:func:`cluster_stats` from a square cosine-distance matrix (e.g. a submatrix)."""
    threshold = _check_threshold(threshold)
    n = dist.shape[0]
    if n == 1:
        return 1, 1.0
    return _cluster_condensed(squareform(dist, checks=False), n, threshold)


def remote_clique_from_distances(dist: np.ndarray) -> float:
    """:func:`remote_clique` from a square cosine-distance matrix of unit embeddings.

    Euclidean distance of unit vectors: ``||u - v|| = sqrt(2 · (1 - cos))``.
    """
    n = dist.shape[0]
    if n < 2:
        raise MetricUndefinedError(f"remote_clique needs at least 2 samples, got {n}")
    return float(np.sqrt(2.0 * dist).sum() / (n * (n - 1)))


def chamfer_distance_from_distances(dist: np.ndarray) -> float:
    """:func:`chamfer_distance` from a square cosine-distance matrix of unit embeddings."""
    n = dist.shape[0]
    if n < 2:
        raise MetricUndefinedError(f"chamfer_distance needs at least 2 samples, got {n}")
    d = dist + np.diag(np.full(n, np.inf))
    return float(np.sqrt(2.0 * d.min(axis=1)).mean())


def n_clusters(embeddings: np.ndarray, *, threshold: float = 0.25) -> int:
    """Number of clusters from :func:`cluster_stats`; in [1, n], higher = more diverse.

    Examples
    --------
    >>> n_clusters([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    2
    """
    return cluster_stats(embeddings, threshold=threshold)[0]


def largest_cluster_mass(embeddings: np.ndarray, *, threshold: float = 0.25) -> float:
    """Share of samples in the largest cluster of :func:`cluster_stats`.

    In [1/n, 1]; higher = LESS diverse.

    Examples
    --------
    >>> round(largest_cluster_mass([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]), 4)
    0.6667
    """
    return cluster_stats(embeddings, threshold=threshold)[1]


# --------------------------------------------------------------------------- distances


def remote_clique(embeddings: np.ndarray, *, normalize: bool = True) -> float:
    """Mean Euclidean distance over ordered pairs of distinct samples.

    ``RC = 1 / (n (n-1)) * sum_{i != j} ||u_i - u_j||``, with ``u_i`` the unit-normalised rows
    (so ``||u_i - u_j|| = sqrt(2 - 2 cos(x_i, x_j))``). Exact duplicate rows are merged first
    (they contribute exactly 0); distances are computed in row blocks, so memory stays
    O(block * n) (5,000 x 384 takes ~100 MB at peak).

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Finite rows (non-zero when normalising); ``n_samples >= 2``.
    normalize : bool, default=True
        L2-normalise the rows first (then the result is in [0, 2]). ``False`` uses the raw
        vectors.

    Returns
    -------
    float
        In [0, 2] when normalised; higher = more diverse.

    Raises
    ------
    MetricUndefinedError
        With fewer than 2 samples.

    Notes
    -----
    "Remote-clique" of Cox, Wang, Abdul & Lim 2021, "Directed Diversity: Leveraging Language
    Embedding Distances for Collective Creativity in Crowd Ideation" (CHI '21).

    Examples
    --------
    >>> round(remote_clique([[1.0, 0.0], [0.0, 1.0]]), 6)
    1.414214
    """
    x = _check_embeddings(embeddings, min_samples=2, metric="remote_clique", normalize=normalize)
    return _remote_clique(x)


def chamfer_distance(embeddings: np.ndarray, *, normalize: bool = True) -> float:
    """Mean distance from each sample to its nearest other sample.

    ``CD = 1/n * sum_i min_{j != i} ||u_i - u_j||`` with ``u_i`` the unit-normalised rows.
    Nearest neighbours are found in row blocks (memory O(block * n)); the winning distance is
    then recomputed directly from the two vectors, so exact duplicates give exactly 0.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Finite rows (non-zero when normalising); ``n_samples >= 2``.
    normalize : bool, default=True
        L2-normalise the rows first (then the result is in [0, 2]).

    Returns
    -------
    float
        In [0, 2] when normalised; higher = more diverse. 0 when every sample has a duplicate.

    Raises
    ------
    MetricUndefinedError
        With fewer than 2 samples.

    Notes
    -----
    "Chamfer distance" of Cox et al. 2021, "Directed Diversity" (CHI '21): unlike
    :func:`remote_clique` it punishes near-duplicates, however spread out the rest is.

    Examples
    --------
    >>> round(chamfer_distance([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 6)  # (0 + 0 + sqrt 2) / 3
    0.471405
    """
    x = _check_embeddings(embeddings, min_samples=2, metric="chamfer_distance",
                          normalize=normalize)
    return _chamfer_distance(x)


def _row_blocks(n: int) -> Iterator[tuple[int, int]]:
    step = max(1, _BLOCK_ENTRIES // max(n, 1))
    for start in range(0, n, step):
        yield start, min(n, start + step)


def _block_sq_dists(x: np.ndarray, sq: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Squared distances from rows ``start:stop`` to all rows, (stop-start, n), clipped at 0."""
    d2: np.ndarray = x[start:stop] @ x.T
    d2 *= -2.0
    d2 += sq[start:stop, None]
    d2 += sq[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


def _remote_clique(x: np.ndarray) -> float:
    """Mean pairwise distance (i != j) of the rows of ``x``; assumes validated input, n >= 2.

    Exact duplicates are merged first (weighted by multiplicity), so they contribute exactly 0
    rather than the ~1e-8 rounding noise of ``sqrt(|a|^2 + |b|^2 - 2 a.b)``.
    """
    n: int = x.shape[0]
    rows, counts = np.unique(x, axis=0, return_counts=True)
    w = counts.astype(np.float64)
    sq = np.einsum("ij,ij->i", rows, rows)
    total = 0.0
    for start, stop in _row_blocks(rows.shape[0]):
        d2 = _block_sq_dists(rows, sq, start, stop)
        d2[np.arange(stop - start), np.arange(start, stop)] = 0.0  # a row and its duplicates
        total += float(w[start:stop] @ (np.sqrt(d2, out=d2) @ w))
    return total / (n * (n - 1))


def _chamfer_distance(x: np.ndarray) -> float:
    """Mean nearest-other-row distance of ``x``; assumes validated input, n >= 2."""
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    nearest = np.empty(n, dtype=np.intp)
    for start, stop in _row_blocks(n):
        d2 = _block_sq_dists(x, sq, start, stop)
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf  # exclude self
        nearest[start:stop] = np.argmin(d2, axis=1)
    return float(np.linalg.norm(x - x[nearest], axis=1).mean())
