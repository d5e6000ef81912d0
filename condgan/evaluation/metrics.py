"""Quality and collapse metrics (docs/metrics.md), on classifier outputs and features.

Pure numpy, computed in float64. Inputs are the scoring classifier's softmax
probabilities (`conditional_accuracy`, `inception_score`) or its penultimate
features (everything else), one row per clip:

  conditional_accuracy  share of generated clips classified as their caption's class
  inception_score       exp(E_x KL(p(y|x) || p(y))), mean and std over splits
  modified_inception_score  exp(E KL(p(y|x) || p(y|x'))) over pairs of clips
                        (of one class if labels are given; Gurumurthy et al. 2017)
  am_score              KL(C_ref || C_gen) + E_x H(p(y|x)) (Zhou et al. 2018)
  frechet_distance      Frechet distance between Gaussians fitted to two feature sets
  intra_frechet_distance  mean over classes of the per-class Frechet distance
  d_self / d_train      WaveGAN's mean nearest-neighbour distances (within / to train)
  z_diversity           per-caption spread over z relative to the spread of real clips
                        (of the caption's condition group, or of its class)
  ndb                   number of statistically different bins (Richardson & Weiss 2018)

docs/metrics.md gives the definitions and the choices behind them.

Distances are Euclidean. Nearest-neighbour searches run in row chunks through
the Gram-matrix identity |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, and the entries where
that identity cancels badly (near-duplicates) are recomputed from differences,
so duplicates give exactly 0, and memory stays at a few 32 MB chunks
(10k x 10k clips of 128 features: ~3 s, < 300 MB).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

# Upper bound on the float64 entries of one chunk of a distance matrix (32 MB).
_CHUNK_ENTRIES = 1 << 22
# Below this share of |a|^2 + |b|^2, a Gram-identity squared distance is mostly
# rounding error and is recomputed from the difference vector.
_CANCELLATION_RATIO = 1e-6
# Rows of a probability table may deviate this much from summing to one.
_PROB_SUM_TOLERANCE = 1e-3
# Probabilities below this (the smallest normal float32, so no value a float32
# softmax represents except 0 and denormals) count as this in a logarithm:
# KL(p || q) stays finite where q underflowed to 0, at most log(1 / floor) ~ 87.3
# per term.
PROB_FLOOR = float(np.finfo(np.float32).tiny)


def conditional_accuracy(probs, labels) -> float:
    """Share of clips whose most probable class is the class of their caption.

    Args:
      probs: float[N, K] classifier probabilities (logits give the same answer).
      labels: int[N] class of each clip's caption, in [0, K).

    Returns:
      Accuracy in [0, 1].

    Raises:
      ValueError: if `probs` is not a finite non-empty [N, K] table, `labels` is
        not N integers, or a label is outside [0, K).
    """
    probs = _matrix(probs, "probs")
    labels = _labels(labels, probs.shape, "labels")
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception score exp(E_x KL(p(y|x) || p(y))) over `splits` disjoint splits.

    As in Salimans et al. (2016) and WaveGAN: clips are cut into `splits`
    contiguous parts (sizes differ by at most one), p(y) is each part's mean
    prediction, and terms with p(y|x) = 0 contribute 0.

    Args:
      probs: float[N, K] classifier probabilities, rows summing to 1, N >= splits.
      splits: number of parts, >= 1.

    Returns:
      (mean, std) of the per-split scores; std is the population std (ddof=0),
      as in the reference implementations. Scores lie in [1, K].

    Raises:
      ValueError: if `probs` is not a probability table (negative entries, rows
        not summing to 1: pass softmax outputs, not logits) or N < splits.
    """
    probs = _probabilities(probs, "probs")
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits must be an int >= 1, got {splits!r}")
    n = probs.shape[0]
    if n < splits:
        raise ValueError(f"probs has {n} rows, fewer than splits={splits}")
    scores = []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(math.exp(float(np.mean(np.sum(terms, axis=1)))))
    return float(np.mean(scores)), float(np.std(scores))


def modified_inception_score(probs, labels=None) -> float:
    """Modified inception score exp(E KL(p(y|x) || p(y|x'))) (Gurumurthy et al. 2017).

    The mean runs over every ordered pair (x, x') of distinct clips (the
    unbiased estimate of the expectation over independent draws x, x'); with
    `labels`, over the pairs of clips that share a label (pairs pooled over
    labels, so each label weighs by its number of pairs). Without labels this
    is the SC09 convention of DiffWave and SaShiMi (pairs of any class; their
    code draws 10,000 random pairs); with the clips' classes it is DeLiGAN's
    intra-class form. Terms with p(y|x) = 0 contribute 0; p(y|x') is floored
    at `PROB_FLOOR` inside the logarithm.

    Args:
      probs: float[N, K] classifier probabilities, rows summing to 1.
      labels: None, or [N] labels (any values comparable for equality, e.g.
        int class indices); at least one label must hold two clips.

    Returns:
      The score, in [1, exp(log(1 / PROB_FLOOR))]; 1 when all predictions in a
      pair are equal.

    Raises:
      ValueError: if `probs` is not a probability table, `labels` is not N
        entries, or there is no pair to average over.
    """
    probs = _probabilities(probs, "probs")
    n = probs.shape[0]
    if labels is None:
        members = [np.arange(n)]
    else:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(f"labels must be 1-D with one entry per row of probs ({n}), got "
                             f"shape {labels.shape}")
        _, inverse = np.unique(labels, return_inverse=True)
        members = [np.flatnonzero(inverse == v) for v in range(int(inverse.max()) + 1)]
    log_q = np.log(np.maximum(probs, PROB_FLOOR))
    with np.errstate(divide="ignore", invalid="ignore"):
        # sum_k p_k log p_k, with 0 log 0 = 0.
        self_term = np.sum(np.where(probs > 0, probs * np.log(probs), 0.0), axis=1)
    total, pairs = 0.0, 0
    for idx in members:
        m = idx.size
        if m < 2:
            continue
        p, lq, own = probs[idx], log_q[idx], self_term[idx]
        for start, block in _row_chunks(p, m):
            rows = np.arange(block.shape[0])
            # KL(p_i || p_j) = sum_k p_ik log p_ik - sum_k p_ik log p_jk.
            kl = own[start:start + block.shape[0], np.newaxis] - block @ lq.T
            kl[rows, start + rows] = 0.0  # x' = x is not a pair
            total += float(np.sum(np.maximum(kl, 0.0)))  # KL >= 0; clip rounding
        pairs += m * (m - 1)
    if pairs == 0:
        raise ValueError(f"probs has {n} rows" + ("" if labels is None else
                         " but no label holds two of them") + ": modified_inception_score "
                         "needs at least one pair of clips")
    return math.exp(total / pairs)


def am_score_terms(probs, reference_probs) -> tuple[float, float]:
    """The two terms of the AM score: KL(C_ref || C_gen) and E_x H(p(y|x)).

    Zhou et al. 2018 (AM-GAN): AM = KL(C_train || C_bar(G)) + E_x H(C(x)),
    where C_bar(G) is the mean prediction over the generated clips and C_train
    the class distribution of the training data, here (as in the AM-GAN and
    SaShiMi code) the mean prediction over the reference (training) clips.
    The first term is 0 when the generated clips are spread over classes like
    the data; the second when each is classified with certainty. Natural log;
    lower is better, 0 at best. C_gen is floored at `PROB_FLOOR` inside the
    logarithm; 0 log 0 = 0.

    Args:
      probs: float[N, K] probabilities of the clips scored (generated).
      reference_probs: float[M, K] probabilities of the reference clips (the
        training split).

    Returns:
      (kl, mean_entropy), both >= 0.

    Raises:
      ValueError: if either is not a probability table or their class counts differ.
    """
    probs = _probabilities(probs, "probs")
    reference_probs = _probabilities(reference_probs, "reference_probs")
    _same_width(probs, "probs", reference_probs, "reference_probs")
    c_gen, c_ref = probs.mean(axis=0), reference_probs.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.sum(np.where(c_ref > 0, c_ref * (np.log(c_ref)
                                                 - np.log(np.maximum(c_gen, PROB_FLOOR))), 0.0))
        entropy = -np.sum(np.where(probs > 0, probs * np.log(probs), 0.0), axis=1)
    return max(float(kl), 0.0), max(float(np.mean(entropy)), 0.0)


def am_score(probs, reference_probs) -> float:
    """AM score KL(C_ref || C_gen) + E_x H(p(y|x)) (Zhou et al. 2018); see `am_score_terms`."""
    kl, entropy = am_score_terms(probs, reference_probs)
    return kl + entropy


def frechet_distance(feat_a, feat_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)), with unbiased
    covariances (ddof=1), in float64. The trace of the matrix square root is
    the sum of square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), a
    symmetric PSD matrix with the same spectrum as S_a S_b; symmetric eigen-
    decompositions keep this real and stable even when the covariances are
    singular (fewer clips than features), where `scipy.linalg.sqrtm` of the
    non-symmetric product can turn complex.

    Args:
      feat_a: float[N, F] features, N >= 2.
      feat_b: float[M, F] features, M >= 2.

    Returns:
      The distance, >= 0 (rounding below zero is clipped to 0).

    Raises:
      ValueError: if either input is not a finite 2-D array with >= 2 rows, or
        the feature sizes differ.
    """
    feat_a = _matrix(feat_a, "feat_a", min_rows=2)
    feat_b = _matrix(feat_b, "feat_b", min_rows=2)
    _same_width(feat_a, "feat_a", feat_b, "feat_b")
    mu_a, mu_b = feat_a.mean(axis=0), feat_b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(feat_a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(feat_b, rowvar=False))
    sqrt_a = _psd_sqrt(cov_a)
    middle = sqrt_a @ cov_b @ sqrt_a
    eigvals = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eigvals, 0.0, None))))
    diff = mu_a - mu_b
    distance = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(distance, 0.0)


def intra_frechet_distance(feat_a, labels_a, feat_b, labels_b,
                           classes: Sequence[Any] | None = None) -> tuple[float, dict[Any, float]]:
    """Per-class Frechet distance, averaged over classes (intra-FID, Miyato & Koyama 2018).

    For each class c: `frechet_distance(feat_a[labels_a == c], feat_b[labels_b == c])`;
    the result is the unweighted mean over the classes.

    Args:
      feat_a: float[N, F] features (e.g. generated clips).
      labels_a: [N] class of each row of feat_a (for generated clips, their caption's class).
      feat_b: float[M, F] features (e.g. real test clips).
      labels_b: [M] class of each row of feat_b.
      classes: the classes to average over; None = every class in labels_b.

    Returns:
      (mean distance, {class: distance}).

    Raises:
      ValueError: on shape mismatches, non-finite values, no classes, or a class
        with fewer than 2 rows in either set (its covariance is undefined).
    """
    feat_a = _matrix(feat_a, "feat_a")
    feat_b = _matrix(feat_b, "feat_b")
    _same_width(feat_a, "feat_a", feat_b, "feat_b")
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    for name, lab, feat in (("labels_a", labels_a, feat_a), ("labels_b", labels_b, feat_b)):
        if lab.ndim != 1 or lab.shape[0] != feat.shape[0]:
            raise ValueError(f"{name} must be 1-D with one entry per feature row "
                             f"({feat.shape[0]}), got shape {lab.shape}")
    classes = list(np.unique(labels_b)) if classes is None else list(classes)
    if not classes:
        raise ValueError("intra_frechet_distance: no classes to average over")
    per_class = {}
    for c in classes:
        a, b = feat_a[labels_a == c], feat_b[labels_b == c]
        label = c.item() if isinstance(c, np.generic) else c  # numpy 2 reprs np.int64(2)
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise ValueError(f"class {label!r} has {a.shape[0]} rows in feat_a and {b.shape[0]} "
                             "in feat_b; each needs at least 2 for a covariance")
        per_class[label] = frechet_distance(a, b)
    return float(np.mean(list(per_class.values()))), per_class


def d_self(features) -> float:
    """Mean distance from each clip to its nearest *other* clip of the same set.

    The self match is excluded by index, so exact duplicates count as distance 0.

    Args:
      features: float[N, F], N >= 2.

    Returns:
      Mean nearest-neighbour Euclidean distance.

    Raises:
      ValueError: if `features` is not a finite 2-D array with >= 2 rows.
    """
    features = _matrix(features, "features", min_rows=2)
    return float(np.mean(_nearest_distances(features, features, exclude_self=True)))


def d_train(gen, train) -> float:
    """Mean distance from each generated clip to its nearest training clip.

    Args:
      gen: float[N, F] generated-clip features, N >= 1.
      train: float[M, F] training-clip features, M >= 1.

    Returns:
      Mean nearest-neighbour Euclidean distance.

    Raises:
      ValueError: if an input is not a finite non-empty 2-D array or the
        feature sizes differ.
    """
    gen = _matrix(gen, "gen")
    train = _matrix(train, "train")
    _same_width(gen, "gen", train, "train")
    return float(np.mean(_nearest_distances(gen, train, exclude_self=False)))


def mean_pairwise_distance(features) -> float:
    """Mean Euclidean distance over all unordered pairs of distinct rows.

    Args:
      features: float[N, F], N >= 2.

    Returns:
      The mean over the N (N - 1) / 2 pairs; 0 if all rows are identical.

    Raises:
      ValueError: if `features` is not a finite 2-D array with >= 2 rows.
    """
    features = _matrix(features, "features", min_rows=2)
    n = features.shape[0]
    total = 0.0
    for start, block in _row_chunks(features, n):
        dist = _distances(block, features)
        # Strict upper triangle: column j > row start + i.
        cols = np.arange(n)[np.newaxis, :]
        rows = start + np.arange(block.shape[0])[:, np.newaxis]
        total += float(np.sum(dist[cols > rows]))
    return total / (n * (n - 1) / 2)


def z_diversity(gen_by_caption: Sequence[Any], real_by_caption: Sequence[Any]) -> float:
    """How much the generator's output varies with z, relative to the data.

    For caption c: mean pairwise distance among its K generated clips (K random
    z at inference), divided by the mean pairwise distance among the real clips
    c is measured against; the result is the mean over captions. 0 is total
    collapse (z ignored); about 1 is as varied as the data.

    The real clips are the caller's choice: the caption's condition group
    (the clips the caption could describe: caption-matched z-diversity) or its
    whole class (class-level z-diversity). The mean pairwise distance is an
    unbiased (U-) statistic, so the ratio does not depend on K or M_c in
    expectation; a real reference takes disjoint real clips for both parts.

    Args:
      gen_by_caption: per caption, float[K_c, F] features of its generated
        clips, K_c >= 2.
      real_by_caption: per caption (same order and length), float[M_c, F]
        features of the real clips to compare with, M_c >= 2 and not all
        identical.

    Returns:
      The mean ratio over captions.

    Raises:
      ValueError: if the sequences are empty or of different lengths, an entry
        has fewer than 2 rows, non-finite values or another feature size, or
        the real clips of a caption are all identical (ratio undefined).
    """
    if len(gen_by_caption) == 0:
        raise ValueError("gen_by_caption is empty: need at least one caption")
    if len(gen_by_caption) != len(real_by_caption):
        raise ValueError(f"gen_by_caption has {len(gen_by_caption)} captions but "
                         f"real_by_caption has {len(real_by_caption)}")
    ratios = []
    width = None
    for i, (gen, real) in enumerate(zip(gen_by_caption, real_by_caption)):
        gen = _matrix(gen, f"gen_by_caption[{i}]", min_rows=2)
        real = _matrix(real, f"real_by_caption[{i}]", min_rows=2)
        _same_width(gen, f"gen_by_caption[{i}]", real, f"real_by_caption[{i}]")
        if width is None:
            width = gen.shape[1]
        elif gen.shape[1] != width:
            raise ValueError(f"gen_by_caption[{i}] has {gen.shape[1]} features, "
                             f"gen_by_caption[0] has {width}")
        real_spread = mean_pairwise_distance(real)
        if real_spread == 0.0:
            raise ValueError(f"real_by_caption[{i}]: all {real.shape[0]} real clips have "
                             "identical features, so the ratio is undefined")
        ratios.append(mean_pairwise_distance(gen) / real_spread)
    return float(np.mean(ratios))


def kmeans(features, k: int, seed: int = 0, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ seeding then Lloyd iterations, deterministic for a given seed.

    A cluster left empty by an assignment step takes the point farthest from
    its centroid among clusters with more than one member, so no cluster ends
    empty.

    Args:
      features: float[M, F] with at least k distinct rows.
      k: number of clusters, >= 1.
      seed: seed of the k-means++ draws.
      max_iter: Lloyd iterations at most; stops earlier when assignments settle.

    Returns:
      (centroids float64[k, F], assignments int64[M]).

    Raises:
      ValueError: if `features` is not finite 2-D, has fewer than k rows or
        fewer than k distinct rows, or k / max_iter are not positive ints.
    """
    features = _matrix(features, "features")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    m = features.shape[0]
    if m < k:
        raise ValueError(f"features has {m} rows, fewer than the k={k} k-means bins")
    rng = np.random.default_rng(seed)

    # Greedy k-means++ (Arthur & Vassilvitskii 2007; as in scikit-learn): draw
    # candidates with probability proportional to the squared distance to the
    # nearest chosen centre and keep the one that lowers the potential most.
    # Plain k-means++ too often seeds two centres in one tight cluster.
    trials = 2 + int(math.log(k))
    centroids = np.empty((k, features.shape[1]), np.float64)
    centroids[0] = features[rng.integers(m)]
    closest = _squared_distances(features, centroids[:1])[:, 0]
    for c in range(1, k):
        total = closest.sum()
        if not total > 0:
            raise ValueError(f"features has only {c} distinct rows, fewer than the "
                             f"k={k} k-means bins")
        candidates = rng.choice(m, size=trials, p=closest / total)
        candidate_sq = np.minimum(closest[np.newaxis, :],
                                  _squared_distances(features[candidates], features))
        best = int(np.argmin(candidate_sq.sum(axis=1)))
        centroids[c] = features[candidates[best]]
        closest = candidate_sq[best]

    assignments = np.full(m, -1, np.int64)
    for _ in range(max_iter):
        sq = _squared_distances(features, centroids)
        new = np.argmin(sq, axis=1)
        counts = np.bincount(new, minlength=k)
        for c in np.flatnonzero(counts == 0):
            # The point worst served by its centroid, taken from a cluster that
            # keeps other members, seeds the empty cluster.
            cost = np.where(counts[new] > 1, sq[np.arange(m), new], -1.0)
            worst = int(np.argmax(cost))
            counts[new[worst]] -= 1
            new[worst] = c
            counts[c] = 1
        if np.array_equal(new, assignments):
            break
        assignments = new
        for c in range(k):
            centroids[c] = features[assignments == c].mean(axis=0)
    return centroids, assignments


def ndb(train, gen, k: int = 50, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """Number of statistically different bins (Richardson & Weiss, 2018).

    k-means on the training features defines k bins; every generated clip goes
    to its nearest centroid. For each bin a two-sided two-proportion z-test
    with pooled proportion compares the generated share with the training share;
    the bin is different if p < alpha.

    The bins are fit to the very clips whose shares they compare against, so
    with few clips per bin in many dimensions the training shares are biased
    and even held-out real clips show NDB/K above alpha (isotropic Gaussian,
    3000 clips, K = 50: ~0.03 at 32 dims, ~0.23 at 256). Report the real test
    split's NDB/K beside the generator's, as for the other metrics.

    Args:
      train: float[M, F] real training-clip features, M >= k (>= k distinct).
      gen: float[N, F] generated-clip features, N >= 1.
      k: number of bins, >= 2.
      alpha: significance level in (0, 1).
      seed: k-means++ seed; the same train features and seed give the same bins,
        so runs scored against one training set share their bins.

    Returns:
      dict with
        ndb: int, number of different bins;
        ndb_over_k: float, ndb / k;
        train_counts, gen_counts: int64[k] clips per bin;
        train_proportions, gen_proportions: float64[k];
        z: float64[k] z statistics (gen minus train);
        p_values: float64[k];
        different: bool[k], p < alpha;
        centroids: float64[k, F].

    Raises:
      ValueError: on shape mismatches, non-finite values, fewer training clips
        (or distinct clips) than k, k < 2, or alpha outside (0, 1).
    """
    train = _matrix(train, "train")
    gen = _matrix(gen, "gen")
    _same_width(train, "train", gen, "gen")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an int >= 2, got {k!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if train.shape[0] < k:
        raise ValueError(f"train has {train.shape[0]} clips, fewer than the k={k} k-means bins")

    centroids, _ = kmeans(train, k, seed=seed)
    # One rule for both sets (nearest centroid), also if Lloyd stopped at max_iter.
    train_bins, gen_bins = (
        np.concatenate([np.argmin(_squared_distances(block, centroids), axis=1)
                        for _, block in _row_chunks(x, k)])
        for x in (train, gen))
    m, n = train.shape[0], gen.shape[0]
    train_counts = np.bincount(train_bins, minlength=k)
    gen_counts = np.bincount(gen_bins, minlength=k)
    p_train, p_gen = train_counts / m, gen_counts / n
    pooled = (train_counts + gen_counts) / (m + n)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / m + 1.0 / n))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p_gen - p_train) / se, 0.0)
    p_values = np.array([math.erfc(abs(v) / math.sqrt(2.0)) for v in z])
    different = p_values < alpha
    count = int(np.sum(different))
    return {
        "ndb": count,
        "ndb_over_k": count / k,
        "train_counts": train_counts,
        "gen_counts": gen_counts,
        "train_proportions": p_train,
        "gen_proportions": p_gen,
        "z": z,
        "p_values": p_values,
        "different": different,
        "centroids": centroids,
    }


# ---------------------------------------------------------------------------
# Helpers.


def _matrix(x, name: str, min_rows: int = 1) -> np.ndarray:
    """Validates a finite float[rows, cols] array and returns it as float64."""
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric [rows, features] array: {e}") from e
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D [rows, features], got shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns: shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (clips), got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])  # not np.int64(1) (numpy 2)
        raise ValueError(f"{name} has non-finite values (NaN or inf), first at index {bad}")
    return x


def _probabilities(probs, name: str) -> np.ndarray:
    probs = _matrix(probs, name)
    if np.any(probs < 0):
        raise ValueError(f"{name} has negative entries: pass softmax probabilities, not logits")
    sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _PROB_SUM_TOLERANCE:
        raise ValueError(f"{name} rows must sum to 1 (softmax probabilities); row {worst} "
                         f"sums to {sums[worst]:.6g}")
    return probs


def _labels(labels, probs_shape: tuple[int, int], name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {labels.shape}")
    n, k = probs_shape
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} entries but probs has {n} rows")
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    out = (labels < 0) | (labels >= k)
    if np.any(out):
        i = int(np.flatnonzero(out)[0])
        raise ValueError(f"{name}[{i}] = {labels[i]} is outside [0, {k}) (probs has {k} classes)")
    return labels.astype(np.int64)


def _same_width(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{a_name} has {a.shape[1]} features per row but {b_name} has "
                         f"{b.shape[1]}: shapes {a.shape} and {b.shape}")


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix; rounding-negative eigenvalues -> 0."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def _row_chunks(x: np.ndarray, other_rows: int):
    """Yields (start, x[start:stop]) so a chunk x other_rows matrix fits _CHUNK_ENTRIES."""
    size = max(1, _CHUNK_ENTRIES // max(1, other_rows))
    for start in range(0, x.shape[0], size):
        yield start, x[start:start + size]


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64[len(a), len(b)] squared distances, accurate also for near-duplicates."""
    # Distances do not change under translation; centring shrinks |a|, |b| and
    # with them the cancellation in the identity below.
    center = b.mean(axis=0)
    a, b = a - center, b - center
    sq_a = np.einsum("ij,ij->i", a, a)[:, np.newaxis]
    sq_b = np.einsum("ij,ij->i", b, b)[np.newaxis, :]
    scale = sq_a + sq_b
    d2 = scale - 2.0 * (a @ b.T)
    # |a - b|^2 << |a|^2 + |b|^2: the identity lost most digits; redo from differences.
    ii, jj = np.nonzero(d2 <= _CANCELLATION_RATIO * scale)
    step = max(1, _CHUNK_ENTRIES // a.shape[1])
    for s in range(0, ii.size, step):
        i, j = ii[s:s + step], jj[s:s + step]
        diff = a[i] - b[j]
        d2[i, j] = np.einsum("ij,ij->i", diff, diff)
    return np.maximum(d2, 0.0)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(_squared_distances(a, b))


def _nearest_distances(queries: np.ndarray, pool: np.ndarray, exclude_self: bool) -> np.ndarray:
    """float64[len(queries)]: distance to the nearest pool row (not the same index if
    `exclude_self`, where queries is pool)."""
    out = np.empty(queries.shape[0], np.float64)
    for start, block in _row_chunks(queries, pool.shape[0]):
        d2 = _squared_distances(block, pool)
        if exclude_self:
            rows = np.arange(block.shape[0])
            d2[rows, start + rows] = np.inf
        out[start:start + block.shape[0]] = np.sqrt(d2.min(axis=1))
    return out
