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

Terms (condgan.objective.registry), each over the global batch under tf.distribute
(`global_info_nce`: every replica computes the global InfoNCE, all_gather is
differentiable, and the 1 / R loss scale makes the summed gradients that of the
one loss):

- d "contrastive": on the real pairs (step.real_audio_vectors, step.real_caption_vectors).
- g "contrastive": on the generated pairs (step.fake_audio_vectors,
  step.fake_caption_vectors, under the captions the critic was given).
- g "cond_contrastive": the conditioner's sampled c, through a linear head trained
  with G, against the critic's audio vectors of the batch's real clips (held
  fixed): c = mean + sigma * eps must identify its caption's sound, so the
  conditioner must set apart the means of captions that sound different by more
  than sigma (CondAugment's KL pulls them together).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from condgan import seeds
from condgan.config import ModelConfig
from condgan.objective.registry import register

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
             temperature: float = 0.1) -> tf.Tensor:
    """Symmetric multi-positive InfoNCE between audio and caption vectors of one batch.

    Args:
      audio_vectors: float[B, K], the discriminator's audio head a_i.
      caption_vectors: float[B, K], its caption head u_j.
      text_embedding: float[B, E], the caption embeddings (to find repeated captions).
      temperature: tau > 0; logits are cos(a_i, u_j) / tau.

    Returns:
      float32 scalar: mean over rows and both directions of the cross-entropy
      between `same_caption_targets` and softmax of the logits.

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
    text_to_audio = tf.nn.softmax_cross_entropy_with_logits(text_targets, text_logits)
    return 0.5 * (tf.reduce_mean(audio_to_text) + tf.reduce_mean(text_to_audio))


def global_info_nce(audio_vectors, caption_vectors, text_embedding, temperature: float):
    """`info_nce` over the global batch: under tf.distribute the rows of every replica."""
    ctx = seeds.replica_context()
    if ctx is not None:
        audio_vectors, caption_vectors, text_embedding = ctx.all_gather(
            [audio_vectors, caption_vectors, text_embedding], axis=0)
    return info_nce(audio_vectors, caption_vectors, text_embedding, temperature)


@register("d", "contrastive", params={"temperature": 0.1}, needs=("contrastive_dim",))
def critic_contrastive_term(step, temperature):
    """InfoNCE of the critic's heads on the real pairs."""
    return global_info_nce(step.real_audio_vectors, step.real_caption_vectors,
                           step.text_embedding, temperature)


@register("g", "contrastive", params={"temperature": 0.1}, needs=("contrastive_dim",))
def generator_contrastive_term(step, temperature):
    """InfoNCE of the critic's heads on the generated pairs (their captions as D saw them)."""
    return global_info_nce(step.fake_audio_vectors, step.fake_caption_vectors,
                           step.critic_text_embedding, temperature)


def _cond_head(model_config: ModelConfig) -> keras.layers.Layer:
    head = keras.layers.Dense(model_config.contrastive_dim, name="cond_contrastive_head")
    head.build((None, model_config.cond_dim))
    return head


@register("g", "cond_contrastive", params={"temperature": 0.1}, needs=("contrastive_dim",),
          layer=_cond_head, prefetch=("real_audio_vectors",))
def cond_contrastive_term(step, temperature, layer):
    """InfoNCE of layer(c) (the fresh c, before replay) against the real clips' audio vectors."""
    return global_info_nce(step.real_audio_vectors, layer(step.fresh_c), step.text_embedding,
                           temperature)
