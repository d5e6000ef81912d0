"""Tests for condgan.objective.contrastive against a numpy reimplementation."""

import numpy as np
import pytest

from condgan.objective import contrastive


def _numpy_info_nce(a, u, text, tau):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    logits = a @ u.T / tau
    same = np.array([[np.allclose(x, y) for y in text] for x in text], float)
    targets = same / same.sum(1, keepdims=True)
    text_logits, text_targets = logits.T, targets.T

    def xent(t, logit):
        logit = logit - logit.max(1, keepdims=True)
        logp = logit - np.log(np.exp(logit).sum(1, keepdims=True))
        return -(t * logp).sum(1).mean()

    return 0.5 * (xent(targets, logits) + xent(text_targets, text_logits))


def test_matches_numpy_with_repeated_captions():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(3, 5))[[0, 1, 0, 2, 1, 0]]  # captions repeat
    a, u = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    got = float(contrastive.info_nce(a, u, text, temperature=0.2))
    assert got == pytest.approx(_numpy_info_nce(a, u, text, 0.2), rel=1e-5)


def test_known_values():
    # Perfectly aligned, distinct captions, tiny temperature: loss -> 0.
    eye = np.eye(4)
    assert float(contrastive.info_nce(eye, eye, eye, temperature=0.01)) < 1e-6
    # Uninformative vectors (all equal): loss = log(B).
    ones = np.ones((4, 3))
    assert float(contrastive.info_nce(ones, ones, eye, 0.1)) == pytest.approx(np.log(4), rel=1e-6)
    # Aligned per caption, each caption twice: the mass splits over the 2 positives, log 2.
    text = np.eye(2)[[0, 0, 1, 1]]
    assert float(contrastive.info_nce(text, text, text, 0.001)) == pytest.approx(
        np.log(2), rel=1e-5)


def test_targets_rows_sum_to_one():
    text = np.eye(3)[[0, 1, 0, 0]]
    t = contrastive.same_caption_targets(text).numpy()
    np.testing.assert_allclose(t.sum(1), 1.0)
    np.testing.assert_allclose(t[0], [1 / 3, 0, 1 / 3, 1 / 3])


def test_bad_temperature():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        contrastive.info_nce(np.ones((2, 2)), np.ones((2, 2)), np.eye(2), temperature=0.0)
