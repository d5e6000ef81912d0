"""Matching-aware hard negatives (condgan.objective.hard_negatives): the choice of the wrong
caption, the masking, the loss, and what it teaches the critic."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _configs import base
from test_gan import TEXT_DIM

from condgan import records
from condgan.config import ConfigError
from condgan.objective import TERMS, Objective, Step
from condgan.objective.hard_negatives import (
    condition_groups,
    hard_negatives_term,
    masked_mean,
    nearest_other_group,
)
from condgan.training.trainer import Trainer, build_gan


def _np_choice(query, keys, same):
    """Reference: argmax of the cosine over the keys of another group; -1 where none."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    cos = q @ k.T
    out = []
    for i in range(len(q)):
        others = np.flatnonzero(~same[i])
        out.append(-1 if len(others) == 0 else int(others[np.argmax(cos[i, others])]))
    return np.array(out)


def _check(index, valid, want):
    np.testing.assert_array_equal(valid.numpy(), want >= 0)
    np.testing.assert_array_equal(index.numpy()[want >= 0], want[want >= 0])


@pytest.mark.parametrize("seed", range(3))
def test_the_wrong_caption_is_the_nearest_of_another_group(seed):
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(12, 6)).astype(np.float32)
    key_groups = rng.integers(0, 3, 12)
    # By group ids, the batch against itself and 5 rows against the 12 (a replica's rows
    # against the global batch).
    same = key_groups[:, None] == key_groups[None, :]
    _check(*nearest_other_group(keys, keys, key_groups, key_groups), _np_choice(keys, keys, same))
    _check(*nearest_other_group(keys[3:8], keys, key_groups[3:8], key_groups),
           _np_choice(keys[3:8], keys, same[3:8]))
    # Without ids, identical embeddings are one group: rows 0-2 are one caption.
    text = keys.copy()
    text[1] = text[2] = text[0]
    same = np.all(text[:, None] == text[None, :], axis=-1)
    want = _np_choice(text, text, same)
    assert not {int(want[0]), int(want[1]), int(want[2])} & {0, 1, 2}
    _check(*nearest_other_group(text, text), want)


def test_the_nearest_is_by_cosine_not_distance():
    # Row 1 is a long vector in row 0's direction, row 2 a short one 45 degrees off.
    text = np.array([[1.0, 0.0], [10.0, 0.5], [0.1, 0.1]], np.float32)
    index, valid = nearest_other_group(text, text, np.array([0, 1, 2]), np.array([0, 1, 2]))
    assert index.numpy()[0] == 1 and valid.numpy().all()


def test_rows_without_another_group_are_masked_and_the_mean_is_over_the_rest():
    text = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    index, valid = nearest_other_group(text, text, np.zeros(4, int), np.zeros(4, int))
    assert not valid.numpy().any()
    # One row of another group: the others all pair with it, it with its nearest.
    index, valid = nearest_other_group(text, text, np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1]))
    assert valid.numpy().all() and list(index.numpy()[:3]) == [3, 3, 3]
    values = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
    assert float(masked_mean(values, [True, False, True, False])) == pytest.approx(2.5)
    assert float(masked_mean(values, [False] * 4)) == 0.0


def _linear_critic(w):
    """A critic whose score is known: D(x, t) = mean(x) + <w, t>."""
    return lambda x, t: (tf.reduce_mean(x, axis=[1, 2]) + tf.linalg.matvec(t, w))[:, None]


@pytest.mark.parametrize("kind", ["hinge", "non_saturating"])
def test_the_loss_is_the_negative_side_on_the_chosen_pairs(kind):
    rng = np.random.default_rng(1)
    audio = rng.normal(size=(6, 32, 1)).astype(np.float32)
    text = rng.normal(size=(6, 5)).astype(np.float32)
    groups = np.array([0, 1, 0, 2, 1, 2])
    w = rng.normal(size=5).astype(np.float32)
    step = Step("d", kind, values={"audio": audio, "text_embedding": text, "groups": groups,
                                   "critic_pairs": _linear_critic(w)})
    got = float(hard_negatives_term(step))
    j = _np_choice(text, text, groups[:, None] == groups[None, :])
    score = audio.mean(axis=(1, 2)).astype(np.float64) + text[j] @ w
    want = np.maximum(0.0, 1.0 + score) if kind == "hinge" else np.log1p(np.exp(score))
    np.testing.assert_allclose(got, want.mean(), rtol=1e-5)
    # One group: no negative for any row, and a loss of 0 (not NaN).
    step = Step("d", kind, values={"audio": audio, "text_embedding": text,
                                   "groups": np.zeros(6, int), "critic_pairs": _linear_critic(w)})
    assert float(hard_negatives_term(step)) == 0.0


def test_condition_groups_are_classes_else_normalised_captions():
    captions = tf.constant(["A beep.", "a  beep", "Siren!", "siren", "hum", "HUM"])
    labels = tf.constant([-1, -1, -1, -1, 3, 3], tf.int64)
    ids = condition_groups(captions, labels).numpy()
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert ids[4] == ids[5] == -4  # classes: -1 - label, apart from every caption hash
    assert (ids[:4] >= 0).all()
    norm = [records.normalize_caption(c) for c in ["A beep.", "a  beep", "Siren!", "siren"]]
    assert norm[0] == norm[1] and norm[2] == norm[3]  # the metrics' groups, the same partition
    np.testing.assert_array_equal(condition_groups(labels=tf.constant([2, 2, 0])).numpy(),
                                  [-3, -3, -1])
    no_caption = condition_groups(labels=tf.constant([-1, -1, 1])).numpy()
    assert no_caption[0] != no_caption[1] and no_caption[2] == -2
    assert condition_groups() is None


def config(**objective):
    cfg = base("spectral")
    m = cfg.model
    m.length, m.model_dim, m.text_dim, m.cond_dim, m.latent_dim = 1024, 4, TEXT_DIM, 8, 8
    m.replay_capacity = 16
    cfg.objective.d.update(objective)
    cfg.train.batch_size = 6
    return cfg.validate()


def _batch(captions, labels):
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (6, 1024, 1)).astype(np.float32)
    text = rng.normal(size=(6, TEXT_DIM)).astype(np.float32)
    return (tf.constant(audio), tf.constant(text), tf.constant(captions),
            tf.constant(labels, tf.int64))


def test_the_groups_reach_the_term_with_labels_captions_or_embeddings_alone():
    keras.utils.set_random_seed(0)
    trainer = Trainer(build_gan(config(hard_negatives=0.5)))
    distinct = ["a", "b", "c", "d", "e", "f"]

    def value(batch):
        return float(trainer.train_step(batch)["d_hard_negatives"])

    # Each batch has distinct embeddings; only the groups differ.
    assert value(_batch(distinct, [0, 1, 2, 0, 1, 2])) > 0      # classes
    assert value(_batch(distinct, [4] * 6)) == 0.0              # one class: no negatives
    assert value(_batch(["Beep."] * 3 + ["beep"] * 3, [-1] * 6)) == 0.0  # one caption group
    assert value(_batch(distinct, [-1] * 6)) > 0                # captions
    assert value(_batch(distinct, [-1] * 6)[:2]) > 0            # embeddings alone


def test_it_trains_the_critic_only_and_is_refused_with_wgan_gp():
    assert ("d", "hard_negatives") in TERMS and ("g", "hard_negatives") not in TERMS
    cfg = config(hard_negatives=1.0, adversarial=0.0, contrastive=0.0)
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg)
    audio, text, _, labels = _batch(["a", "b", "c", "d", "e", "f"], [0, 1, 2, 0, 1, 2])
    d_before = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    g_before = [v.numpy().copy() for v in gan.g_variables]
    values = gan.discriminator_step(audio, text, labels=labels,
                                    groups=condition_groups(labels=labels))
    assert float(values["d_total"]) == float(values["d_hard_negatives"]) > 0
    assert max(np.abs(v.numpy() - b).max()
               for v, b in zip(gan.discriminator.trainable_variables, d_before)) > 0
    for v, b in zip(gan.g_variables, g_before):
        np.testing.assert_array_equal(v.numpy(), b)
    cfg.objective.g["hard_negatives"] = 1.0
    with pytest.raises(ConfigError, match="objective.g.hard_negatives is not a term of the gen"):
        Objective(cfg.objective, cfg.model)
    del cfg.objective.g["hard_negatives"]
    cfg.objective.adversarial = "wgan_gp"
    with pytest.raises(ConfigError, match="hard_negatives is not supported with the wgan_gp"):
        Objective(cfg.objective, cfg.model)


def _four_class_batch(length=1024):
    """Classes A, B (captions at cosine 0.93, as USE's two whistles), C, D (far captions),
    ordered A C B D A C B D: the batch rolled by one never pairs A with B's caption."""
    rng = np.random.default_rng(0)
    t = np.arange(length) / 1024.0
    sounds = [lambda: 0.5 * np.sin(2 * np.pi * 8 * t + rng.uniform(0, 6)),
              lambda: 0.5 * np.sin(2 * np.pi * 24 * t + rng.uniform(0, 6)),
              lambda: rng.uniform(-0.5, 0.5, length),
              lambda: 0.05 * rng.uniform(-0.5, 0.5, length)]
    eye = np.eye(TEXT_DIM, dtype=np.float32)
    captions = [eye[0], 0.93 * eye[0] + np.sqrt(1 - 0.93 ** 2) * eye[1], eye[2], eye[3]]
    order = [0, 2, 1, 3] * 2
    audio = np.stack([sounds[k]() for k in order])[..., None]
    return (tf.constant(audio, tf.float32), tf.constant(np.stack([captions[k] for k in order])),
            tf.constant(order, tf.int64), captions)


def _near_pair_gap(hard_negatives, mismatch_share, steps=200):
    """D(A clips, A's caption) - D(A clips, B's caption) after `steps` critic updates."""
    cfg = config(hard_negatives=hard_negatives, contrastive=0.0)
    cfg.model.text_dropout, cfg.model.contrastive_dim = 0.0, 0
    cfg.objective.g = {"adversarial": 1.0, "kl": 1.0}
    cfg.objective.params["adversarial"] = {"mismatch_share": mismatch_share}
    cfg.train.d_learning_rate = 2e-3
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg)
    audio, text, labels, captions = _four_class_batch()
    step = tf.function(gan.discriminator_step)
    for _ in range(steps):
        step(audio, text, labels=labels, groups=condition_groups(labels=labels))
    a_clips = audio[0::4]
    own = gan.discriminate(a_clips, tf.constant([captions[0]] * 2), training=False).score
    near = gan.discriminate(a_clips, tf.constant([captions[1]] * 2), training=False).score
    return float(tf.reduce_mean(own - near))


def test_hard_negatives_teach_the_critic_the_near_pair_the_rolled_batch_misses():
    # The spectral critic (projection, spectral norm). With the rolled batch's mismatched
    # pairs D never sees A's clips under B's caption, and its hinge is soon met on the
    # pairs it does see, so the near pair's gap stays where it began (-0.56 here); with
    # hard negatives D must score A's clips lower under B's caption (1.16 here).
    rolled, hard = _near_pair_gap(0.0, 0.5), _near_pair_gap(0.5, 0.0)
    assert hard > 1.0 and rolled < 0.2, (rolled, hard)
