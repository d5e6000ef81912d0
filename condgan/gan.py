"""CondGAN: the method (condgan.method) on a base (condgan.nets), trained on one objective.

Data flow of one training step (docs/design.md):

    text_emb -> conditioner (CondAugment or TextProjection, with dropout) -> c
    (text_emb, c) -> EmbeddingReplay -> (text_emb', c')      [G step only]
    G(z, c') -> fake;  D(fake, text_emb') and D(real, text_emb) -> scores (+ heads)
    each player's loss = sum(weight * term) over its active terms (condgan.objective)

`CondGAN.gan_step` is the one step implementation. Two front ends use it:
`CondGAN.train_step` (so `model.fit(dataset)` works for quick experiments) and
`condgan.training.trainer.Trainer` (tf.function + tf.distribute, checkpoints).

Replay happens in the generator step only, so the buffer is written once per
step, and the discriminator steps see only fresh conditions. The KL term of
CondAugment enters the generator loss (it trains the conditioner, which is
updated with G); it is computed on the whole fresh batch, including rows that
replay then swaps out.

What a step gives the terms (`condgan.objective.Step`):
  D step: audio, fake, text_embedding, real_logits, fake_logits, real_audio_vectors,
    real_caption_vectors, fake_audio_vectors, real_class_logits, fake_class_logits, labels,
    groups (condition groups, when a term reads them), d_updates (the critic's updates so
    far), critic (x -> D(x, text) score), critic_pairs ((x, t) -> D(x, t) score);
    on first use: mismatch_logits (real clips under rolled captions), alpha (GP weights).
  G step: text_embedding, fresh_c (before replay), c (after), critic_text_embedding,
    conditioner_losses, z, fake, fake_logits, fake_audio_vectors, fake_caption_vectors,
    stft_frame, stft_hop, global_mean; on first use: z_2 and fake_2 (a second z, same
    c), real_audio_vectors (read before G's critic call).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from condgan import ema, seeds
from condgan.config import ModelConfig
from condgan.method import EmbeddingReplay, build_conditioner
from condgan.nets import build_discriminator, build_generator
from condgan.objective import Objective, Step
from condgan.objective.hard_negatives import condition_groups
from condgan.seeds import derive_seed


class Critique(NamedTuple):
    """What the critic says of a batch: its score and, when it has them, its heads' outputs.

    Attributes:
      score: float32[B, 1], the adversarial logit.
      audio_vectors, caption_vectors: float32[B, K] contrastive heads, or None.
      class_logits: float32[B, num_classes + 1] ("generated" last), or None.
    """

    score: tf.Tensor
    audio_vectors: tf.Tensor | None = None
    caption_vectors: tf.Tensor | None = None
    class_logits: tf.Tensor | None = None

    def rows(self, start, stop) -> Critique:
        """The critique of rows [start, stop) of the batch."""
        return Critique(*(None if x is None else x[start:stop] for x in self))


def mismatched_captions(text_embedding: tf.Tensor) -> tf.Tensor:
    """Pairs each clip of a batch with another clip's caption: the batch rolled by one.

    As in StackGAN's `wrong` pairs. The caption of clip i becomes that of clip
    i - 1, which for a shuffled batch of a K-class dataset is a caption of the
    same class with probability about 1/K: those pairs ask D to reject a right
    pair (label noise; its effect is not measured). A batch of one is paired
    with itself.

    Args:
      text_embedding: float32[B, text_dim].

    Returns:
      float32[B, text_dim].
    """
    return tf.roll(text_embedding, shift=1, axis=0)


class CondGAN(keras.Model):
    """Conditioner + generator + discriminator (+ replay buffer) with a GAN train step.

    Args:
      model_config: a validated `condgan.config.ModelConfig` (`Config.load` and
        `Config.from_dict` validate; call `.validate()` on one built in Python).
      seed: seeds z, the GP interpolation weights and the layers' own randomness.

    Call:
      `gan((z, text_embedding))` with z float32[B, latent_dim] and text_embedding
      float32[B, text_dim] returns audio float32[B, length, 1] at inference: the
      conditioner gives its mean (no re-sampling, no dropout) and replay is off.
    """

    def __init__(self, model_config: ModelConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.model_config = model_config
        self.seed = int(seed)
        self.conditioner = build_conditioner(model_config, seed=seed)
        self.generator = build_generator(model_config)
        self.discriminator = build_discriminator(model_config, seed=derive_seed(seed, 1))
        self.replay = None
        if model_config.replay:
            self.replay = EmbeddingReplay(
                capacity=model_config.replay_capacity,
                replay_prob=model_config.replay_prob,
                replay_fraction=model_config.replay_fraction,
                memory=model_config.replay_memory,
                seed=derive_seed(seed, 2),
                name="embedding_replay")
            self.replay.build((None, model_config.text_dim), (None, model_config.cond_dim))
        self.seed_generator = keras.random.SeedGenerator(derive_seed(seed, 3))
        # model.ema_decay > 0: generation (call, generate, export) uses moving averages of the
        # conditioner's and generator's weights (condgan.ema), updated after each G step.
        self.ema = None
        if model_config.ema_decay > 0:
            self.ema_conditioner = build_conditioner(model_config, seed=seed)
            self.ema_generator = build_generator(model_config)
            self.ema_updates = ema.counter_variable()
            self.ema = ema.WeightAverage(
                self.conditioner.weights + self.generator.weights,
                self.ema_conditioner.weights + self.ema_generator.weights,
                model_config.ema_decay, self.ema_updates)
        self.objective = None
        self.trackers = {}
        self.g_optimizer = None
        self.d_optimizer = None
        # Every sub-network is built above; without this, fit under a tf.distribute
        # strategy tries to build the model by calling it on the audio alone.
        self.built = True
        # One D call over real and fake concatenated (2B rows) in the critic update, instead
        # of two: the same logits (D has no batch statistics). On by default for the WaveGAN
        # critic (1.02x on the small step), off for the spectral one, where it was 0.95x in
        # two idle runs (BENCHMARKS.md). Set it to choose.
        self.fused_d_pass = model_config.discriminator == "wavegan"

    # --- configuration -------------------------------------------------------------
    def compile(self, g_optimizer, d_optimizer, objective: Objective, n_critic: int = 1, **kwargs):
        """Sets the optimizers and the objective.

        Args:
          g_optimizer: optimizer of the conditioner, the generator and the G terms' layers.
          d_optimizer: optimizer of the discriminator.
          objective: a `condgan.objective.Objective` (the terms, weights and parameters).
          n_critic: discriminator updates per generator update (WaveGAN: 5).
        """
        super().compile(**kwargs)
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.objective = objective
        self.n_critic = int(n_critic)
        # Layers the terms train (e.g. the c head of cond_contrastive), tracked for checkpoints.
        self.term_layers = dict(objective.layers)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}

    @property
    def metric_names(self) -> list[str]:
        """The names `gan_step` returns: each player's terms and total, and diagnostics."""
        names = self.objective.metric_names("d") + ["d_real", "d_fake"]
        names += self.objective.metric_names("g")
        return names + (["replayed"] if self.replay is not None else [])

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def g_variables(self) -> list:
        """Trainable variables of the G update: conditioner + generator (+ G terms' layers)."""
        extra = [v for name, layer in self.term_layers.items() if name.startswith("g_")
                 for v in layer.trainable_variables] if self.objective else []
        return self.conditioner.trainable_variables + self.generator.trainable_variables + extra

    def build_optimizers(self) -> None:
        """Creates the optimizers' slot variables now (needed before a checkpoint restore)."""
        self.g_optimizer.build(self.g_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    # --- inference -------------------------------------------------------------------
    @property
    def eval_conditioner(self) -> keras.Model:
        """The conditioner generation uses: its moving average with model.ema_decay > 0."""
        return self.conditioner if self.ema is None else self.ema_conditioner

    @property
    def eval_generator(self) -> keras.Model:
        """The generator generation uses: its moving average with model.ema_decay > 0."""
        return self.generator if self.ema is None else self.ema_generator

    def update_ema(self) -> None:
        """One step of the weight averages (no-op without model.ema_decay). Call it after
        the G update, in cross-replica context under a tf.distribute strategy."""
        if self.ema is not None:
            self.ema.update()

    def call(self, inputs, training=False):
        z, text_embedding = inputs

        def audio():
            c = self.eval_conditioner(text_embedding, training=False)
            return self.eval_generator([z, c], training=False)

        # No captions, no clips: the spectral generator's convolutions fail on an empty batch
        # (TF 2.17 CPU kernels), so an empty request never reaches them.
        empty = tf.zeros([0, self.model_config.length, 1], tf.float32)
        return tf.cond(tf.shape(z)[0] > 0, audio, lambda: empty)

    def generate(self, text_embedding, z=None, seed=None):
        """Audio for caption embeddings at inference (c = mean of CondAugment; the
        averaged weights with model.ema_decay > 0).

        Args:
          text_embedding: float32[N, text_dim].
          z: optional float32[N, latent_dim]; when None, row i is drawn from N(0, 1)
            by `tf.random.stateless_normal` seeded with (seed, i), seed defaulting
            to 0: deterministic, and the same z as the exported model's
            (`condgan.export`) for the same seed.
          seed: int seed for z when z is None.

        Returns:
          float32[N, length] in [-1, 1].
        """
        text_embedding = tf.convert_to_tensor(text_embedding, tf.float32)
        if z is None:
            seed = tf.constant(0 if seed is None else seed, tf.int64)
            z = tf.map_fn(lambda i: tf.random.stateless_normal(
                [self.model_config.latent_dim], seed=tf.stack([seed, i])),
                tf.range(tf.shape(text_embedding, out_type=tf.int64)[0]),
                fn_output_signature=tf.float32)
            z = tf.reshape(z, [-1, self.model_config.latent_dim])
        return self((z, text_embedding), training=False)[..., 0]

    # --- training --------------------------------------------------------------------
    def _sample_z(self, batch_size):
        # Its own z on each tf.distribute replica (condgan.seeds).
        return seeds.normal((batch_size, self.model_config.latent_dim), self.seed_generator)

    def discriminate(self, audio, text_embedding, training=True) -> Critique:
        """The critic's `Critique` of (audio, caption) pairs."""
        out = self.discriminator([audio, text_embedding], training=training)
        if not isinstance(out, (list, tuple)):
            return Critique(out)
        out = list(out)
        heads = out[1:3] if self.model_config.contrastive_dim > 0 else [None, None]
        return Critique(out[0], *heads, out[-1] if self.model_config.class_head else None)

    @staticmethod
    def _mismatched(text_embedding):
        """`mismatched_captions` of the global batch (under tf.distribute: this replica's rows)."""
        ctx = seeds.replica_context()
        if ctx is None:
            return mismatched_captions(text_embedding)
        rows = tf.shape(text_embedding)[0]
        rolled = mismatched_captions(ctx.all_gather(text_embedding, axis=0))
        start = ctx.replica_id_in_sync_group * rows
        return rolled[start:start + rows]

    @staticmethod
    def _global_mean():
        """None (tf.reduce_mean) on one device; under tf.distribute a mean over every
        replica's rows, for the terms that are ratios of batch means."""
        ctx = seeds.replica_context()
        if ctx is None:
            return None
        return lambda x: ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.reduce_mean(x))

    def _critic_real_and_fake(self, audio, fake, text_embedding) -> tuple[Critique, Critique]:
        """D on the real and the generated clips under the same captions (one call of 2B
        rows with `fused_d_pass`): (real critique, fake critique)."""
        if not self.fused_d_pass:
            return self.discriminate(audio, text_embedding), self.discriminate(fake, text_embedding)
        batch_size = tf.shape(audio)[0]
        both = self.discriminate(tf.concat([audio, fake], 0),
                                 tf.concat([text_embedding, text_embedding], 0))
        return both.rows(0, batch_size), both.rows(batch_size, 2 * batch_size)

    def discriminator_step(self, audio, text_embedding, loss_scale=1.0,
                           labels=None, groups=None) -> dict[str, tf.Tensor]:
        """One D update on the objective's d terms (`labels`: the real clips' classes, int[B],
        for the terms that read them: class_head; `groups`: their condition groups,
        `condgan.objective.hard_negatives.condition_groups`, for hard_negatives).

        Returns:
          dict: "d_total", "d_<term>" of each active term, its reports, "d_real" and
          "d_fake" (mean scores of the real and generated clips); unscaled values.
        """
        batch_size = tf.shape(audio)[0]
        c = self.conditioner(text_embedding, training=True)
        fake = tf.stop_gradient(self.generator([self._sample_z(batch_size), c], training=True))
        with tf.GradientTape() as tape:
            real, fake_critique = self._critic_real_and_fake(audio, fake, text_embedding)
            real_logits, fake_logits = real.score, fake_critique.score
            step = Step("d", self.objective.adversarial, values={
                "audio": audio, "fake": fake, "text_embedding": text_embedding,
                "real_logits": real_logits, "fake_logits": fake_logits,
                "real_audio_vectors": real.audio_vectors,
                "real_caption_vectors": real.caption_vectors,
                "fake_audio_vectors": fake_critique.audio_vectors,
                "real_class_logits": real.class_logits,
                "fake_class_logits": fake_critique.class_logits, "labels": labels,
                "groups": groups, "d_updates": self.d_optimizer.iterations,
                "critic": lambda x: self.discriminate(x, text_embedding)[0],
                "critic_pairs": lambda x, t: self.discriminate(x, t)[0]}, lazy={
                "mismatch_logits": lambda: self.discriminate(
                    audio, self._mismatched(text_embedding))[0],
                # = objective.adversarial.sample_alpha(batch_size, ...), per replica.
                "alpha": lambda: seeds.uniform((batch_size,), self.seed_generator)})
            values = self.objective.losses("d", step)
            total = values["d_total"] * loss_scale
        variables = self.discriminator.trainable_variables
        grads = tape.gradient(total, variables)
        # A head the active terms do not use (contrastive heads at weight 0) has no gradient.
        self.d_optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None])
        values["d_real"] = tf.reduce_mean(real_logits)
        values["d_fake"] = tf.reduce_mean(fake_logits)
        return values

    def generator_step(self, text_embedding, audio=None, loss_scale=1.0,
                       labels=None) -> dict[str, tf.Tensor]:
        """One update of conditioner + G (+ the G terms' layers) on the objective's g terms.

        `audio` (the batch's real clips) is needed by the terms that read the critic's
        view of them (cond_contrastive); `labels` (their classes) by class_head.

        Returns:
          dict: "g_total", "g_<term>" of each active term, its reports, and "replayed"
          (the share of replayed rows) with replay on; unscaled values.
        """
        text_embedding = tf.convert_to_tensor(text_embedding, tf.float32)
        batch_size = tf.shape(text_embedding)[0]
        z = self._sample_z(batch_size)
        cfg = self.model_config

        def real_audio_vectors():
            if audio is None:
                raise ValueError("generator_step: the active G terms read the real clips; "
                                 "pass audio=")
            return tf.stop_gradient(self.discriminate(audio, text_embedding, training=False)[1])

        step = Step("g", self.objective.adversarial, values={
            "text_embedding": text_embedding, "z": z, "labels": labels, "stft_frame": cfg.stft_frame,
            "stft_hop": cfg.stft_hop, "global_mean": self._global_mean()}, lazy={
            "real_audio_vectors": real_audio_vectors,
            # One second z per row and the same c (replayed rows keep their stored c).
            "z_2": lambda: self._sample_z(batch_size),
            "fake_2": lambda: self.generator([step.z_2, step.c], training=True)})
        self.objective.prefetch("g", step)
        values = {}
        with tf.GradientTape() as tape:
            fresh_c = self.conditioner(text_embedding, training=True)
            # Read now: under MirroredStrategy the replicas share the layer, and another
            # replica's call (while this one waits in replay's all_gather) replaces its losses.
            conditioner_losses = list(self.conditioner.losses)
            critic_text, c = text_embedding, fresh_c
            fresh_rows = tf.ones([batch_size], tf.bool)
            if self.replay is not None:
                critic_text, c, mask = self.replay(text_embedding, fresh_c, training=True)
                values["replayed"] = tf.reduce_mean(tf.cast(mask, tf.float32))
                fresh_rows = tf.logical_not(mask)
            fake = self.generator([z, c], training=True)
            critique = self.discriminate(fake, critic_text)
            step.update(fresh_c=fresh_c, c=c, critic_text_embedding=critic_text,
                        conditioner_losses=conditioner_losses, fake=fake,
                        fake_logits=critique.score, fake_audio_vectors=critique.audio_vectors,
                        fake_caption_vectors=critique.caption_vectors,
                        fake_class_logits=critique.class_logits, fresh_rows=fresh_rows)
            values.update(self.objective.losses("g", step))
            total = values["g_total"] * loss_scale
        variables = self.g_variables
        grads = tape.gradient(total, variables)
        self.g_optimizer.apply_gradients(zip(grads, variables))
        return values

    def gan_step(self, audio, text_embedding, loss_scale=1.0, labels=None,
                 captions=None) -> dict[str, tf.Tensor]:
        """`n_critic` discriminator updates, then one generator update.

        Every D update draws new z (and new CondAugment noise) against the same
        real batch, as the Keras WGAN-GP example does; WaveGAN draws a new real
        batch per critic step, which costs n_critic times the input pipeline.

        Args:
          audio: float32[B, length, 1] real clips in [-1, 1].
          text_embedding: float32[B, text_dim] their caption embeddings.
          loss_scale: multiplies each player's loss before differentiation. Under
            tf.distribute pass 1 / num_replicas_in_sync: gradients are summed
            across replicas, so this makes the update that of the global batch.
          labels: int[B] classes of the clips (index into the card's classes, -1 where
            unknown), for the terms that read them (class_head, and the condition groups of
            hard_negatives); None otherwise.
          captions: string[B] their captions, for the condition groups of the terms that
            read them (hard_negatives: `condition_groups`); None otherwise.

        Returns:
          dict of scalar float32 tensors named as `metric_names` (unscaled values; the
          d values are the last critic update's).
        """
        if self.g_optimizer is None:
            raise RuntimeError("CondGAN.compile(g_optimizer, d_optimizer, objective) must be "
                               "called before training")
        groups = condition_groups(captions, labels) if self.objective.reads("groups") else None
        for _ in range(self.n_critic):
            d_values = self.discriminator_step(audio, text_embedding, loss_scale, labels=labels,
                                               groups=groups)
        g_values = self.generator_step(text_embedding, audio=audio, loss_scale=loss_scale,
                                       labels=labels)
        return {**d_values, **g_values}

    def batch_labels(self, batch):
        """The class labels of a batch (audio, text_embedding, caption, label) of
        `condgan.data.make_dataset` when the critic has a class head, else None.

        Raises:
          ValueError: the critic has a class head and the batch carries no labels.
        """
        if not self.model_config.class_head:
            return None
        if len(batch) < 4:
            raise ValueError("model.class_head: the batches must carry the clips' class labels "
                             "(audio, text_embedding, caption, label), as condgan.data.make_dataset's")
        return batch[3]

    def step_inputs(self, batch) -> dict[str, Any]:
        """What `gan_step` reads of a batch (audio, text_embedding[, caption, label]) of
        `condgan.data.make_dataset` besides the clips and embeddings, as keyword arguments:
        labels for the class head (`batch_labels`), captions and labels for the terms
        that read condition groups (hard_negatives; a batch of clips and embeddings
        alone gives none, and the term groups identical embeddings).

        Raises:
          ValueError: as `batch_labels`.
        """
        out = {}
        labels = self.batch_labels(batch)
        if labels is not None:
            out["labels"] = labels
        if self.objective is not None and self.objective.reads("groups"):
            if len(batch) >= 3:
                out["captions"] = batch[2]
            if len(batch) >= 4:
                out["labels"] = batch[3]
        return out

    def train_step(self, data):
        """Keras `fit` entry: data is (audio, text_embedding, ...) from condgan.data.

        Under a tf.distribute strategy Keras runs it on each replica's share of
        the global batch: losses are scaled by 1 / num_replicas_in_sync (the
        gradients are summed across replicas) and the reported values are means
        over the replicas, as in the Trainer.
        """
        audio, text_embedding, inputs = data[0], data[1], self.step_inputs(data)
        ctx = seeds.replica_context()
        if ctx is None:
            values = self.gan_step(audio, text_embedding, **inputs)
            self.update_ema()
        else:
            values = self.gan_step(audio, text_embedding,
                                   loss_scale=1.0 / ctx.num_replicas_in_sync, **inputs)
            values = dict(zip(values, ctx.all_reduce(tf.distribute.ReduceOp.MEAN,
                                                     list(values.values()))))
            ctx.merge_call(lambda _: self.update_ema())
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def get_config(self) -> dict[str, Any]:
        return {"model_config": dataclasses.asdict(self.model_config), "seed": self.seed}
