"""Matching-aware hard negatives: a real clip under the nearest caption of another group is fake.

The matching-aware critic of GAN-INT-CLS / StackGAN (`adversarial`'s mismatch_share) pairs
each real clip with the caption of the clip before it in the batch. For a shuffled batch
that caption is usually far from the clip's own, so D learns to reject a siren's caption on
a beep, and rarely "falling whistle" on a rising whistle: the pairs it most needs. Here the
wrong caption is chosen: for each real clip i, the caption of the row j of ANOTHER condition
group whose caption embedding is nearest to i's (cosine of the text embeddings the critic
receives, before its own projection and dropout: the text encoder's neighbourhood, where
USE puts the two whistles at 0.93). D scores (real_i, caption_j) as fake with the
adversarial loss's negative side (hinge: relu(1 + D); non_saturating: softplus(D)),
through the same caption path as every pair (dropout included, as the mismatched pair).

Condition groups (`condition_groups`, computed by `CondGAN.gan_step` from the batch):
a clip's class when the batch carries labels (>= 0); otherwise its normalised caption
(`condgan.records.normalize_caption`, as the metrics group captions); when the batch holds
only embeddings, rows with identical embeddings are one group (the contrastive term's
test of a repeated caption). Rows with no other group in the batch have no negative: they
are masked out, the loss is the mean over the rest, and 0 when every row is masked.

Where the groups are single clips (folder data whose names all differ, no classes), every
other caption is another group, so the term is a nearest-neighbour mismatch: the clip under
the batch's most similar caption of another clip counts as fake. That asks D to tell apart
captions that may describe the same sound (two recordings named "door slam 1" and "door
slam 2" normalise to different groups), so prefer it on labelled data.

Term (condgan.objective.registry): d "hard_negatives" (StackGAN's weight for mismatched
pairs is 0.5). Not with wgan_gp (refused, as mismatch_share: the gradient penalty bounds
D's slope in the audio only). Under tf.distribute the candidates are the global batch (every
replica's rows, all-gathered) and the mean is over the global batch's unmasked rows, so the
step is one device's at the same global batch.
"""

from __future__ import annotations

import tensorflow as tf

from condgan import records, seeds
from condgan.config import ConfigError
from condgan.objective.adversarial import negative_rows
from condgan.objective.contrastive import SAME_CAPTION_TOLERANCE
from condgan.objective.registry import register

# Caption hashes are in [0, 2**62); a class c is -1 - c, so the two kinds never meet.
_HASH_BUCKETS = 2 ** 62


def _normalized(captions):
    """records.normalize_caption of each of a string[B] tensor's captions (a py_function)."""
    return tf.constant([records.normalize_caption(c.decode("utf-8")) for c in captions.numpy()],
                       tf.string, shape=[len(captions.numpy())])


def condition_groups(captions=None, labels=None) -> tf.Tensor | None:
    """One int64 id per clip, equal for two clips exactly when they share a condition group.

    Args:
      captions: optional string[B], the clips' captions.
      labels: optional int[B], their classes (-1 where unknown).

    Returns:
      int64[B]: -1 - label where label >= 0; elsewhere a 62-bit hash (FarmHash) of the
      normalised caption (`condgan.records.normalize_caption`, as the metrics group
      captions; a collision within one batch is about B^2 / 2^63 likely); where neither
      is known (no captions, label -1), a distinct id per row. None when both are None
      (the term then groups identical embeddings).
    """
    if captions is None and labels is None:
        return None
    if captions is not None:
        captions = tf.convert_to_tensor(captions, tf.string)
        normalized = tf.py_function(_normalized, [captions], tf.string)
        normalized = tf.ensure_shape(normalized, captions.shape)
        fallback = tf.strings.to_hash_bucket_fast(normalized, _HASH_BUCKETS)
    else:
        labels = tf.convert_to_tensor(labels)
        rows = tf.shape(labels, out_type=tf.int64)[0]
        ctx = seeds.replica_context()  # distinct across replicas too
        first = 0 if ctx is None else tf.cast(ctx.replica_id_in_sync_group, tf.int64) * rows
        fallback = _HASH_BUCKETS + first + tf.range(rows)
    if labels is None:
        return fallback
    labels = tf.cast(labels, tf.int64)
    return tf.where(labels >= 0, -1 - labels, fallback)


def same_group(query_text, key_text, query_groups=None, key_groups=None) -> tf.Tensor:
    """bool[B, N]: query row i and key row j are of one condition group.

    With group ids, equal ids; without, identical caption embeddings (squared distance
    below `SAME_CAPTION_TOLERANCE` times 1 + |query|^2, as the contrastive term's test).
    """
    if (query_groups is None) != (key_groups is None):
        raise ValueError("same_group: give group ids for both the queries and the keys, or neither")
    if query_groups is not None:
        return tf.equal(tf.cast(query_groups, tf.int64)[:, None],
                        tf.cast(key_groups, tf.int64)[None, :])
    q = tf.cast(query_text, tf.float32)
    k = tf.cast(key_text, tf.float32)
    q_sq = tf.reduce_sum(tf.square(q), axis=1)
    dist = q_sq[:, None] + tf.reduce_sum(tf.square(k), axis=1)[None, :] \
        - 2.0 * tf.matmul(q, k, transpose_b=True)
    return dist < SAME_CAPTION_TOLERANCE * (1.0 + q_sq[:, None])


def nearest_other_group(query_text, key_text, query_groups=None, key_groups=None):
    """For each query caption, the key row of another group with the nearest caption.

    Args:
      query_text: float[B, E], the caption embeddings of the clips to pair.
      key_text: float[N, E], the candidate captions (the batch itself, or under
        tf.distribute the global batch).
      query_groups, key_groups: optional int[B], int[N] group ids (`condition_groups`);
        None groups identical embeddings.

    Returns:
      (index int32[B], valid bool[B]): index[i] = argmax over the keys j of another group
      of cos(query_i, key_j) (the first such j on ties); valid[i] is false when no key is
      of another group (index[i] is then 0 and must not be used).
    """
    other = tf.logical_not(same_group(query_text, key_text, query_groups, key_groups))
    q = tf.math.l2_normalize(tf.cast(query_text, tf.float32), axis=-1)
    k = tf.math.l2_normalize(tf.cast(key_text, tf.float32), axis=-1)
    cosine = tf.matmul(q, k, transpose_b=True)
    # Below every cosine (>= -1), so a row of another group always wins over the masked ones.
    masked = tf.where(other, cosine, tf.fill(tf.shape(cosine), -3.0))
    valid = tf.reduce_any(other, axis=1)
    index = tf.where(valid, tf.argmax(masked, axis=1, output_type=tf.int32), 0)
    return index, valid


def masked_mean(values, mask) -> tf.Tensor:
    """Mean of `values` over the rows where `mask` is true, 0.0 when none is; under
    tf.distribute this replica's share of the mean over the global batch's masked rows
    (times the number of replicas, which the step's 1 / R loss scale cancels, and which a
    MEAN over the replicas reports as the global mean)."""
    values = tf.cast(values, tf.float32)
    mask = tf.cast(mask, tf.float32)
    total, count = tf.reduce_sum(values * mask), tf.reduce_sum(mask)
    ctx = seeds.replica_context()
    if ctx is not None:
        count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, count) / ctx.num_replicas_in_sync
    return tf.math.divide_no_nan(total, count)


@register("d", "hard_negatives", inputs=("groups",))
def hard_negatives_term(step):
    """Negative side of the adversarial loss on (real clip, nearest caption of another group),
    over the rows that have one (step.groups: `condition_groups`, or None)."""
    text, groups = step.text_embedding, step.groups
    keys, key_groups = text, groups
    ctx = seeds.replica_context()
    if ctx is not None:
        keys = ctx.all_gather(text, axis=0)
        key_groups = None if groups is None else ctx.all_gather(groups, axis=0)
    index, valid = nearest_other_group(text, keys, groups, key_groups)
    logits = step.critic_pairs(step.audio, tf.gather(keys, index))
    return masked_mean(negative_rows(step.adversarial, logits), valid)


def _check(adversarial: str) -> None:
    if adversarial == "wgan_gp":
        raise ConfigError(
            "objective.d.hard_negatives is not supported with the wgan_gp loss: the gradient "
            "penalty bounds the critic's slope in the audio only, so its gap between right and "
            "wrong captions is unbounded; use hinge or non_saturating")


hard_negatives_term.check = _check
