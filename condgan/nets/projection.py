"""The projection discriminator's caption term (Miyato & Koyama 2018).

logit(x, t) = psi(phi(x)) + <V t, phi(x)>: the caption enters as an inner
product with the critic's pooled features phi(x), not as extra channels
concatenated before its last layer. At equal iterations projection beat
concatenation on ImageNet (IS 29.7 vs 21.1, intra-FID 103 vs 141). `V t` is
a dense layer of the caption projection, built by the discriminator; this
layer computes the inner product.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="condgan")
class InnerProduct(keras.layers.Layer):
    """Row-wise inner product: [phi float[B, K], v float[B, K]] -> float[B, 1]."""

    def call(self, phi, v):
        return ops.sum(phi * v, axis=-1, keepdims=True)

    def compute_output_shape(self, phi_shape, v_shape):
        return (phi_shape[0], 1)
