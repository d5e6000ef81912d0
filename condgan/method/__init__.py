"""The method: four steps against mode collapse, each a switch of `condgan.config.ModelConfig`.

1. Conditioning augmentation (`cond_augment.CondAugment`, after StackGAN):
   text embedding -> Dense(2 * dim) -> LeakyReLU(0.2) -> mean, log_sigma; in
   training c = mean + exp(log_sigma) * eps with eps truncated normal, and the KL
   term mean(-log_sigma + 0.5 * (-1 + exp(2 log_sigma) + mean^2)) times
   `model.kl_weight` (2) goes in via `add_loss`. At generation c = mean.
   Switch: `model.cond_augment`.
2. Dropout on the layer that produces the text embedding, in G and D
   (`text_projection.TextProjection`, and CondAugment's input). Switch:
   `model.text_dropout`.
3. A 128-d condition beside a 100-d z (the collapsing baseline used 256).
   Switch: `model.cond_dim` (`conditioner.build_conditioner`).
4. Embedding replay (`embedding_replay.EmbeddingReplay`): (text embedding,
   re-sampled c) pairs kept in a buffer and replayed now and then; G uses a
   replayed c exactly as stored, and z is never stored, so only z can make a
   replayed sample new. The buffer is state and lives in checkpoints. Switch:
   `model.replay`.

`condgan.gan.CondGAN` wires them: conditioner -> replay -> generator.
"""

from condgan.method.cond_augment import CondAugment, kl_divergence
from condgan.method.conditioner import build_conditioner
from condgan.method.embedding_replay import EmbeddingReplay
from condgan.method.text_projection import TextProjection, normalize_text

__all__ = ["CondAugment", "EmbeddingReplay", "TextProjection", "build_conditioner",
           "kl_divergence", "normalize_text"]
