"""Conditioning augmentation (StackGAN, Zhang et al. 2017, section 3.1).

A caption embedding is a single point, so a generator conditioned on it directly
sees one conditioning vector per caption and can map it to one sound: the
conditional form of mode collapse. Conditioning augmentation instead turns the
embedding into a diagonal Gaussian N(mean, sigma^2) and feeds the generator a
sample of it during training. The KL term towards N(0, I) keeps that Gaussian
wide and smooth, so nearby captions share conditioning mass and the generator
has to produce plausible audio for a neighbourhood of each caption.

At inference the layer returns `mean` exactly: variety then comes from the
latent z only, which is what the z-diversity metric measures.
"""

from __future__ import annotations

import keras
from keras import ops

from condgan import seeds
from condgan.method.text_projection import check_text_layer
from condgan.seeds import derive_seed


def kl_divergence(mean, log_sigma):
    """StackGAN's KL term: KL(N(mean, sigma^2) || N(0, 1)) averaged over all elements.

    Per element this is the closed form
    `-log(sigma) + (sigma^2 + mean^2 - 1) / 2`, so the result equals the KL of the
    diagonal multivariate Gaussian divided by `batch * dim`.

    Args:
      mean: float[batch, dim], the Gaussian means.
      log_sigma: float[batch, dim], log standard deviations (same shape as `mean`).

    Returns:
      A float scalar, the mean over batch and dimensions.
    """
    per_element = -log_sigma + 0.5 * (-1.0 + ops.exp(2.0 * log_sigma) + ops.square(mean))
    return ops.mean(per_element)


@keras.saving.register_keras_serializable(package="condgan")
class CondAugment(keras.layers.Layer):
    """Text embedding -> sampled conditioning vector c, with a KL penalty.

    `text_embedding -> Dense(2 * dim) -> LeakyReLU(0.2)`, split into `mean`
    (first half) and `log_sigma` (second half). In training
    `c = Dropout(mean) + exp(log_sigma) * eps` with `eps` drawn from a standard normal
    truncated to [-2, 2] (as StackGAN's TF code, so one unlucky draw cannot push
    c far outside the range the generator has seen), and
    `kl_weight * kl_divergence(mean, log_sigma)` is added with `add_loss`.
    At inference (training False or None) `c = mean` and no loss is added.

    `training` must be a Python bool or None (Keras passes it down from the
    enclosing model call).

    Args:
      dim: size of the conditioning vector c (128 in the method).
      kl_weight: multiplier of the KL loss; 0 disables the loss (the Gaussian
        then tends to collapse to a point, which is the ablation's point).
      dropout: dropout rate on `mean` in training, in [0, 1) (the method's dropout
        on the layer that produces the text embedding). `log_sigma` is never
        dropped and the KL term sees the parameters before dropout.
      seed: optional int seed for eps and the dropout mask.
      **kwargs: passed to `keras.layers.Layer`.

    Raises:
      ValueError: if `dim`, `kl_weight` or `dropout` is out of range.
    """

    def __init__(self, dim=128, kl_weight=2.0, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_text_layer("CondAugment", dim, dropout, seed)
        if not kl_weight >= 0:
            raise ValueError(f"CondAugment: kl_weight must be >= 0, got {kl_weight!r}")
        self.dim = dim
        self.kl_weight = float(kl_weight)
        self.dropout = float(dropout)
        self.seed = seed
        self.projection = keras.layers.Dense(2 * dim, name="projection")
        self.activation = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky_relu")
        # Distinct seeds so the dropout mask and eps are not the same random stream. The
        # mask's generator is made first and tracked second, as when a keras Dropout layer
        # held it: the same initial seeds and the same order of checkpointed states.
        dropout_seed = (keras.random.SeedGenerator(None if seed is None else derive_seed(seed, 1))
                        if self.dropout > 0 else None)
        self.seed_generator = keras.random.SeedGenerator(seed)
        if dropout_seed is not None:
            self.dropout_seed_generator = dropout_seed

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"CondAugment: text_embedding must have shape [batch, embedding_dim] with a "
                f"known embedding_dim, got {tuple(input_shape)}")
        self.projection.build(input_shape)

    def mean_log_sigma(self, text_embedding):
        """The Gaussian's parameters (no dropout: they are what the KL term sees).

        Args:
          text_embedding: float32[batch, embedding_dim].

        Returns:
          (mean, log_sigma), each float32[batch, dim].
        """
        if not self.built:
            self.build(tuple(text_embedding.shape))
        h = self.activation(self.projection(text_embedding))
        return h[:, :self.dim], h[:, self.dim:]

    def call(self, text_embedding, training=None):
        """Samples c in training, returns the mean at inference.

        Args:
          text_embedding: float32[batch, embedding_dim].
          training: Python bool or None.

        Returns:
          c: float32[batch, dim].
        """
        mean, log_sigma = self.mean_log_sigma(text_embedding)
        if not training:
            return mean
        eps = seeds.truncated_normal(  # its own eps on each tf.distribute replica
            ops.shape(mean), self.seed_generator, dtype=mean.dtype)
        if self.kl_weight > 0:
            self.add_loss(self.kl_weight * kl_divergence(mean, log_sigma))
        # Dropout acts on the text-dependent part of c only: dropping log_sigma units
        # would set sigma to 1 whatever was learned and change the KL objective.
        if self.dropout > 0:
            mean = seeds.dropout(mean, self.dropout, self.dropout_seed_generator)
        return mean + ops.exp(log_sigma) * eps

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, kl_weight=self.kl_weight, dropout=self.dropout, seed=self.seed)
        return config
