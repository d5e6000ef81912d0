"""Export the generator, with the text encoder inside, as one SavedModel.

Signatures of the exported model (load with `tf.saved_model.load(path)` after
`import tensorflow_text`; condgan is not needed):

  serving_default(captions: string[N], seed: int64[]) ->
      {"audio": float32[N, length] in [-1, 1], "sample_rate": int32[]}
  generate_from_embedding(embeddings: float32[N, text_dim], seed: int64[]) ->
      {"audio": float32[N, length], "sample_rate": int32[]}

The generator runs at inference: c is the mean of CondAugment (no re-sampling,
no dropout) and there is no replay. Clip i draws z from
`tf.random.stateless_normal([latent_dim], seed=[seed, i])`, so the same
(captions, seed) always gives the same audio, clip i does not depend on how
many captions come with it, and a repeated caption gives different clips.
Empty or whitespace-only captions are refused with InvalidArgumentError.
`assets/condgan_export.json` holds the model config and the signature description.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from condgan import fileio
from condgan.text import load_encoder_module

EXPORT_INFO = "condgan_export.json"


class GeneratorModule(tf.Module):
    """The inference generator with its text encoder, as the SavedModel exports it.

    Its two `tf.function`s are the signatures in the module docstring; the
    generate CLI also calls them directly on a restored run, without exporting.

    Attributes:
      generate: tf.function(captions: string[N], seed: int64[]) ->
        {"audio": float32[N, length], "sample_rate": int32[]}; raises
        InvalidArgumentError on an empty or whitespace-only caption.
      generate_from_embedding: tf.function(embeddings: float32[N, text_dim],
        seed: int64[]) -> {"audio": float32[N, length], "sample_rate": int32[]}.
    """

    def __init__(self, gan, text_encoder, sample_rate: int):
        """Wraps a trained GAN.

        Args:
          gan: a CondGAN with trained weights (its conditioner, generator and
            model_config are used; the discriminator is not).
          text_encoder: callable string[N] -> float32[N, text_dim], e.g.
            `load_encoder_fn(handle)`; tracked, so it is saved with the module.
          sample_rate: Hz of the generated audio, returned with it.
        """
        super().__init__(name="condgan_generator")
        # The networks generation uses (the weight averages with model.ema_decay > 0).
        self.conditioner = gan.eval_conditioner
        self.generator = gan.eval_generator
        self.text_encoder = text_encoder
        self.latent_dim = gan.model_config.latent_dim
        self.sample_rate = tf.constant(sample_rate, tf.int32)
        text_dim = gan.model_config.text_dim
        self.generate_from_embedding = tf.function(
            self._generate_from_embedding,
            input_signature=[tf.TensorSpec([None, text_dim], tf.float32, name="embeddings"),
                             tf.TensorSpec([], tf.int64, name="seed")])
        self.generate = tf.function(
            self._generate,
            input_signature=[tf.TensorSpec([None], tf.string, name="captions"),
                             tf.TensorSpec([], tf.int64, name="seed")])

    def _generate_from_embedding(self, embeddings, seed):
        n = tf.shape(embeddings)[0]
        z = tf.map_fn(
            lambda i: tf.random.stateless_normal([self.latent_dim], seed=tf.stack([seed, i])),
            tf.range(n, dtype=tf.int64), fn_output_signature=tf.float32)
        z = tf.reshape(z, [n, self.latent_dim])
        c = self.conditioner(embeddings, training=False)
        audio = self.generator([z, c], training=False)[..., 0]
        return {"audio": audio, "sample_rate": self.sample_rate}

    def _generate(self, captions, seed):
        # Unicode-aware strip (tf.strings.strip only removes ASCII whitespace).
        lengths = tf.strings.length(tf.strings.regex_replace(captions, r"^[\s\p{Z}]+|[\s\p{Z}]+$", ""))
        with tf.control_dependencies([tf.debugging.assert_positive(
                lengths, message="every caption must be non-empty (after stripping spaces)")]):
            embeddings = self.text_encoder(captions)
        return self._generate_from_embedding(embeddings, seed)


def load_encoder_fn(handle: str):
    """Loads the text encoder SavedModel as a callable for `GeneratorModule`.

    Args:
      handle: local SavedModel directory or TF-Hub handle of the encoder.

    Returns:
      The loaded object if it is callable, else its "serving_default"
      signature: either maps captions string[N] to float32[N, text_dim].

    Raises:
      FileNotFoundError, ValueError: see `condgan.text.load_encoder_module`.
    """
    loaded = load_encoder_module(handle)
    if callable(loaded):
        return loaded
    return loaded.signatures["serving_default"]


def export_generator(gan, text_encoder: str, sample_rate: int, output_dir: str,
                     config_dict: dict | None = None, overwrite: bool = False) -> str:
    """Writes the SavedModel described in the module docstring, atomically.

    Args:
      gan: a CondGAN with trained weights.
      text_encoder: local path or TF-Hub handle of the encoder used in training.
      sample_rate: Hz of the generated audio.
      output_dir: target directory; written via a temp dir beside it and a rename
        (`condgan.fileio.atomic_directory`), so a failed export never leaves a
        half-written SavedModel there and an old export stays until the new
        one is in place.
      config_dict: the run's config, stored in assets/condgan_export.json.
      overwrite: replace an existing output_dir.

    Returns:
      output_dir.

    Raises:
      FileExistsError: output_dir exists and overwrite is False.
      NotADirectoryError: output_dir exists and is a file or symbolic link.
    """
    output_dir = os.path.abspath(output_dir)
    if os.path.exists(output_dir) and not overwrite:
        raise FileExistsError(f"{output_dir} exists; pass overwrite=True (--overwrite) to replace it")
    module = GeneratorModule(gan, load_encoder_fn(text_encoder), sample_rate)
    with fileio.atomic_directory(output_dir, prefix=".export-") as tmp:
        tf.saved_model.save(module, tmp, signatures={
            "serving_default": module.generate,
            "generate_from_embedding": module.generate_from_embedding})
        info = {
            "sample_rate": int(sample_rate),
            "length": gan.model_config.length,
            "latent_dim": gan.model_config.latent_dim,
            "text_dim": gan.model_config.text_dim,
            "text_encoder": text_encoder,
            "signatures": {
                "serving_default": "captions: string[N], seed: int64[] -> "
                                   "{audio: float32[N, length], sample_rate: int32[]}",
                "generate_from_embedding": "embeddings: float32[N, text_dim], seed: int64[] -> "
                                           "{audio: float32[N, length], sample_rate: int32[]}",
            },
            "config": config_dict or {},
        }
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        with open(os.path.join(tmp, "assets", EXPORT_INFO), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a SavedModel is meant to be shared
    return output_dir
