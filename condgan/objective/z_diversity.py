"""Capped spectral z-diversity term: G is rewarded for different spectrograms from different z.

Why (issue 8, docs/second-base.md): in training the generator sees
c = mean + sigma * eps from CondAugment, and it takes most of its variety from
that eps, which generation drops (c = mean there, as the method says). On
three trained runs of the second base, a caption's clips spread 0.53-0.55 of
the real spread across z with c = mean, but 0.72-0.88 across eps with z fixed.
This term moves the variety into z, the only noise left at generation: with
one c per row and two independent z, it rewards the distance between the two
clips' log-magnitude spectrograms, up to a cap.

    d    = mean over batch, frames and bins of |log(|STFT(G(z1, c))| + floor)
                                                - log(|STFT(G(z2, c))| + floor)|
    loss = -min(d, cap)

It is the diversity-sensitive regulariser of DSGAN (Yang et al., ICLR 2019:
maximise min(|G(z1) - G(z2)|, tau)) on log-magnitude spectrograms instead of
samples, so a shift of phase is no "diversity" and a quiet band counts as much
as a loud one. Unlike MSGAN's inverse ratio (`condgan.objective.mode_seeking`),
its reward stops at the cap, so it cannot push the generator to arbitrary noise
once its clips differ as much as the data's do. The distance is one number per
batch (means over all elements), so one near-identical pair cannot dominate.
"""

from __future__ import annotations

import tensorflow as tf

from condgan.config import ConfigError
from condgan.nets.spectral import log_magnitude
from condgan.objective.registry import register

# Added to |STFT| before the log (the critic's log-STFT uses 1e-4): a quiet band counts,
# but differences 60 dB below a full-scale bin do not. The measured runs used 1e-3.
LOG_FLOOR = 1e-3


def spectral_distance(fake_1: tf.Tensor, fake_2: tf.Tensor, frame: int = 256, hop: int = 64,
                      floor: float = LOG_FLOOR, mean=None) -> tf.Tensor:
    """Mean absolute difference of the two batches' log-magnitude spectrograms.

    Args:
      fake_1, fake_2: float[batch, length(, 1)], generated from the same conditions
        with independent z.
      frame, hop, floor: as in `condgan.spectral.log_magnitude`.
      mean: optional function tensor -> scalar replacing `tf.reduce_mean`, e.g. a
        mean over all tf.distribute replicas' rows.

    Returns:
      float32 scalar >= 0.

    Raises:
      ValueError: the two batches' shapes differ.
    """
    a, b = log_magnitude(fake_1, frame, hop, floor), log_magnitude(fake_2, frame, hop, floor)
    if a.shape != b.shape:
        raise ValueError(f"spectral_distance: fake_1 and fake_2 differ in shape: "
                         f"{tuple(fake_1.shape)} vs {tuple(fake_2.shape)}")
    return (mean or tf.reduce_mean)(tf.abs(a - b))


def z_diversity_loss(fake_1: tf.Tensor, fake_2: tf.Tensor, cap: float = 1.0, frame: int = 256,
                     hop: int = 64, floor: float = LOG_FLOOR, mean=None) -> tf.Tensor:
    """-min(spectral_distance(fake_1, fake_2), cap): minimise it with respect to G.

    Args:
      fake_1, fake_2, frame, hop, floor, mean: as in `spectral_distance`.
      cap: distance above which there is no more reward (and no gradient), > 0.

    Returns:
      float32 scalar in [-cap, 0].

    Raises:
      ValueError: cap <= 0 or the shapes differ.
    """
    return capped_reward(spectral_distance(fake_1, fake_2, frame, hop, floor, mean), cap)


def capped_reward(distance: tf.Tensor, cap: float) -> tf.Tensor:
    """-min(distance, cap): the loss of a `spectral_distance` already computed.

    Raises:
      ValueError: cap <= 0.
    """
    if not cap > 0:
        raise ValueError(f"z_diversity_loss: cap must be > 0, got {cap!r}")
    return -tf.minimum(distance, float(cap))


@register("g", "z_diversity", params={"cap": 1.0}, reports=("z_spread",))
def z_diversity_term(step, cap):
    """`capped_reward` of the spectral distance between step.fake and step.fake_2 (one c,
    two z; the model's STFT frame and hop); reports the distance itself as "z_spread"."""
    distance = spectral_distance(step.fake, step.fake_2, step.stft_frame, step.stft_hop,
                                 mean=step.global_mean)
    step.report("z_spread", tf.stop_gradient(distance))
    return capped_reward(distance, cap)


def _check_cap(adversarial: str, cap: float) -> None:
    if not cap > 0:
        raise ConfigError(f"objective.params.z_diversity.cap must be > 0, got {cap}")


z_diversity_term.check = _check_cap
