"""The text-conditioned critic: a base's features, the caption, and the score.

Features phi(x) come from the base (`model.discriminator`): WaveGAN's strided 1-D
convolutions over the waveform (`condgan.nets.wavegan.wavegan_features`) or 2-D
convolutions over the clip's log-|STFT| (`condgan.nets.spectral.spectral_features`).
The caption t = TextProjection(cond_dim) of the (normalised) embedding, with the
method's dropout, enters by `model.d_conditioning`:

- "concat": t tiled over the 16 steps, concatenated as channels, mixed by a
  kernel-1 convolution as wide as the last layer, then a dense logit (WaveGAN
  features only);
- "projection": logit = Dense(1)(phi) + <V t, phi> (Miyato & Koyama 2018).

With `model.spectral_norm` every convolution and dense layer of the critic (not
the caption's TextProjection, nor the contrastive and class heads) is wrapped in
`keras.layers.SpectralNormalization`.
With `model.contrastive_dim` > 0 the critic also returns the contrastive heads
Dense(K)(phi) and Dense(K)(t) (`condgan.objective.contrastive`). With `model.class_head`
it also returns class logits Dense(num_classes + 1) of the audio features (phi, or the
WaveGAN trunk's before the caption is concatenated): the clip's class, or the last index
for "generated" (`condgan.objective.class_head`); the head reads no caption, so the text
path (and its dropout) is untouched. The head is Dense(LayerNorm(features)), not
spectrally normalised (the features under it are). The critic's pooled features are
small (norm 0.6-0.9 on the pitch subset), and a head on them stays at chance: spectrally
normalised, its logits spanned 0.69; free, 1.06 after 300 steps (Adam moves each weight
~lr a step), at 0.25 accuracy on real clips where a linear probe on the same standardised
features reached 0.80. The layer norm gives the head unit-variance inputs.
"""

from __future__ import annotations

import keras

from condgan.config import ModelConfig
from condgan.method.text_projection import TextProjection, normalize_text
from condgan.nets.projection import InnerProduct
from condgan.nets.spectral import spectral_features
from condgan.nets.wavegan import BASE_STEPS, layer_strides, wavegan_features
from condgan.seeds import derive_seed


def discriminator(cfg: ModelConfig, seed: int | None = None) -> keras.Model:
    """Builds the critic of `cfg` (under the caller's dtype policy).

    Args:
      cfg: a validated model config.
      seed: optional int; seeds the phase-shuffle and dropout streams (each layer
        gets its own seed derived from it).

    Returns:
      keras.Model "discriminator": [audio float32[batch, length, 1],
      text_embedding float32[batch, text_dim]] -> score float32[batch, 1]
      (an unbounded logit / critic value), or the list [score, audio_vectors
      float32[batch, K], caption_vectors float32[batch, K] (with contrastive heads),
      class_logits float32[batch, num_classes + 1] (with the class head)].

    Raises:
      ValueError: model.class_head is on and model.num_classes is not set.
    """
    if cfg.class_head and cfg.num_classes < 1:
        raise ValueError("model.class_head needs model.num_classes >= 1 (condgan-train takes it "
                         "from the dataset's card)")

    def layer_seed(index: int) -> int | None:
        # Hashed, not added: neighbouring integer seeds would make streams coincide.
        return None if seed is None else derive_seed(seed, index)

    def sn(layer):
        return keras.layers.SpectralNormalization(layer, name=layer.name + "_sn",
                                                  dtype=layer.dtype_policy) \
            if cfg.spectral_norm else layer

    # The output layers compute in float32 under mixed precision: logits and heads are float32.
    out32 = "float32"
    audio = keras.Input((cfg.length, 1), name="audio")
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    if cfg.discriminator == "spectral":
        x = spectral_features(cfg, audio, sn)
    else:
        x = wavegan_features(cfg, audio, sn, layer_seed)
    # Built after the feature layers, as in the first version (checkpoint layout).
    t = TextProjection(cfg.cond_dim, dropout=cfg.text_dropout, seed=layer_seed(0),
                       name="text_projection")(normalize_text(text, cfg.text_norm, cfg.text_dim))
    audio_only = x  # the features before any caption enters (the class head's input)
    if cfg.discriminator == "wavegan":
        if cfg.d_conditioning == "concat":
            tiled = keras.layers.RepeatVector(BASE_STEPS, name="text_tile")(t)
            x = keras.layers.Concatenate(name="audio_text")([x, tiled])
            widest = cfg.model_dim * 2 ** (len(layer_strides(cfg.length)) - 1)
            x = sn(keras.layers.Conv1D(widest, 1, name="cond_conv"))(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2, name="cond_conv_lrelu")(x)
        x = keras.layers.Flatten(name="flatten")(x)
    phi = x
    score = sn(keras.layers.Dense(1, name="output", dtype=out32))(phi)
    if cfg.d_conditioning == "projection":
        v = sn(keras.layers.Dense(phi.shape[-1], use_bias=False, name="caption_embed",
                                  dtype=out32))(t)
        score = keras.layers.Add(name="score", dtype=out32)(
            [score, InnerProduct(name="projection", dtype=out32)(phi, v)])
    outputs = [score]
    if cfg.contrastive_dim > 0:
        outputs += [keras.layers.Dense(cfg.contrastive_dim, name="audio_head", dtype=out32)(phi),
                    keras.layers.Dense(cfg.contrastive_dim, name="caption_head", dtype=out32)(t)]
    if cfg.class_head:
        if len(audio_only.shape) > 2:  # WaveGAN's 16 steps (concat mixes the caption into phi)
            audio_only = keras.layers.Flatten(name="class_head_flatten")(audio_only)
        normed = keras.layers.LayerNormalization(name="class_head_norm", dtype=out32)(audio_only)
        outputs.append(keras.layers.Dense(cfg.num_classes + 1, name="class_head",
                                          dtype=out32)(normed))
    return keras.Model([audio, text], outputs if len(outputs) > 1 else score, name="discriminator")
