"""Metrics of DESIGN.md against independent numpy / scipy references."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import scipy.stats

from condgan.evaluation import metrics


def _rng(seed=0):
    return np.random.default_rng(seed)


def _fd_reference(a, b):
    """Textbook Frechet distance with scipy.linalg.sqrtm (as TF-GAN's test does)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean))


# --- conditional accuracy ----------------------------------------------------


def test_conditional_accuracy_counts_argmax_matches():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    assert metrics.conditional_accuracy(probs, [0, 1, 1, 0]) == 0.75
    assert metrics.conditional_accuracy(probs, np.array([2, 2, 2, 2])) == 0.25


@pytest.mark.parametrize("labels, message", [
    ([0, 3], r"labels\[1\] = 3 is outside \[0, 3\)"),
    ([0, -1], r"labels\[1\] = -1 is outside"),
    ([0, 1, 2], "labels has 3 entries but probs has 2 rows"),
    ([0.5, 1.0], "integer class indices"),
    ([[0, 1]], "1-D"),
])
def test_conditional_accuracy_rejects_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        metrics.conditional_accuracy(np.full((2, 3), 1 / 3), labels)


# --- inception score ----------------------------------------------------------


def test_inception_score_one_hot_uniform_is_num_classes():
    k, splits = 7, 10
    probs = np.tile(np.eye(k), (3 * splits, 1))  # every split holds 3 of each class
    mean, std = metrics.inception_score(probs, splits=splits)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_identical_rows_is_one():
    probs = np.tile([[0.2, 0.5, 0.3]], (40, 1))
    mean, std = metrics.inception_score(probs, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_matches_scipy_entropy_per_split():
    probs = _rng(1).dirichlet(np.full(5, 0.3), size=103)  # 103 rows: uneven split sizes
    splits = 4
    scores = []
    for i in range(splits):
        part = probs[i * 103 // splits:(i + 1) * 103 // splits]
        py = part.mean(0)
        scores.append(math.exp(np.mean([scipy.stats.entropy(p, py) for p in part])))
    mean, std = metrics.inception_score(probs, splits=splits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)
    assert 1.0 < mean < 5.0


def test_inception_score_refuses_logits_and_too_few_rows():
    with pytest.raises(ValueError, match="negative entries.*not logits"):
        metrics.inception_score(_rng().normal(size=(20, 3)), splits=2)
    with pytest.raises(ValueError, match="row 0 sums to 3"):
        metrics.inception_score(np.ones((20, 3)), splits=2)
    with pytest.raises(ValueError, match="probs has 5 rows, fewer than splits=10"):
        metrics.inception_score(np.full((5, 2), 0.5))


# --- Frechet distance ---------------------------------------------------------


def test_frechet_distance_matches_scipy_sqrtm():
    rng = _rng(2)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 1.0
    b = rng.normal(size=(250, 6)) @ rng.normal(size=(6, 6)) - 0.5
    expected = _fd_reference(a, b)
    assert expected > 1.0
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(b, a) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = _rng(3).normal(size=(200, 16)) * 5.0 + 3.0
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert metrics.frechet_distance(a.astype(np.float32), a) == pytest.approx(0.0, abs=1e-3)


def test_frechet_distance_with_singular_covariances_stays_real():
    rng = _rng(4)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(6, 20))  # rank-deficient covariances
    fd = metrics.frechet_distance(a, b)
    assert np.isfinite(fd) and fd > 0
    # The trace term equals the nuclear norm of S_a^1/2 S_b^1/2 (an SVD, no sqrtm).
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    nuclear = np.linalg.svd(scipy.linalg.sqrtm(cov_a).real @ scipy.linalg.sqrtm(cov_b).real,
                            compute_uv=False).sum()
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * nuclear
    assert fd == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_errors():
    a = np.zeros((4, 3))
    with pytest.raises(ValueError, match="feat_a has 3 features per row but feat_b has 2"):
        metrics.frechet_distance(a, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="feat_b needs at least 2 rows"):
        metrics.frechet_distance(a, np.zeros((1, 3)))


# --- d_self / d_train / pairwise ---------------------------------------------


def _brute_nearest(q, pool, exclude_self):
    d = scipy.spatial.distance.cdist(q, pool)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(1).mean()


def test_d_self_hand_made_points():
    # Nearest other points: 0->1 (1), 1->0 (1), 3->1 (2), 7->3 (4).
    assert metrics.d_self([[0.0], [1.0], [3.0], [7.0]]) == pytest.approx(2.0)
    # Duplicates are each other's neighbour at distance 0; the self match is not.
    assert metrics.d_self([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]]) == pytest.approx(5.0 / 3.0)


@pytest.mark.parametrize("chunk_entries", [1 << 22, 7])
def test_d_self_and_d_train_match_brute_force(monkeypatch, chunk_entries):
    monkeypatch.setattr(metrics, "_CHUNK_ENTRIES", chunk_entries)  # 7 forces many chunks
    rng = _rng(5)
    gen, train = rng.normal(size=(37, 5)), rng.normal(size=(53, 5))
    assert metrics.d_self(gen) == pytest.approx(_brute_nearest(gen, gen, True), rel=1e-10)
    assert metrics.d_train(gen, train) == pytest.approx(_brute_nearest(gen, train, False), rel=1e-10)


def test_distances_of_duplicates_are_exactly_zero_despite_large_offsets():
    rng = _rng(6)
    train = rng.normal(size=(30, 64)) * 1e-3 + 1e4
    gen = train[[3, 7, 7, 20]]
    assert metrics.d_train(gen, train) == 0.0
    assert metrics.d_self(gen[1:3]) == 0.0
    assert metrics.mean_pairwise_distance(np.repeat(gen[:1], 5, axis=0)) == 0.0
    # Distances far below the offset are still right.
    assert metrics.d_self(train) == pytest.approx(_brute_nearest(train - 1e4, train - 1e4, True),
                                                  rel=1e-6)


def test_mean_pairwise_distance_matches_pdist(monkeypatch):
    x = _rng(7).normal(size=(41, 9))
    expected = scipy.spatial.distance.pdist(x).mean()
    assert metrics.mean_pairwise_distance(x) == pytest.approx(expected, rel=1e-10)
    monkeypatch.setattr(metrics, "_CHUNK_ENTRIES", 50)
    assert metrics.mean_pairwise_distance(x) == pytest.approx(expected, rel=1e-10)


def test_nearest_neighbour_errors():
    with pytest.raises(ValueError, match="features needs at least 2 rows"):
        metrics.d_self(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="gen has 4 features per row but train has 3"):
        metrics.d_train(np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must be 2-D"):
        metrics.d_train(np.zeros(4), np.zeros((2, 4)))


@pytest.mark.parametrize("fn", [
    lambda x: metrics.d_self(x),
    lambda x: metrics.d_train(x, np.zeros((3, 2))),
    lambda x: metrics.frechet_distance(np.zeros((3, 2)), x),
    lambda x: metrics.conditional_accuracy(x, [0, 1, 0]),
    lambda x: metrics.z_diversity([x], [np.eye(3, 2)]),
    lambda x: metrics.ndb(np.arange(12.0).reshape(6, 2), x, k=2),
])
def test_nan_inputs_are_refused(fn):
    x = np.zeros((3, 2))
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite values \(NaN or inf\), first at index \(1, 1\)"):
        fn(x)


# --- z-diversity --------------------------------------------------------------


def _real_and_gen(rng, spreads, k, m, gen_scale=1.0, f=16):
    real, gen = [], []
    for c, spread in enumerate(spreads):
        mean = rng.normal(size=f) * 10
        real.append(mean + spread * rng.normal(size=(m, f)))
        gen.append(mean + gen_scale * spread * rng.normal(size=(k, f)))
    return gen, real


def test_z_diversity_is_zero_when_the_generator_ignores_z():
    rng = _rng(8)
    _, real = _real_and_gen(rng, [1.0, 3.0, 0.5], k=8, m=50)
    gen = [np.repeat(rng.normal(size=(1, 16)), 8, axis=0) for _ in range(3)]
    assert metrics.z_diversity(gen, real) == 0.0


@pytest.mark.parametrize("gen_scale", [1.0, 0.5])
def test_z_diversity_tracks_the_spread_relative_to_each_class(gen_scale):
    # Classes differ in spread by 6x; the ratio is per class, so it stays ~gen_scale.
    gen, real = _real_and_gen(_rng(9), [1.0, 3.0, 0.5], k=60, m=200, gen_scale=gen_scale)
    assert metrics.z_diversity(gen, real) == pytest.approx(gen_scale, rel=0.05)
    expected = np.mean([scipy.spatial.distance.pdist(g).mean() / scipy.spatial.distance.pdist(r).mean()
                        for g, r in zip(gen, real)])
    assert metrics.z_diversity(gen, real) == pytest.approx(expected, rel=1e-10)


def test_z_diversity_errors():
    real = [np.eye(3)]
    with pytest.raises(ValueError, match="gen_by_caption is empty"):
        metrics.z_diversity([], [])
    with pytest.raises(ValueError, match="gen_by_caption has 2 captions but real_by_caption has 1"):
        metrics.z_diversity([np.eye(3), np.eye(3)], real)
    with pytest.raises(ValueError, match=r"gen_by_caption\[0\] needs at least 2 rows"):
        metrics.z_diversity([np.ones((1, 3))], real)
    with pytest.raises(ValueError, match=r"real_by_caption\[0\]: all 4 real clips have identical"):
        metrics.z_diversity([np.eye(3)], [np.ones((4, 3))])
    with pytest.raises(ValueError, match=r"gen_by_caption\[1\] has 2 features, gen_by_caption\[0\] has 3"):
        metrics.z_diversity([np.eye(3), np.eye(2)], [np.eye(3), np.eye(2)])


# --- k-means and NDB ----------------------------------------------------------


def _clusters(rng, counts, f=10, separation=20.0, labels=None):
    """Points around separated centres; counts[c] points for cluster c (or given labels)."""
    centres = np.eye(len(counts), f) * separation
    if labels is None:
        labels = np.repeat(np.arange(len(counts)), counts)
    return centres[labels] + rng.normal(size=(len(labels), f)), labels


def test_kmeans_recovers_separated_clusters_deterministically():
    x, labels = _clusters(_rng(10), [60] * 10)
    centroids, assign = metrics.kmeans(x, 10, seed=3)
    # Each found cluster is exactly one true cluster.
    for c in range(10):
        assert len(np.unique(labels[assign == c])) == 1
    assert len(np.unique(assign)) == 10
    for c in range(10):
        np.testing.assert_allclose(centroids[c], x[assign == c].mean(0))
    again, _ = metrics.kmeans(x, 10, seed=3)
    np.testing.assert_array_equal(centroids, again)


def test_kmeans_refuses_too_few_distinct_rows():
    x = np.repeat(np.eye(3), 4, axis=0)  # 12 rows, 3 distinct
    with pytest.raises(ValueError, match="only 3 distinct rows, fewer than the k=4"):
        metrics.kmeans(x, 4)
    with pytest.raises(ValueError, match="features has 12 rows, fewer than the k=13"):
        metrics.kmeans(x, 13)


def test_ndb_same_distribution_has_few_different_bins():
    rng = _rng(11)
    # Both sets sample their modes at random, so bin counts vary as they would.
    train, _ = _clusters(rng, [0] * 10, labels=rng.integers(10, size=600))
    gen, _ = _clusters(rng, [0] * 10, labels=rng.integers(10, size=500))
    result = metrics.ndb(train, gen, k=10, seed=0)
    assert not np.array_equal(result["gen_proportions"], result["train_proportions"])
    assert result["ndb_over_k"] <= 0.2
    assert result["train_counts"].sum() == 600 and result["gen_counts"].sum() == 500
    np.testing.assert_allclose(result["train_proportions"].sum(), 1.0)


def test_ndb_collapsed_generator_differs_in_every_bin():
    rng = _rng(12)
    train, _ = _clusters(rng, [60] * 10)
    gen, _ = _clusters(rng, [300, 300] + [0] * 8)  # only two of the ten modes
    result = metrics.ndb(train, gen, k=10, seed=0)
    assert result["ndb"] == 10 and result["ndb_over_k"] == 1.0
    assert np.sum(result["gen_counts"] > 0) == 2


def test_ndb_z_test_matches_scipy_normal():
    rng = _rng(13)
    train, _ = _clusters(rng, [50] * 6, f=6)
    gen, _ = _clusters(rng, [80, 50, 50, 40, 30, 50], f=6)
    r = metrics.ndb(train, gen, k=6, alpha=0.05, seed=1)
    n_t, n_g = r["train_counts"], r["gen_counts"]
    m, n = n_t.sum(), n_g.sum()
    pooled = (n_t + n_g) / (m + n)
    z = (n_g / n - n_t / m) / np.sqrt(pooled * (1 - pooled) * (1 / m + 1 / n))
    p = 2 * scipy.stats.norm.sf(np.abs(z))
    np.testing.assert_allclose(r["z"], z, rtol=1e-10)
    np.testing.assert_allclose(r["p_values"], p, rtol=1e-8)
    np.testing.assert_array_equal(r["different"], p < 0.05)
    assert r["ndb"] == int(np.sum(p < 0.05)) >= 1  # the 80-vs-50 bin


def test_ndb_errors():
    train = _rng(14).normal(size=(20, 3))
    with pytest.raises(ValueError, match="train has 20 clips, fewer than the k=50 k-means bins"):
        metrics.ndb(train, train)
    with pytest.raises(ValueError, match="train has 3 features per row but gen has 4"):
        metrics.ndb(train, np.zeros((5, 4)), k=5)
    with pytest.raises(ValueError, match="alpha must be in"):
        metrics.ndb(train, train, k=5, alpha=1.5)
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        metrics.ndb(train, train, k=1)
