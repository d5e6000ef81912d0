"""What the scratch probes share: where the data is, a run at a step, the synth test clips.

The probes read a run directory of `python -m experiments.ablation run` (by default
under work_data/runs/<dataset>/; the committed reports under experiments/results
hold no checkpoints) and the synth data and classifier that `python -m
experiments.ablation setup --dataset=synth` puts under work_data/data/. Old run
directories work too: `Config.from_dict` upgrades their config.json.
"""

from __future__ import annotations

import argparse
import os

import keras
import numpy as np

from condgan import data, records
from condgan.training.loop import CHECKPOINT_SUBDIR, load_for_inference
from condgan.training.run import cached_caption_embeddings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where `python -m experiments.ablation setup` puts synth/ and synth-classifier/ (its --work_dir).
DATA_ROOT = os.path.join(ROOT, "work_data", "data")


def parser(doc: str, run: bool = True, step: bool = True, data_root: bool = True) -> argparse.ArgumentParser:
    """A parser with the module docstring as help, and <run dir>, <step> and --data_root.

    Args:
      doc: the script's docstring.
      run: add the positional run directory.
      step: add the positional checkpoint step (required).
      data_root: add --data_root.
    """
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if run:
        p.add_argument("run", help="a run directory (config.json, checkpoints/, caption_embeddings.npz)")
    if step:
        p.add_argument("step", type=int, help="the checkpoint to read: checkpoints/ckpt-<step>")
    if data_root:
        p.add_argument("--data_root", default=DATA_ROOT,
                       help="holds synth/ and synth-classifier/ (default: %(default)s)")
    return p


def checkpoint(run: str, step: int | None) -> str | None:
    """The checkpoint prefix of `step` in a run directory; None (the newest) for step None."""
    return None if step is None else os.path.join(run, CHECKPOINT_SUBDIR, f"ckpt-{step}")


def load_run(run: str, step: int | None):
    """(Config, CondGAN) of a run directory restored at `step` (None: the newest checkpoint)."""
    config, gan, _ = load_for_inference(run, checkpoint(run, step))
    return config, gan


def caption_embeddings(config, run: str, data_dir: str) -> tuple[records.DatasetCard, dict]:
    """(card of data_dir, caption -> embedding), the embeddings cached in the run directory."""
    card = records.load_card(data_dir)
    return card, cached_caption_embeddings(config, card, run)


def test_clips(config, card: records.DatasetCard, embeddings: dict, data_dir: str):
    """Every test clip of data_dir in one batch, in shard order.

    Returns:
      (audio float32[N, length, 1], text float32[N, text_dim], labels int[N]) as numpy.
    """
    ds = data.make_dataset(data_dir, "test", card.counts["test"], embeddings, shuffle=False,
                           repeat=False, length=config.model.length)
    audio, text, _, labels = next(iter(ds))
    return audio.numpy(), text.numpy(), labels.numpy()


def run_and_test_clips(args):
    """`load_run` of args.run at args.step and `test_clips` of the synth set under
    args.data_root: (config, gan, card, audio, text, labels)."""
    data_dir = os.path.join(args.data_root, "synth")
    config, gan = load_run(args.run, args.step)
    card, emb = caption_embeddings(config, args.run, data_dir)
    audio, text, labels = test_clips(config, card, emb, data_dir)
    return config, gan, card, audio, text, labels


def cond_gaussian(conditioner: keras.Model, text) -> tuple[np.ndarray, np.ndarray]:
    """CondAugment's (mean, log_sigma) of caption embeddings: the conditioner's layers
    before its "cond_augment" layer, then that layer's Gaussian.

    Args:
      conditioner: a conditioner of `condgan.method.build_conditioner` with CondAugment.
      text: float32[N, text_dim].

    Returns:
      (mean, log_sigma), float32[N, cond_dim] each.
    """
    try:
        ca = conditioner.get_layer("cond_augment")
    except ValueError as e:
        raise SystemExit("the run has no CondAugment (model.cond_augment=false): nothing to probe") from e
    before = keras.Model(conditioner.inputs, ca.input)
    mean, log_sigma = ca.mean_log_sigma(before([np.asarray(text, np.float32)], training=False))
    return np.asarray(mean), np.asarray(log_sigma)
