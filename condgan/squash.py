"""The spectral generators' last step: their waveform into [-1, 1] (the export's contract).

`tanh` (the default, as WaveGAN's last layer) bends every sample: tanh(0.7) = 0.60.
The procedural set's clips peak at 0.64-0.82 (median per class), so a generator
whose waveform matched a real clip exactly would still give out tanh of it, and
the synth classifier hears tanh of the real test clips' clicks as clicks 0 times in
20 and their chirps 0.67 (issue 8, session 8, `experiments/scratch/resynth_probe.py`);
the critic sees the same distortion on every generated clip. A WaveGAN generator
can learn the inverse bend sample by sample; a generator that emits STFT frames
cannot (it would need the distortion's harmonics in phase).

`soft_clip` is the identity up to |x| = KNEE and bends only above it,
continuously and with a continuous slope, towards +-1:

    f(x) = x                                            |x| <= k
    f(x) = sign(x) (k + (1 - k) tanh((|x| - k) / (1 - k)))   |x| > k

`model.output_squash` chooses.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from condgan.config import SQUASHES

# Below this |x| the soft clip is the identity: above every procedural clip's median peak.
KNEE = 0.9


def soft_clip(x, knee: float = KNEE):
    """The identity up to |x| = knee, then a tanh bend into (-1, 1) (float32)."""
    x = tf.cast(x, tf.float32)
    over = tf.maximum(tf.abs(x) - knee, 0.0)
    bent = knee + (1.0 - knee) * tf.tanh(over / (1.0 - knee))
    return tf.where(tf.abs(x) <= knee, x, tf.sign(x) * bent)


def check(kind, owner: str) -> str:
    """`kind` if it is one of SQUASHES, else a ValueError naming `owner`."""
    if kind not in SQUASHES:
        raise ValueError(f"{owner}: squash kind {kind!r} is unknown; choose one of {SQUASHES}")
    return kind


def apply(x, kind: str):
    """`kind` of SQUASHES applied to x."""
    if check(kind, "squash.apply") == "tanh":
        return tf.tanh(tf.cast(x, tf.float32))
    return soft_clip(x)


@keras.saving.register_keras_serializable(package="condgan")
class Squash(keras.layers.Layer):
    """x -> `apply(x, kind)` (float32)."""

    def __init__(self, kind: str = "tanh", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.kind = check(kind, "Squash")

    def call(self, x):
        return apply(x, self.kind)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}
