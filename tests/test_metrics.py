"""Metrics of docs/metrics.md against independent numpy / scipy references."""

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
    for _c, spread in enumerate(spreads):
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


def test_caption_matched_z_diversity_reads_the_spread_of_the_caption_group():
    # A class of two speakers far apart; a caption names one of them. A generator
    # that varies like that speaker is at 1 against the group, well below 1 against
    # the class, whose spread the gap between the speakers inflates.
    rng = _rng(10)
    speaker_a = 20.0 + rng.normal(size=(300, 16))
    speaker_b = -20.0 + rng.normal(size=(300, 16))
    gen = 20.0 + rng.normal(size=(300, 16))
    matched = metrics.z_diversity([gen], [speaker_a])
    by_class = metrics.z_diversity([gen], [np.concatenate([speaker_a, speaker_b])])
    assert matched == pytest.approx(1.0, abs=0.06)
    pd = scipy.spatial.distance.pdist
    assert by_class == pytest.approx(pd(gen).mean() / pd(np.concatenate([speaker_a, speaker_b])).mean())
    assert by_class < 0.2


# --- modified inception score --------------------------------------------------


def _mis_reference(probs, labels=None):
    """Brute force over ordered pairs of distinct rows with scipy.stats.entropy (KL)."""
    floored = np.maximum(probs, metrics.PROB_FLOOR)
    kls = [scipy.stats.entropy(probs[i], floored[j])
           for i in range(len(probs)) for j in range(len(probs))
           if i != j and (labels is None or labels[i] == labels[j])]
    return math.exp(np.mean(kls))


def _random_probs(rng, n, k, sharpness=3.0):
    logits = sharpness * rng.normal(size=(n, k))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_modified_inception_score_hand_cases():
    # Identical predictions: every KL is 0.
    assert metrics.modified_inception_score(np.tile([0.2, 0.3, 0.5], (4, 1))) == 1.0
    # Two rows p = (1/2, 1/2), q = (1/4, 3/4): mean of KL(p||q) and KL(q||p).
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    kl_pq = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    kl_qp = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert metrics.modified_inception_score(np.stack([p, q])) == pytest.approx(
        math.exp((kl_pq + kl_qp) / 2), rel=1e-12)
    # One-hot rows of different classes: each KL is log(1 / floor), so mIS = 1 / floor.
    assert metrics.modified_inception_score(np.eye(2)) == pytest.approx(
        1.0 / metrics.PROB_FLOOR, rel=1e-9)
    # Within classes: two confident pairs, each of one class, agree: 1; across: huge.
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert metrics.modified_inception_score(probs, labels=[0, 0, 1, 1]) == 1.0
    # Across: 8 of the 12 ordered pairs cross classes (KL log(1/floor)), 4 agree.
    assert math.log(metrics.modified_inception_score(probs)) == pytest.approx(
        8 / 12 * -math.log(metrics.PROB_FLOOR), rel=1e-9)


@pytest.mark.parametrize("chunk_entries", [1 << 22, 7])
def test_modified_inception_score_matches_scipy_brute_force(monkeypatch, chunk_entries):
    monkeypatch.setattr(metrics, "_CHUNK_ENTRIES", chunk_entries)
    rng = _rng(11)
    probs = _random_probs(rng, 23, 5)
    probs[3] = [1.0, 0.0, 0.0, 0.0, 0.0]  # zeros: 0 log 0 = 0 and the floor in log q
    labels = rng.integers(0, 3, size=23)
    assert metrics.modified_inception_score(probs) == pytest.approx(_mis_reference(probs), rel=1e-10)
    assert metrics.modified_inception_score(probs, labels) == pytest.approx(
        _mis_reference(probs, labels), rel=1e-10)
    # Labels may be any comparable values (e.g. class names).
    names = np.array(["a", "b", "c"], dtype=object)[labels]
    assert metrics.modified_inception_score(probs, names) == metrics.modified_inception_score(
        probs, labels)


def test_modified_inception_score_errors():
    probs = _random_probs(_rng(12), 3, 4)
    with pytest.raises(ValueError, match="no label holds two of them"):
        metrics.modified_inception_score(probs, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="needs at least one pair"):
        metrics.modified_inception_score(probs[:1])
    with pytest.raises(ValueError, match=r"labels must be 1-D with one entry per row of probs \(3\)"):
        metrics.modified_inception_score(probs, labels=[0, 1])
    with pytest.raises(ValueError, match="not logits"):
        metrics.modified_inception_score(np.log(probs))


# --- AM score ------------------------------------------------------------------


def test_am_score_hand_cases():
    k = 4
    one_hot = np.eye(k)[np.arange(40) % k]
    # Confident and spread over classes like the reference: 0 for both terms.
    assert metrics.am_score_terms(one_hot, one_hot) == (0.0, 0.0)
    # Uniform predictions: balanced marginal (KL 0) but entropy log K.
    kl, entropy = metrics.am_score_terms(np.full((10, k), 1.0 / k), one_hot)
    assert kl == pytest.approx(0.0, abs=1e-15) and entropy == pytest.approx(math.log(k))
    # Collapsed on class 0: KL(uniform || e_0) = (1/K) log(1/K) + (K-1)/K log((1/K) / floor).
    collapsed = np.eye(k)[np.zeros(40, int)]
    expected = (1 / k) * math.log(1 / k) + (k - 1) / k * math.log((1 / k) / metrics.PROB_FLOOR)
    assert metrics.am_score(collapsed, one_hot) == pytest.approx(expected, rel=1e-12)


def test_am_score_matches_scipy():
    rng = _rng(13)
    gen, ref = _random_probs(rng, 50, 6), _random_probs(rng, 80, 6, sharpness=1.0)
    expected_kl = scipy.stats.entropy(ref.mean(0), gen.mean(0))
    expected_h = np.mean(scipy.stats.entropy(gen, axis=1))
    kl, h = metrics.am_score_terms(gen, ref)
    assert kl == pytest.approx(expected_kl, rel=1e-12) and h == pytest.approx(expected_h, rel=1e-12)
    assert metrics.am_score(gen, ref) == pytest.approx(expected_kl + expected_h, rel=1e-12)
    with pytest.raises(ValueError, match="probs has 6 features per row but reference_probs has 5"):
        metrics.am_score(gen, _random_probs(rng, 8, 5))


# --- intra-FD ------------------------------------------------------------------


def test_intra_frechet_distance_hand_case():
    # 1-D: FD = (mu_a - mu_b)^2 + (sd_a - sd_b)^2 per class. Class 0: the same
    # points (0); class 1: shifted by 10 (100). Mean 50.
    a = np.array([[0.0], [2.0], [0.0], [2.0]])
    b = np.array([[0.0], [2.0], [10.0], [12.0]])
    mean, per_class = metrics.intra_frechet_distance(a, [0, 0, 1, 1], b, [0, 0, 1, 1])
    assert per_class == {0: pytest.approx(0.0, abs=1e-12), 1: pytest.approx(100.0)}
    assert mean == pytest.approx(50.0)
    # Class order of the rows does not matter; a class subset can be asked for.
    mean, per_class = metrics.intra_frechet_distance(a[::-1], [1, 1, 0, 0], b, [0, 0, 1, 1],
                                                     classes=[1])
    assert per_class == {1: pytest.approx(100.0)} and mean == pytest.approx(100.0)


def test_intra_frechet_distance_matches_scipy_per_class():
    rng = _rng(14)
    la, lb = np.arange(90) % 3, np.arange(60) % 3
    a = rng.normal(size=(90, 4)) + la[:, None]
    b = 1.5 * rng.normal(size=(60, 4)) - lb[:, None]
    mean, per_class = metrics.intra_frechet_distance(a, la, b, lb)
    expected = {c: _fd_reference(a[la == c], b[lb == c]) for c in range(3)}
    assert per_class == pytest.approx(expected, rel=1e-8)
    assert mean == pytest.approx(np.mean(list(expected.values())), rel=1e-8)
    assert metrics.frechet_distance(a, b) != pytest.approx(mean)  # not the pooled FD


def test_intra_frechet_distance_errors():
    a = np.zeros((4, 2)) + np.arange(4)[:, None]
    with pytest.raises(ValueError, match="class 2 has 0 rows in feat_a and 2 in feat_b"):
        metrics.intra_frechet_distance(a, [0, 0, 1, 1], a, [0, 0, 2, 2])
    with pytest.raises(ValueError, match=r"labels_a must be 1-D with one entry per feature row \(4\)"):
        metrics.intra_frechet_distance(a, [0, 0], a, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="feat_a has 2 features per row but feat_b has 3"):
        metrics.intra_frechet_distance(a, [0] * 4, np.zeros((4, 3)), [0] * 4)


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
