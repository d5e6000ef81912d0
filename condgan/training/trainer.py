"""Trainer: binds a CondGAN, its optimizers and a tf.distribute strategy.

The step itself is `CondGAN.gan_step` (the same code `fit` runs). The Trainer
only wraps it in `tf.function` and `strategy.run`, scales every loss term by
1 / num_replicas_in_sync (gradients are summed across replicas) and averages
the reported values. Checkpoint cadence and summaries live in `loop.py`.

Under a strategy with R replicas, each replica trains on its b = B / R rows of
the global batch B with its own random draws (z, CondAugment noise, dropout
masks, phase shifts, GP weights: `condgan.seeds` folds the replica id into
each seed), and the update is that of the global batch: the per-row means
(adversarial losses, GP, KL) are averaged over replicas by the 1 / R scaling,
and the terms that couple rows (mode seeking, the contrastive InfoNCE, the
mismatched captions) are computed over the global batch (condgan.gan).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from condgan import distribute
from condgan.config import Config
from condgan.gan import CondGAN
from condgan.objective import Objective


def build_gan(config: Config, strategy: tf.distribute.Strategy | None = None) -> CondGAN:
    """Builds and compiles a CondGAN from a validated config, inside the strategy's scope.

    Adam for both players (`train.g_learning_rate`, `train.d_learning_rate`, `beta_1`,
    `beta_2`); the loss is `config.objective`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    t = config.train
    with strategy.scope():
        gan = CondGAN(config.model, seed=t.seed)
        gan.compile(
            g_optimizer=keras.optimizers.Adam(t.g_learning_rate, beta_1=t.beta_1, beta_2=t.beta_2),
            d_optimizer=keras.optimizers.Adam(t.d_learning_rate, beta_1=t.beta_1, beta_2=t.beta_2),
            objective=Objective(config.objective, config.model), n_critic=t.n_critic)
        gan.build_optimizers()
    return gan


class Trainer:
    """Runs `CondGAN.gan_step` under a strategy, compiled with tf.function.

    Args:
      gan: a compiled CondGAN built in `strategy.scope()` (see `build_gan`).
      strategy: defaults to the current (default: single-device) strategy.
      skip_nonfinite: a step whose losses or updated weights are not all finite
        is undone (weights, both optimizers and the replay buffer get their
        values from before the step back; the random streams and the step
        counter advance, so the run still reaches its final step and does not
        redraw the same noise) and counted in `skipped`. Costs one copy of the
        training state per step. Default: off (the loop stops on a non-finite
        loss instead).
    """

    def __init__(self, gan: CondGAN, strategy: tf.distribute.Strategy | None = None,
                 skip_nonfinite: bool = False):
        self.gan = gan
        self.skip_nonfinite = bool(skip_nonfinite)
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            # Steps undone by skip_nonfinite over the whole run (checkpointed).
            self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps")

    @property
    def num_replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def checkpoint(self, include_rng: bool = True) -> tf.train.Checkpoint:
        """Everything a resume needs: step, all weights, both optimizers, the replay
        buffer, and (include_rng) the states of the Keras seed generators (z,
        CondAugment noise, GP weights, dropout, phase shuffle, replay draws) so that a
        resumed run continues the random streams instead of replaying them from step 0,
        and the count of skipped non-finite steps.
        """
        kwargs = self.optional_state() if include_rng else {}
        return tf.train.Checkpoint(step=self.step, gan=self.gan,
                                   g_optimizer=self.gan.g_optimizer,
                                   d_optimizer=self.gan.d_optimizer, **kwargs)

    def optional_state(self) -> dict:
        """The checkpoint entries that older checkpoints may lack (restored leniently)."""
        return {"rng_states": self.rng_states(), "skipped_steps": self.skipped}

    def training_state(self) -> list:
        """Every variable a step changes except the random streams and the counters:
        all model variables (weights, replay buffer) and both optimizers' variables."""
        rng = {id(v) for v in self.rng_states()}
        variables = [v for v in self.gan.variables if id(v) not in rng]
        return variables + list(self.gan.g_optimizer.variables) + list(self.gan.d_optimizer.variables)

    def rng_states(self) -> list:
        # SeedGenerator is not trackable itself; its state variable is. Model order of
        # `variables` is deterministic for a given config (names are not: they carry
        # process-wide counters).
        return [v for v in self.gan.variables if v.path.endswith("seed_generator_state")]

    def check_batch_size(self, batch_size: int) -> None:
        """Refuses a global batch the replicas cannot share equally (the 1 / R loss
        scaling assumes equal shares).

        Raises:
          ValueError: naming the batch size and the number of replicas.
        """
        if batch_size % self.num_replicas:
            raise ValueError(f"train.batch_size={batch_size} is not a multiple of the "
                             f"{self.num_replicas} replicas of the {self.strategy_name} strategy "
                             "(the batch size is global: each replica takes an equal share)")

    @property
    def strategy_name(self) -> str:
        return type(self.strategy).__name__

    def distribute(self, dataset: tf.data.Dataset):
        """Splits a dataset of global batches across the strategy's replicas.

        With several workers every worker reads the whole pipeline and keeps its
        own share of each global batch (tf.data auto-shard policy DATA): correct
        for any number of shard files; the same data seed on every worker makes
        the shares disjoint.
        """
        if distribute.is_multi_worker(self.strategy):
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.DATA)
            dataset = dataset.with_options(options)
        return self.strategy.experimental_distribute_dataset(dataset)

    @tf.function
    def train_step(self, batch) -> dict[str, tf.Tensor]:
        """One GAN step on a (possibly distributed) batch (audio, text_embedding, ...).

        Returns:
          dict of scalar tensors (`CondGAN.metric_names`), mean over replicas;
          with skip_nonfinite also "skipped": 1.0 if the step was undone, else 0.0.
        """
        scale = 1.0 / self.num_replicas

        def step_fn(audio, text_embedding, **inputs):
            return self.gan.gan_step(audio, text_embedding, loss_scale=scale, **inputs)

        if self.skip_nonfinite:
            state = self.training_state()
            before = [tf.identity(v) for v in state]  # read before the step (auto control deps)
        inputs = self.gan.step_inputs(batch)  # labels, captions: for the terms that read them
        per_replica = self.strategy.run(step_fn, args=(batch[0], batch[1]), kwargs=inputs)
        self.gan.update_ema()  # cross-replica: every replica's copy of the averages
        self.step.assign_add(1)
        values = {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                  for name, value in per_replica.items()}
        if self.skip_nonfinite:
            checked = list(values.values()) + [v for v in state if tf.as_dtype(v.dtype).is_floating]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in checked])

            def undo():
                for variable, value in zip(state, before):
                    variable.assign(value)
                self.skipped.assign_add(1)
                return tf.constant(1.0)

            values["skipped"] = tf.cond(finite, lambda: tf.constant(0.0), undo)
        return values
