"""The KL term of conditioning augmentation, in the generator's loss.

Term g "kl": the losses the conditioner adds with `add_loss` (CondAugment's KL
towards N(0, I), already times model.kl_weight, 2 in the method), summed; 0 for
a conditioner without CondAugment. Its weight in the objective is 1: the method's
weight is the layer's (`condgan.method.cond_augment`).
"""

from __future__ import annotations

import tensorflow as tf

from condgan.objective.registry import register


@register("g", "kl")
def kl_term(step):
    """The sum of step.conditioner_losses (0.0 when there are none)."""
    losses = step.conditioner_losses
    return tf.add_n(losses) if losses else tf.constant(0.0)
