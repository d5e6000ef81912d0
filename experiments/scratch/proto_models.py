"""Prototype spectral G / D (scratch, not the library)."""
import keras
import numpy as np
import tensorflow as tf
from keras import ops

from condgan import layers

FRAME, HOP = 256, 64
OPT = {}


def sn(layer, on=True):
    return keras.layers.SpectralNormalization(layer) if on else layer


class ISTFT(keras.layers.Layer):
    """(logmag, if) frames [B, T, F] x2 -> waveform [B, L, 1]."""

    def __init__(self, length, frame=FRAME, hop=HOP, **kw):
        super().__init__(**kw)
        self.length, self.frame, self.hop = length, frame, hop

    def call(self, logmag, inst_freq):
        mag = tf.exp(tf.minimum(logmag, 6.0))
        if OPT.get("centre", False):
            k = np.arange(self.frame // 2 + 1)
            centre = (2 * np.pi * k * self.hop / self.frame + np.pi) % (2 * np.pi) - np.pi
            inst_freq = inst_freq * OPT.get("dev_scale", 1.0) + (centre / np.pi).astype(np.float32)
        phase = tf.cumsum(inst_freq * np.pi, axis=1)
        # pad a zero Nyquist bin? F = frame//2 + 1 expected
        spec = tf.complex(mag * tf.cos(phase), mag * tf.sin(phase))
        wav = tf.signal.inverse_stft(
            spec, self.frame, self.hop, self.frame,
            window_fn=tf.signal.inverse_stft_window_fn(self.hop))
        off = self.frame - self.hop
        wav = wav[:, off:off + self.length]
        return tf.tanh(wav)[..., None]


class FiLM(keras.layers.Layer):
    def __init__(self, width, **kw):
        super().__init__(**kw)
        self.width = width
        self.dense = keras.layers.Dense(2 * width, kernel_initializer="zeros")

    def call(self, x, c):
        gb = self.dense(c)
        g, b = gb[:, None, :self.width], gb[:, None, self.width:]
        return x * (1.0 + g) + b


def build_spectral_generator(cfg, width=None, film=True, upsample=2):
    width = width or OPT.get("g_width", 128)
    film = OPT.get("film", film)
    L = cfg.length
    T = L // HOP + FRAME // HOP  # frames
    F = FRAME // 2 + 1
    T0 = T // 4
    z = keras.Input((cfg.latent_dim,), name="z")
    c = keras.Input((cfg.cond_dim,), name="c")
    x = keras.layers.Concatenate()([z, c])
    x = keras.layers.Dense(T0 * width)(x)
    x = keras.layers.Reshape((T0, width))(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    for i in range(2):
        x = keras.layers.UpSampling1D(2)(x)
        x = keras.layers.Conv1D(width, 5, padding="same")(x)
        if film:
            x = FiLM(width)(x, c)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv1D(width, 5, padding="same")(x)
    if film:
        x = FiLM(width)(x, c)
    x = keras.layers.LeakyReLU(0.2)(x)
    logmag = keras.layers.Conv1D(F, 1, bias_initializer=keras.initializers.Constant(-4.0))(x)
    inst = keras.layers.Conv1D(F, 1, activation="tanh", kernel_initializer="zeros" if OPT.get("centre") else "glorot_uniform")(x)
    wav = ISTFT(L)(logmag, inst)
    return keras.Model([z, c], wav, name="generator")


class LogSTFT(keras.layers.Layer):
    def __init__(self, frame=FRAME, hop=HOP, **kw):
        super().__init__(**kw)
        self.frame, self.hop = frame, hop

    def call(self, audio):
        s = tf.signal.stft(audio[..., 0], self.frame, self.hop, self.frame)
        m = tf.math.log(tf.abs(s) + 1e-4)
        return m[..., None]


class Projection(keras.layers.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)

    def call(self, phi, t):
        return ops.sum(phi * t, axis=-1, keepdims=True)


def build_spectral_discriminator(cfg, seed=None, width=None, use_sn=True):
    width = width or OPT.get("d_width", 32)
    use_sn = OPT.get("sn", use_sn)
    audio = keras.Input((cfg.length, 1), name="audio")
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    x = LogSTFT()(audio)
    x = keras.layers.Lambda(lambda m: (m + 4.0) / 4.0)(x)
    ch = width
    for i in range(4):
        x = sn(keras.layers.Conv2D(ch, 3, strides=2, padding="same"), use_sn)(x)
        x = keras.layers.LeakyReLU(0.2)(x)
        ch *= 2
    ch //= 2
    phi = keras.layers.GlobalAveragePooling2D()(x)
    t = layers.TextProjection(cfg.cond_dim, dropout=cfg.text_dropout, seed=seed)(text)
    v = sn(keras.layers.Dense(ch, use_bias=False), use_sn)(t)
    out = sn(keras.layers.Dense(1), use_sn)(phi)
    proj = Projection()(phi, v)
    score = keras.layers.Add()([out, proj])
    return keras.Model([audio, text], score, name="discriminator")


def build_contrastive_discriminator(cfg, seed=None, width=None, use_sn=True, emb_dim=128):
    """Spectral D with outputs [score, audio_emb, text_emb]."""
    width = width or OPT.get("d_width", 32)
    use_sn = OPT.get("sn", use_sn)
    audio = keras.Input((cfg.length, 1), name="audio")
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    x = LogSTFT()(audio)
    x = keras.layers.Lambda(lambda m: (m + 4.0) / 4.0)(x)
    ch = width
    for i in range(4):
        x = sn(keras.layers.Conv2D(ch, 3, strides=2, padding="same"), use_sn)(x)
        x = keras.layers.LeakyReLU(0.2)(x)
        ch *= 2
    ch //= 2
    phi = keras.layers.GlobalAveragePooling2D()(x)
    t = layers.TextProjection(cfg.cond_dim, dropout=cfg.text_dropout, seed=seed)(text)
    v = sn(keras.layers.Dense(ch, use_bias=False), use_sn)(t)
    out = sn(keras.layers.Dense(1), use_sn)(phi)
    proj = Projection()(phi, v)
    score = keras.layers.Add()([out, proj])
    a = keras.layers.Dense(emb_dim)(phi)
    u = keras.layers.Dense(emb_dim)(t)
    return keras.Model([audio, text], [score, a, u], name="discriminator")


def info_nce(a, u, text, tau=0.1):
    """Multi-positive InfoNCE: rows with identical caption embeddings are positives."""
    a = tf.math.l2_normalize(a, -1)
    u = tf.math.l2_normalize(u, -1)
    logits = tf.matmul(a, u, transpose_b=True) / tau
    same = tf.cast(tf.reduce_sum(tf.square(text[:, None, :] - text[None, :, :]), -1) < 1e-6, tf.float32)
    target = same / tf.reduce_sum(same, 1, keepdims=True)
    l1 = tf.nn.softmax_cross_entropy_with_logits(target, logits)
    l2 = tf.nn.softmax_cross_entropy_with_logits(tf.transpose(target), tf.transpose(logits))
    return tf.reduce_mean(l1 + l2) / 2
