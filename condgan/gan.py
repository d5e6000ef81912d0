"""CondGAN: the text-conditioned WaveGAN with every anti-collapse switch.

Data flow of one training step (docs/design.md):

    text_emb -> conditioner (CondAugment or TextProjection, with dropout) -> c
    (text_emb, c) -> EmbeddingReplay -> (text_emb', c')      [G step only]
    G(z, c') -> fake;  D(fake, text_emb') and D(real, text_emb) -> logits
    [with train.mismatch_weight > 0: D(real, text_emb rolled by one) -> "wrong" logits]
    [with train.contrastive_weight > 0: InfoNCE of D's audio / caption heads, on real
     pairs in the D step and on generated pairs in the G step (condgan.contrastive)]
    [with train.cond_contrastive_weight > 0: InfoNCE of the sampled c (through a linear
     head trained with G) against D's audio vectors of the batch's real clips, in the
     G step: c must tell its caption's sound apart through CondAugment's noise]

`CondGAN.gan_step` is the one step implementation. Two front ends use it:
`CondGAN.train_step` (so `model.fit(dataset)` works for quick experiments) and
`condgan.training.trainer.Trainer` (tf.function + tf.distribute, checkpoints).

Replay happens in the generator step only, so the buffer is written once per
step, and the discriminator steps see only fresh conditions. The KL term of
CondAugment enters the generator loss (it trains the conditioner, which is
updated with G); it is computed on the whole fresh batch, including rows that
replay then swaps out.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from condgan import contrastive, ema, losses, models, seeds, z_diversity
from condgan.config import LOSSES, MISMATCH_WGAN_GP_ERROR, ModelConfig
from condgan.embedding_replay import EmbeddingReplay
from condgan.seeds import derive_seed

METRIC_NAMES = ("d_loss", "g_loss", "gp", "kl", "ms", "replayed", "d_real", "d_fake", "d_mismatch",
                "d_contrastive", "g_contrastive", "z_spread", "c_contrastive")


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
      model_config: a `condgan.config.ModelConfig`; validated here.
      seed: seeds z, the GP interpolation weights and the layers' own randomness.

    Call:
      `gan((z, text_embedding))` with z float32[B, latent_dim] and text_embedding
      float32[B, text_dim] returns audio float32[B, length, 1] at inference: the
      conditioner gives its mean (no re-sampling, no dropout) and replay is off.
    """

    def __init__(self, model_config: ModelConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        model_config.validate()
        self.model_config = model_config
        self.seed = int(seed)
        self.conditioner = models.build_conditioner(model_config, seed=seed)
        self.generator = models.build_generator(model_config)
        self.discriminator = models.build_discriminator(model_config, seed=derive_seed(seed, 1))
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
            self.ema_conditioner = models.build_conditioner(model_config, seed=seed)
            self.ema_generator = models.build_generator(model_config)
            self.ema_updates = ema.counter_variable()
            self.ema = ema.WeightAverage(
                self.conditioner.weights + self.generator.weights,
                self.ema_conditioner.weights + self.ema_generator.weights,
                model_config.ema_decay, self.ema_updates)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}
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
    def compile(self, g_optimizer, d_optimizer, loss: str = "wgan_gp", gp_weight: float = 10.0,
                n_critic: int = 5, mode_seeking_weight: float = 0.0, mismatch_weight: float = 0.0,
                contrastive_weight: float = 0.0, contrastive_temperature: float = 0.1,
                g_contrastive_scale: float = 1.0, z_diversity_weight: float = 0.0,
                z_diversity_cap: float = 1.0, cond_contrastive_weight: float = 0.0,
                contrastive_fake_negatives: bool = False, **kwargs):
        """Sets the optimizers and the objective.

        Args:
          g_optimizer: optimizer of the conditioner and the generator.
          d_optimizer: optimizer of the discriminator.
          loss: one of `condgan.config.LOSSES`.
          gp_weight: lambda of the WGAN-GP gradient penalty (used with "wgan_gp" only).
          n_critic: discriminator updates per generator update (WaveGAN: 5).
          mode_seeking_weight: weight of the MSGAN regulariser in the G loss; 0 turns it off.
          mismatch_weight: share w in [0, 1) of the discriminator's negative term
            given to real clips paired with another clip's caption (matching-aware
            D of GAN-INT-CLS / StackGAN, which use 0.5); 0 turns it off.
          contrastive_weight: weight of the cross-modal InfoNCE term in D's loss (real
            pairs); 0 turns it off.
          contrastive_temperature: its temperature.
          g_contrastive_scale: G's InfoNCE term (its own pairs) is weighted
            contrastive_weight x g_contrastive_scale; 0 keeps the term in D only.
          z_diversity_weight: weight of the capped spectral z-diversity term in the G
            loss (`condgan.z_diversity`); 0 turns it off.
          z_diversity_cap: its cap (log-spectrogram distance), > 0.
          cond_contrastive_weight: weight in the G loss of the InfoNCE between the
            conditioner's sampled c (through a linear head, trained with G) and D's audio
            vectors of the real clips (held fixed); needs D's contrastive heads. It asks
            c = mean + sigma * eps to identify its caption's sound: the conditioner must
            set the means of captions that sound different apart by more than sigma
            (CondAugment's KL pulls them together). 0 turns it off.
          contrastive_fake_negatives: D's contrastive term also takes the generated
            clips' audio vectors as negatives of every caption (`condgan.contrastive`);
            needs contrastive_weight > 0.
        """
        super().compile(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r} is unknown; choose one of {LOSSES}")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if gp_weight < 0 or mode_seeking_weight < 0:
            raise ValueError("gp_weight and mode_seeking_weight must be >= 0, got "
                             f"{gp_weight} and {mode_seeking_weight}")
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.loss_kind = loss
        self.gp_weight = float(gp_weight)
        self.n_critic = int(n_critic)
        self.mode_seeking_weight = float(mode_seeking_weight)
        if not 0.0 <= mismatch_weight < 1.0:
            raise ValueError(f"mismatch_weight must be in [0, 1), got {mismatch_weight}")
        if mismatch_weight > 0 and loss == "wgan_gp":
            raise ValueError(MISMATCH_WGAN_GP_ERROR)
        self.mismatch_weight = float(mismatch_weight)
        if contrastive_weight < 0 or not contrastive_temperature > 0:
            raise ValueError("contrastive_weight must be >= 0 and contrastive_temperature > 0, "
                             f"got {contrastive_weight} and {contrastive_temperature}")
        if contrastive_weight > 0 and self.model_config.contrastive_dim < 1:
            raise ValueError("contrastive_weight > 0 needs a discriminator with contrastive heads "
                             "(model.contrastive_dim > 0)")
        if g_contrastive_scale < 0:
            raise ValueError(f"g_contrastive_scale must be >= 0, got {g_contrastive_scale}")
        self.contrastive_weight = float(contrastive_weight)
        self.contrastive_temperature = float(contrastive_temperature)
        self.g_contrastive_scale = float(g_contrastive_scale)
        if z_diversity_weight < 0 or not z_diversity_cap > 0:
            raise ValueError("z_diversity_weight must be >= 0 and z_diversity_cap > 0, got "
                             f"{z_diversity_weight} and {z_diversity_cap}")
        self.z_diversity_weight = float(z_diversity_weight)
        self.z_diversity_cap = float(z_diversity_cap)
        if cond_contrastive_weight < 0:
            raise ValueError(f"cond_contrastive_weight must be >= 0, got {cond_contrastive_weight}")
        if cond_contrastive_weight > 0 and self.model_config.contrastive_dim < 1:
            raise ValueError("cond_contrastive_weight > 0 needs a discriminator with contrastive "
                             "heads (model.contrastive_dim > 0): it reads D's audio vectors")
        self.cond_contrastive_weight = float(cond_contrastive_weight)
        if contrastive_fake_negatives and not self.contrastive_weight > 0:
            raise ValueError("contrastive_fake_negatives needs contrastive_weight > 0")
        self.contrastive_fake_negatives = bool(contrastive_fake_negatives)
        if self.cond_contrastive_weight > 0 and getattr(self, "cond_head", None) is None:
            self.cond_head = keras.layers.Dense(self.model_config.contrastive_dim,
                                                name="cond_contrastive_head")
            self.cond_head.build((None, self.model_config.cond_dim))

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def g_variables(self) -> list:
        """Trainable variables of the G update: conditioner + generator (+ the c head of
        the cond_contrastive term)."""
        head = getattr(self, "cond_head", None)
        return (self.conditioner.trainable_variables + self.generator.trainable_variables
                + ([] if head is None else head.trainable_variables))

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
        c = self.eval_conditioner(text_embedding, training=False)
        return self.eval_generator([z, c], training=False)

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

    def discriminate(self, audio, text_embedding, training=True):
        """(score float32[B, 1], audio_vectors, caption_vectors); the vectors are None
        unless the discriminator has contrastive heads."""
        out = self.discriminator([audio, text_embedding], training=training)
        if isinstance(out, (list, tuple)):
            return out[0], out[1], out[2]
        return out, None, None

    def _critic(self, text_embedding):
        return lambda x: self.discriminate(x, text_embedding)[0]

    def _contrastive(self, audio_vectors, caption_vectors, text_embedding, negatives=None):
        if self.contrastive_weight == 0:
            return tf.constant(0.0)
        return self._info_nce(audio_vectors, caption_vectors, text_embedding, negatives)

    def _info_nce(self, audio_vectors, caption_vectors, text_embedding, negatives=None):
        """`contrastive.info_nce` over the global batch."""
        ctx = seeds.replica_context()
        if ctx is not None:
            # The negatives are the whole global batch: every replica computes the global
            # InfoNCE (all_gather is differentiable), and loss_scale 1 / R makes the summed
            # gradients that of the one loss.
            gathered = [audio_vectors, caption_vectors, text_embedding]
            gathered += [] if negatives is None else [negatives]
            gathered = ctx.all_gather(gathered, axis=0)
            audio_vectors, caption_vectors, text_embedding = gathered[:3]
            negatives = None if negatives is None else gathered[3]
        return contrastive.info_nce(audio_vectors, caption_vectors, text_embedding,
                                    self.contrastive_temperature, negatives=negatives)

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

    def discriminator_step(self, audio, text_embedding, loss_scale=1.0):
        """One D update.

        Returns:
          (d_loss, gp, mean real logit, mean fake logit, mean logit of real clips
          under mismatched captions: 0 when mismatch_weight is 0, contrastive
          term on the real pairs (with contrastive_fake_negatives, the generated
          clips as extra negatives): 0 when contrastive_weight is 0).
        """
        batch_size = tf.shape(audio)[0]
        c = self.conditioner(text_embedding, training=True)
        fake = self.generator([self._sample_z(batch_size), c], training=True)
        fake = tf.stop_gradient(fake)
        with tf.GradientTape() as tape:
            if self.fused_d_pass:
                logits, a, u = self.discriminate(tf.concat([audio, fake], 0),
                                                 tf.concat([text_embedding, text_embedding], 0))
                real_logits, fake_logits = logits[:batch_size], logits[batch_size:]
                real_a, real_u, fake_a = (None, None, None) if a is None else (
                    a[:batch_size], u[:batch_size], a[batch_size:])
            else:
                real_logits, real_a, real_u = self.discriminate(audio, text_embedding)
                fake_logits, fake_a, _ = self.discriminate(fake, text_embedding)
            mismatch_logits = None
            if self.mismatch_weight > 0:
                mismatch_logits = self.discriminate(audio, self._mismatched(text_embedding))[0]
            d_loss = losses.discriminator_loss(self.loss_kind, real_logits, fake_logits,
                                               mismatch_logits, self.mismatch_weight)
            gp = tf.constant(0.0)
            if self.loss_kind == "wgan_gp" and self.gp_weight > 0:
                # = losses.sample_alpha(batch_size, self.seed_generator), per replica.
                alpha = seeds.uniform((batch_size,), self.seed_generator)
                gp = losses.gradient_penalty(self._critic(text_embedding), audio, fake, alpha)
            nce = self._contrastive(real_a, real_u, text_embedding,
                                    fake_a if self.contrastive_fake_negatives else None)
            total = (d_loss + self.gp_weight * gp + self.contrastive_weight * nce) * loss_scale
        variables = self.discriminator.trainable_variables
        grads = tape.gradient(total, variables)
        # A head the active terms do not use (contrastive heads at weight 0) has no gradient.
        self.d_optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None])
        d_mismatch = tf.constant(0.0) if mismatch_logits is None else tf.reduce_mean(mismatch_logits)
        return (d_loss, gp, tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits), d_mismatch,
                nce)

    def generator_step(self, text_embedding, loss_scale=1.0, audio=None):
        """One update of conditioner + G.

        `audio` (the real clips of the batch) is needed with cond_contrastive_weight > 0.

        Returns (g_loss, kl, ms, replayed share, contrastive, z_spread, c_contrastive):
        z_spread is the log-spectrogram distance of two z's clips (`condgan.z_diversity`),
        0 unless z_diversity_weight > 0; c_contrastive the InfoNCE of c against the real
        clips' audio vectors, 0 unless cond_contrastive_weight > 0.
        """
        batch_size = tf.shape(text_embedding)[0]
        z = self._sample_z(batch_size)
        real_vectors = None
        if self.cond_contrastive_weight > 0:
            if audio is None:
                raise ValueError("cond_contrastive_weight > 0: generator_step needs the real audio")
            real_vectors = tf.stop_gradient(self.discriminate(audio, text_embedding,
                                                              training=False)[1])
        with tf.GradientTape() as tape:
            c = self.conditioner(text_embedding, training=True)
            kl = tf.add_n(self.conditioner.losses) if self.conditioner.losses else tf.constant(0.0)
            c_nce = tf.constant(0.0)
            if real_vectors is not None:  # on the fresh c, before replay swaps rows
                c_nce = self._info_nce(real_vectors, self.cond_head(c), text_embedding)
            d_text = text_embedding
            replayed = tf.constant(0.0)
            if self.replay is not None:
                d_text, c, mask = self.replay(text_embedding, c, training=True)
                replayed = tf.reduce_mean(tf.cast(mask, tf.float32))
            fake = self.generator([z, c], training=True)
            fake_logits, fake_a, fake_u = self.discriminate(fake, d_text)
            g_loss = losses.generator_loss(self.loss_kind, fake_logits)
            nce = self._contrastive(fake_a, fake_u, d_text)
            ms = tf.constant(0.0)
            spread = tf.constant(0.0)
            zd = tf.constant(0.0)
            if self.mode_seeking_weight > 0 or self.z_diversity_weight > 0:
                # One second z per row and the same c (replayed rows keep their stored c):
                # both terms compare the clips of two z.
                z2 = self._sample_z(batch_size)
                fake2 = self.generator([z2, c], training=True)
                ctx = seeds.replica_context()
                # Their batch means are global-batch means under tf.distribute.
                mean = None if ctx is None else (
                    lambda x: ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.reduce_mean(x)))
                if self.mode_seeking_weight > 0:
                    ms = losses.mode_seeking_loss(fake, fake2, z, z2, mean=mean)
                if self.z_diversity_weight > 0:
                    cfg = self.model_config
                    distance = z_diversity.spectral_distance(fake, fake2, cfg.stft_frame,
                                                             cfg.stft_hop, mean=mean)
                    zd = z_diversity.capped_reward(distance, self.z_diversity_cap)
                    spread = tf.stop_gradient(distance)
            total = (g_loss + kl + self.mode_seeking_weight * ms
                     + self.contrastive_weight * self.g_contrastive_scale * nce
                     + self.z_diversity_weight * zd
                     + self.cond_contrastive_weight * c_nce) * loss_scale
        variables = self.g_variables
        grads = tape.gradient(total, variables)
        self.g_optimizer.apply_gradients(zip(grads, variables))
        return g_loss, kl, ms, replayed, nce, spread, c_nce

    def gan_step(self, audio, text_embedding, loss_scale=1.0) -> dict[str, tf.Tensor]:
        """`n_critic` discriminator updates, then one generator update.

        Every D update draws new z (and new CondAugment noise) against the same
        real batch, as the Keras WGAN-GP example does; WaveGAN draws a new real
        batch per critic step, which costs n_critic times the input pipeline.

        Args:
          audio: float32[B, length, 1] real clips in [-1, 1].
          text_embedding: float32[B, text_dim] their caption embeddings.
          loss_scale: multiplies every loss term before differentiation. Under
            tf.distribute pass 1 / num_replicas_in_sync: gradients are summed
            across replicas, so this makes the update that of the global batch.

        Returns:
          dict of scalar float32 tensors named as `METRIC_NAMES` (unscaled values).
        """
        if self.g_optimizer is None:
            raise RuntimeError("CondGAN.compile(g_optimizer, d_optimizer, ...) must be called "
                               "before training")
        for _ in range(self.n_critic):
            d_loss, gp, d_real, d_fake, d_mismatch, d_nce = self.discriminator_step(
                audio, text_embedding, loss_scale)
        g_loss, kl, ms, replayed, g_nce, z_spread, c_nce = self.generator_step(
            text_embedding, loss_scale, audio=audio)
        return {"d_loss": d_loss, "g_loss": g_loss, "gp": gp, "kl": kl, "ms": ms,
                "replayed": replayed, "d_real": d_real, "d_fake": d_fake, "d_mismatch": d_mismatch,
                "d_contrastive": d_nce, "g_contrastive": g_nce, "z_spread": z_spread,
                "c_contrastive": c_nce}

    def train_step(self, data):
        """Keras `fit` entry: data is (audio, text_embedding, ...) from condgan.data.

        Under a tf.distribute strategy Keras runs it on each replica's share of
        the global batch: losses are scaled by 1 / num_replicas_in_sync (the
        gradients are summed across replicas) and the reported values are means
        over the replicas, as in the Trainer.
        """
        audio, text_embedding = data[0], data[1]
        ctx = seeds.replica_context()
        if ctx is None:
            values = self.gan_step(audio, text_embedding)
            self.update_ema()
        else:
            values = self.gan_step(audio, text_embedding,
                                   loss_scale=1.0 / ctx.num_replicas_in_sync)
            values = dict(zip(values, ctx.all_reduce(tf.distribute.ReduceOp.MEAN,
                                                     list(values.values()))))
            ctx.merge_call(lambda _: self.update_ema())
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def get_config(self) -> dict[str, Any]:
        import dataclasses
        return {"model_config": dataclasses.asdict(self.model_config), "seed": self.seed}
