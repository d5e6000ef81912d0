"""Cross-modal contrastive term: the discriminator's audio features against the batch's captions.

As in XMC-GAN (Zhang et al. 2021) for text-to-image: the discriminator has two
small heads, one mapping its pooled audio features to a vector a_i, one mapping
the caption embedding to u_j. An InfoNCE loss over the batch pulls a_i towards
the u of its own caption and away from the other captions. The discriminator
minimises it on real pairs (so it learns what a caption sounds like, without
labels); the generator minimises it on its own pairs (so its clip must be
recognisable as its caption). A projection discriminator alone learns the
caption slowly: on the procedural set its conditional accuracy stayed at chance
for 1,000 steps, with the contrastive term it was 0.28 (issue 8 notes).

Rows whose caption embeddings are identical (the same caption twice in a
batch) are all positives of each other, with equal weight (multi-positive
InfoNCE); without that, a repeated caption would be asked to be far from
itself. Both directions (audio -> caption and caption -> audio) are averaged.

Generated clips as negatives (`negatives=`, the discriminator's side with
`train.contrastive_fake_negatives`): in the caption -> audio direction each
caption also has to pick its real clip out from the generated clips' audio
vectors. Trained on real pairs only, the heads can be met by the generator with
features that are not the caption's sound (issue 8, session 8: D's head heard
0.90 of the generated rising whistles as rising whistles, the scoring classifier
none); with the generated clips as negatives, the head must rest on what sets a
caption's real clips apart from the generator's.
"""

from __future__ import annotations

import tensorflow as tf

# Squared distance below which two caption embeddings count as the same caption.
SAME_CAPTION_TOLERANCE = 1e-6


def same_caption_targets(text_embedding: tf.Tensor) -> tf.Tensor:
    """Row-normalised target matrix: T[i, j] = 1 / n_i where captions i and j are identical.

    Args:
      text_embedding: float[B, E] caption embeddings.

    Returns:
      float32[B, B], each row sums to 1 (the diagonal is always positive).
    """
    t = tf.cast(text_embedding, tf.float32)
    sq = tf.reduce_sum(tf.square(t), axis=1)
    dist = sq[:, None] + sq[None, :] - 2.0 * tf.matmul(t, t, transpose_b=True)
    same = tf.cast(dist < SAME_CAPTION_TOLERANCE * (1.0 + sq[:, None]), tf.float32)
    same = tf.maximum(same, tf.eye(tf.shape(t)[0]))
    return same / tf.reduce_sum(same, axis=1, keepdims=True)


def info_nce(audio_vectors: tf.Tensor, caption_vectors: tf.Tensor, text_embedding: tf.Tensor,
             temperature: float = 0.1, negatives: tf.Tensor | None = None) -> tf.Tensor:
    """Symmetric multi-positive InfoNCE between audio and caption vectors of one batch.

    Args:
      audio_vectors: float[B, K], the discriminator's audio head a_i.
      caption_vectors: float[B, K], its caption head u_j.
      text_embedding: float[B, E], the caption embeddings (to find repeated captions).
      temperature: tau > 0; logits are cos(a_i, u_j) / tau.
      negatives: optional float[N, K] audio vectors that are no caption's positive
        (generated clips): extra candidates of the caption -> audio direction.

    Returns:
      float32 scalar: mean over rows and both directions of the cross-entropy
      between `same_caption_targets` (zero on the negatives) and softmax of the logits.

    Raises:
      ValueError: temperature <= 0.
    """
    if not temperature > 0:
        raise ValueError(f"info_nce: temperature must be > 0, got {temperature!r}")
    a = tf.math.l2_normalize(tf.cast(audio_vectors, tf.float32), axis=-1)
    u = tf.math.l2_normalize(tf.cast(caption_vectors, tf.float32), axis=-1)
    logits = tf.matmul(a, u, transpose_b=True) / temperature
    targets = same_caption_targets(text_embedding)
    audio_to_text = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
    text_logits, text_targets = tf.transpose(logits), tf.transpose(targets)
    if negatives is not None:
        n = tf.cast(negatives, tf.float32)
        if n.shape.rank != 2 or n.shape[-1] != u.shape[-1]:
            raise ValueError(f"info_nce: negatives must be [N, {u.shape[-1]}] like the caption "
                             f"vectors, got shape {n.shape}")
        n = tf.math.l2_normalize(n, axis=-1)
        text_logits = tf.concat([text_logits, tf.matmul(u, n, transpose_b=True) / temperature], 1)
        text_targets = tf.concat([text_targets, tf.zeros([tf.shape(u)[0], tf.shape(n)[0]])], 1)
    text_to_audio = tf.nn.softmax_cross_entropy_with_logits(text_targets, text_logits)
    return 0.5 * (tf.reduce_mean(audio_to_text) + tf.reduce_mean(text_to_audio))
