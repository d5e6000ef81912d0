"""Numeric precision of the generator and the discriminator: float32 or mixed bfloat16.

`model.precision` (`condgan.config.ModelConfig`) is one of `PRECISIONS`:

- "float32": every layer computes and stores in float32.
- "mixed_bfloat16": Keras' `mixed_bfloat16` policy for G and D: variables stay
  float32, matmuls and convolutions compute in bfloat16. bfloat16 has float32's
  exponent range, so, unlike float16, it needs no loss scaling
  (`keras.mixed_precision.LossScaleOptimizer` is for float16).
- "auto": "mixed_bfloat16" where the hardware runs bfloat16 matmuls natively
  (`bfloat16_supported`), else "float32".

What stays float32 whatever the setting (`condgan.nets` and `condgan.method` pin
it with `dtype="float32"` on those layers): the conditioner (CondAugment: its KL term,
its sample c), the replay buffer, the STFT and inverse STFT of the spectral
layers (`tf.signal` FFTs take complex64/complex128 only), the generator's last
layer (so G's audio is float32) and the discriminator's output layers (score,
projection, contrastive heads). The losses, the gradient penalty and the
contrastive logits cast their inputs to float32 (`condgan.objective`).
"""

from __future__ import annotations

import contextlib
import functools
import os

import keras
import tensorflow as tf

PRECISIONS = ("float32", "mixed_bfloat16", "auto")
# /proc/cpuinfo flags of CPUs with native bfloat16 dot products (Intel AMX, AVX512-BF16 on
# Intel Cooper Lake+ and AMD Zen 4+).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags listed in `path` (empty where there is no such file)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.cache
def bfloat16_supported() -> bool:
    """Whether this machine computes bfloat16 natively: a GPU of compute capability
    >= 8.0 (Ampere), or a CPU with one of `BF16_CPU_FLAGS`.

    Set CONDGAN_BF16=0 or 1 in the environment to override the detection.
    """
    forced = os.environ.get("CONDGAN_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return True
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def resolve(precision: str) -> str:
    """Maps a `model.precision` value to a Keras dtype-policy name.

    Args:
      precision: one of `PRECISIONS`.

    Returns:
      "float32" or "mixed_bfloat16".

    Raises:
      ValueError: `precision` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is unknown; choose one of {PRECISIONS}")
    if precision == "auto":
        return "mixed_bfloat16" if bfloat16_supported() else "float32"
    return precision


@contextlib.contextmanager
def policy_scope(precision: str):
    """Layers created inside get the Keras dtype policy of `resolve(precision)`.

    Sets Keras' global dtype policy and puts the previous one back on exit
    (also when the body raises).

    Yields:
      The resolved policy name.
    """
    name = resolve(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)
