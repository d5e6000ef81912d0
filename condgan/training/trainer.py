"""Trainer: binds a CondGAN, its optimizers and a tf.distribute strategy.

The step itself is `CondGAN.gan_step` (the same code `fit` runs). The Trainer
only wraps it in `tf.function` and `strategy.run`, scales every loss term by
1 / num_replicas_in_sync (gradients are summed across replicas) and averages
the reported values. Checkpoint cadence and summaries live in `loop.py`.
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf

from condgan.config import Config
from condgan.gan import CondGAN

MULTI_REPLICA_WARNING = (
    "{} replicas: every replica draws the same z, CondAugment noise, dropout masks and phase "
    "shifts (the Keras seed generators are mirrored), so the generated part of the global "
    "batch repeats per replica; the gradients are right for that batch. Prefer one device "
    "with a larger batch until per-replica seeds are implemented.")


def build_gan(config: Config, strategy: tf.distribute.Strategy | None = None) -> CondGAN:
    """Builds and compiles a CondGAN from a full config, inside the strategy's scope.

    Adam settings follow WaveGAN (lr 1e-4, beta_1 0.5, beta_2 0.9).
    """
    strategy = strategy or tf.distribute.get_strategy()
    config.validate()
    t = config.train
    with strategy.scope():
        gan = CondGAN(config.model, seed=t.seed)
        gan.compile(
            g_optimizer=keras.optimizers.Adam(t.g_learning_rate, beta_1=t.beta_1, beta_2=t.beta_2),
            d_optimizer=keras.optimizers.Adam(t.d_learning_rate, beta_1=t.beta_1, beta_2=t.beta_2),
            loss=t.loss, gp_weight=t.gp_weight, n_critic=t.n_critic,
            mode_seeking_weight=t.mode_seeking_weight, mismatch_weight=t.mismatch_weight,
            contrastive_weight=t.contrastive_weight,
            contrastive_temperature=t.contrastive_temperature)
        gan.build_optimizers()
    return gan


class Trainer:
    """Runs `CondGAN.gan_step` under a strategy, compiled with tf.function.

    Args:
      gan: a compiled CondGAN built in `strategy.scope()` (see `build_gan`).
      strategy: defaults to the current (default: single-device) strategy.
    """

    def __init__(self, gan: CondGAN, strategy: tf.distribute.Strategy | None = None):
        self.gan = gan
        self.strategy = strategy or tf.distribute.get_strategy()
        if self.strategy.num_replicas_in_sync > 1:
            # Keras seed generators hold one (mirrored) state, so every replica draws
            # the same numbers: the update is still that of the global batch of real
            # clips, but its fakes repeat R times.
            warnings.warn(MULTI_REPLICA_WARNING.format(self.strategy.num_replicas_in_sync),
                          stacklevel=2)
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")

    @property
    def num_replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def checkpoint(self, include_rng: bool = True) -> tf.train.Checkpoint:
        """Everything a resume needs: step, all weights, both optimizers, the replay
        buffer, and (include_rng) the states of the Keras seed generators (z,
        CondAugment noise, GP weights, dropout, phase shuffle, replay draws) so that a
        resumed run continues the random streams instead of replaying them from step 0.
        """
        kwargs = {"rng_states": self.rng_states()} if include_rng else {}
        return tf.train.Checkpoint(step=self.step, gan=self.gan,
                                   g_optimizer=self.gan.g_optimizer,
                                   d_optimizer=self.gan.d_optimizer, **kwargs)

    def rng_states(self) -> list:
        # SeedGenerator is not trackable itself; its state variable is. Model order of
        # `variables` is deterministic for a given config (names are not: they carry
        # process-wide counters).
        return [v for v in self.gan.variables if v.path.endswith("seed_generator_state")]

    def distribute(self, dataset: tf.data.Dataset):
        """Splits a dataset of global batches across the strategy's replicas."""
        return self.strategy.experimental_distribute_dataset(dataset)

    @tf.function
    def train_step(self, batch) -> dict[str, tf.Tensor]:
        """One GAN step on a (possibly distributed) batch (audio, text_embedding, ...).

        Returns:
          dict of scalar tensors (`condgan.gan.METRIC_NAMES`), mean over replicas.
        """
        scale = 1.0 / self.num_replicas

        def step_fn(audio, text_embedding):
            return self.gan.gan_step(audio, text_embedding, loss_scale=scale)

        per_replica = self.strategy.run(step_fn, args=(batch[0], batch[1]))
        self.step.assign_add(1)
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for name, value in per_replica.items()}
