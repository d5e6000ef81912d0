"""Inference helpers shared by condgan-export, condgan-generate, condgan-eval and the demo.

No flags here (absl flags are global per process, so CLI modules cannot import
each other).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401 (registers the tokenizer ops of the text encoder)

from condgan.evaluation import plots
from condgan.export import EXPORT_INFO, GeneratorModule, export_generator, load_encoder_fn
from condgan.training import listening
from condgan.training.listening import slug, write_wav
from condgan.training.loop import CheckpointError, load_for_inference
from condgan.training.run import EMBEDDINGS_NAME, load_text_encoder


def export_run(model_dir: str, output_dir: str, text_encoder: str | None = None,
               checkpoint: str | None = None, overwrite: bool = False) -> str:
    """Restores a run and exports it; returns output_dir."""
    config, gan, _ = load_for_inference(model_dir, checkpoint)
    encoder = text_encoder or config.data.text_encoder
    check_encoder_matches(model_dir, encoder)
    return export_generator(gan, encoder, config.model.sample_rate,
                            output_dir, config_dict=config.to_dict(), overwrite=overwrite)


def check_encoder_matches(model_dir: str, encoder: str, num_captions: int = 8,
                          min_cosine: float = 0.99) -> None:
    """Refuses a text encoder that does not reproduce the run's training embeddings.

    A different encoder of the same size would export without error and generate
    from meaningless conditions, so a few training captions are re-embedded and
    compared with the embeddings the run trained on.

    Raises:
      GenerateError: the encoder's embeddings differ (cosine < min_cosine).
    """
    path = os.path.join(model_dir, EMBEDDINGS_NAME)
    if not os.path.exists(path):
        return
    with np.load(path, allow_pickle=False) as z:
        captions, stored = list(z["captions"][:num_captions]), z["embeddings"][:num_captions]
    got = load_text_encoder(encoder).embed([str(c) for c in captions])
    if got.shape != stored.shape:
        raise GenerateError(f"text encoder {encoder} gives {got.shape[1]}-d embeddings; "
                            f"the run in {model_dir} trained on {stored.shape[1]}-d ones")
    cos = np.sum(got * stored, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(stored, axis=1))
    if cos.min() < min_cosine:
        raise GenerateError(f"text encoder {encoder} is not the one the run in {model_dir} trained "
                            f"with (cosine {cos.min():.3f} < {min_cosine} on its captions)")


class GenerateError(ValueError):
    """Bad captions, seeds or model path."""


# What loading or running a model raises when its files are unreadable or corrupt.
MODEL_ERRORS = (tf.errors.OpError, OSError)


def check_export(model: str) -> None:
    """Refuses a SavedModel that condgan-export did not write (before loading it).

    Raises:
      GenerateError: `model` holds a saved_model.pb but no assets/condgan_export.json.
    """
    if os.path.exists(os.path.join(model, "saved_model.pb")) and not os.path.isfile(
            os.path.join(model, "assets", EXPORT_INFO)):
        raise GenerateError(f"--model {model} is a SavedModel but not a condgan export (no "
                            f"assets/{EXPORT_INFO}); export a run with condgan-export")


def check_captions(captions: Sequence[str]) -> list[str]:
    if not captions:
        raise GenerateError("no captions given (use --caption or --captions_file)")
    bad = [i for i, c in enumerate(captions) if not c.strip()]
    if bad:
        raise GenerateError(f"caption(s) at position {bad} are empty or whitespace-only")
    return list(captions)  # unchanged: the SavedModel would see them the same way


def load_generator(model: str, checkpoint: str | None = None):
    """Loads a SavedModel or a run directory for generation.

    Args:
      model: an exported SavedModel directory, or a run directory of `train()`.
      checkpoint: with a run directory, a checkpoint prefix to restore instead
        of the newest (e.g. to evaluate a run along its training).

    Returns:
      generate(captions: list[str], seed: int) -> (float32[N, L], sample_rate int).

    Raises:
      GenerateError: no such directory, no usable checkpoint, or a checkpoint
        given with a SavedModel.
    """
    if not os.path.isdir(model):
        raise GenerateError(f"--model {model}: no such directory")
    if os.path.exists(os.path.join(model, "saved_model.pb")):
        if checkpoint is not None:
            raise GenerateError(f"{model} is an exported SavedModel: it has no checkpoints to "
                                f"choose from (got checkpoint={checkpoint})")
        loaded = tf.saved_model.load(model)
        fn = loaded.signatures["serving_default"]
    else:
        try:
            config, gan, _ = load_for_inference(model, checkpoint)
        except CheckpointError as e:
            raise GenerateError(str(e)) from e
        module = GeneratorModule(gan, load_encoder_fn(config.data.text_encoder),
                                 config.model.sample_rate)
        fn = module.generate

    def generate(captions, seed):
        out = fn(captions=tf.constant(list(captions)), seed=tf.constant(int(seed), tf.int64))
        return out["audio"].numpy(), int(out["sample_rate"].numpy())

    return generate


def generate_grid(model: str, captions: Sequence[str], seeds: Sequence[int]):
    """Returns (float32[len(captions), len(seeds), L], sample_rate)."""
    captions = check_captions(captions)
    generate = load_generator(model)
    columns, rate = [], None
    for seed in seeds:
        audio, rate = generate(captions, seed)
        columns.append(audio)
    return np.stack(columns, axis=1), rate


def write_outputs(clips: np.ndarray, sample_rate: int, captions: Sequence[str],
                  seeds: Sequence[int], output_dir: str, grid: bool,
                  page_path: str | None = None, page_title: str = "condgan samples",
                  page_intro: str = "") -> list[str]:
    """Writes one wav per (caption, seed) and, with `grid`, the pictures and the listening page.

    Args:
      clips: float32[len(captions), len(seeds), L].
      sample_rate: Hz.
      captions, seeds: the rows and columns of `clips`.
      output_dir: where the files go (created).
      grid: also write grid.png (labelled: captions, seeds, axes, dB scale) and
        grid.labels.txt, one labelled spectrogram PNG beside each wav, and the
        listening page (`condgan.training.listening`).
      page_path: the page's path (default OUTPUT_DIR/index.html); it must be
        in `output_dir` or above it.
      page_title, page_intro: its heading and first paragraph.

    Returns:
      The paths written: wavs, then (with `grid`) grid.png, grid.labels.txt,
      the spectrogram PNGs and the page.
    """
    os.makedirs(output_dir, exist_ok=True)
    paths, wavs = [], []
    for i, caption in enumerate(captions):
        row = []
        for j, seed in enumerate(seeds):
            path = os.path.join(output_dir, f"{i:02d}-{slug(caption)}-seed{seed}.wav")
            write_wav(path, clips[i, j], sample_rate)
            row.append(path)
        wavs.append(row)
        paths += row
    if grid:
        grid_path = os.path.join(output_dir, "grid.png")
        labels_path = plots.save_spectrogram_grid(grid_path, clips, sample_rate, row_labels=list(captions),
                                            col_labels=[f"seed {s}" for s in seeds])
        images = [[w[:-4] + ".png" for w in row] for row in wavs]
        flat = np.asarray(clips).reshape(-1, np.shape(clips)[-1])
        # Untitled: the page labels each cell (caption row, seed column) in HTML.
        plots.spectrogram_figures([p for row in images for p in row], flat, sample_rate,
                                  [""] * len(flat))
        page = listening.write_samples_page(
            page_path or os.path.join(output_dir, listening.PAGE_NAME), captions, seeds, wavs,
            images, grid_path, sample_rate, flat.shape[-1], title=page_title, intro=page_intro)
        paths += [grid_path, labels_path] + [p for row in images for p in row] + [page]
    return paths
