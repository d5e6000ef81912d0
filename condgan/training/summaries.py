"""TensorBoard media summaries that catch collapse early.

Besides real and generated audio and their spectrograms (as WaveGAN and ddsp
log), this writes `train/z_diversity_est`: for a few captions, K clips from K
random z at inference (c = mean), mean pairwise log-mel distance within each
caption, divided by the mean pairwise distance among the real clips of the
summary batch. It is a cheap proxy of the z-diversity of docs/design.md (whose
denominator uses real clips of the same class): 0 means the generator ignores
z; it is comparable across steps of one run, not across datasets.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from condgan.evaluation.features import log_mel, spectrogram_images
from condgan.evaluation.metrics import mean_pairwise_distance

NUM_CAPTIONS = 4
NUM_Z = 4


def z_diversity_estimate(gan, text_embedding: np.ndarray, real_audio: np.ndarray,
                         sample_rate: int, num_z: int = NUM_Z, seed: int = 0):
    """Returns (estimate, generated float32[C, K, L]) for C caption embeddings.

    Args:
      gan: a CondGAN.
      text_embedding: float32[C, text_dim], one row per caption.
      real_audio: float32[M, L] real clips (M >= 2) for the denominator.
    """
    c_count = len(text_embedding)
    rep = np.repeat(np.asarray(text_embedding, np.float32), num_z, axis=0)
    z = tf.random.stateless_normal((c_count * num_z, gan.model_config.latent_dim), seed=[seed, 7])
    fake = gan.generate(rep, z=z).numpy().reshape(c_count, num_z, -1)
    fake_feat = log_mel(fake.reshape(c_count * num_z, -1), sample_rate).numpy()
    fake_feat = fake_feat.reshape(c_count, num_z, -1)
    within = np.mean([mean_pairwise_distance(f) for f in fake_feat])
    real_feat = log_mel(np.asarray(real_audio, np.float32), sample_rate).numpy()
    real = mean_pairwise_distance(real_feat.reshape(len(real_feat), -1))
    return (within / real if real > 0 else 0.0), fake


def write_media(gan, summary_batch, sample_rate: int, step: int) -> None:
    """Writes audio, spectrogram images and the z-diversity estimate at `step`.

    Args:
      gan: a CondGAN.
      summary_batch: (audio float32[M, L, 1], text_embedding float32[M, E], captions) numpy.
    """
    audio, text_embedding, captions = summary_batch[0], summary_batch[1], summary_batch[2]
    real = np.asarray(audio, np.float32)[..., 0] if np.ndim(audio) == 3 else np.asarray(audio)
    captions = [c.decode() if isinstance(c, bytes) else str(c) for c in captions]
    # First occurrence of each caption, up to NUM_CAPTIONS.
    rows = [captions.index(c) for c in dict.fromkeys(captions)][:NUM_CAPTIONS]
    estimate, fake = z_diversity_estimate(gan, np.asarray(text_embedding)[rows], real, sample_rate)
    tf.summary.scalar("train/z_diversity_est", estimate, step=step)
    tf.summary.audio("real", real[rows][..., None], sample_rate, step=step, max_outputs=len(rows))
    tf.summary.audio("generated", fake[:, 0, :, None], sample_rate, step=step, max_outputs=len(rows))
    # One image per caption: its K clips side by side.
    tiles = np.stack([np.concatenate(list(spectrogram_images(clips, sample_rate).numpy()), axis=1)
                      for clips in fake])[..., None]
    tf.summary.image("generated_spectrograms", tiles.astype(np.float32) / 255.0, step=step,
                     max_outputs=len(rows))
    tf.summary.text("generated_captions", tf.constant([captions[r] for r in rows]), step=step)
