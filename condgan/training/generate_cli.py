r"""condgan-generate: captions -> wav files (+ a spectrogram grid PNG).

Usage:
  condgan-generate --model=EXPORT_OR_RUN_DIR --caption="a dog barks" \
      --caption="a bell rings" --seeds=0,1,2 --output_dir=OUT [--grid]

--model is a SavedModel written by condgan-export, or a run directory of
condgan-train (its newest checkpoint, exported in memory). The same model,
captions and seeds always give the same audio. Files are named
`{caption index:02d}-{caption slug}-seed{seed}.wav`. With --grid, also
`grid.png` (one row per caption, one column per seed, labelled, with time and
frequency axes and a dB scale), a labelled spectrogram `.png` beside each wav,
and `index.html`, a self-contained page to listen to every clip above its
spectrogram (open it in a browser, also from a zip).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from condgan import _cli as cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("model", None, "SavedModel dir (condgan-export) or run dir (condgan-train).")
    flags.DEFINE_multi_string("caption", [], "A caption to generate; repeat the flag for more.")
    flags.DEFINE_string("captions_file", None, "A UTF-8 text file with one caption per line.")
    flags.DEFINE_list("seeds", ["0"], "Comma-separated int seeds; one clip per caption and seed.")
    flags.DEFINE_string("output_dir", None, "Where to write the wav files (created).")
    flags.DEFINE_boolean("grid", False, "Also write grid.png (rows captions, columns seeds), a "
                         "spectrogram per clip and index.html, a page to listen to them.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.model or not FLAGS.output_dir:
        raise app.UsageError("--model and --output_dir are required")
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        raise app.UsageError(f"--seeds must be integers, got {FLAGS.seeds}") from None
    out_of_range = [s for s in seeds if not -2**63 <= s < 2**63]
    if out_of_range:
        raise app.UsageError(f"--seeds must fit in int64, got {out_of_range}")
    if os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        raise app.UsageError(f"--output_dir {FLAGS.output_dir} exists and is not a directory")
    captions = list(FLAGS.caption)
    from condgan.training import inference  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    try:
        if FLAGS.captions_file:
            try:
                with open(FLAGS.captions_file, encoding="utf-8") as f:
                    captions += [line.strip() for line in f if line.strip()]
            except (OSError, UnicodeDecodeError) as e:
                raise inference.GenerateError(f"--captions_file {FLAGS.captions_file}: {e}") from e
        captions = inference.check_captions(captions)
        inference.check_export(FLAGS.model)
        try:
            clips, rate = inference.generate_grid(FLAGS.model, captions, seeds)
        except inference.MODEL_ERRORS as e:  # an unreadable model or checkpoint, named
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise inference.GenerateError(f"cannot load or run --model {FLAGS.model}: {first}") from e
    except inference.GenerateError as e:
        print(f"condgan-generate: error: {e}", file=sys.stderr)
        return 1
    paths = inference.write_outputs(clips, rate, captions, seeds, FLAGS.output_dir, FLAGS.grid)
    print(f"wrote {len(paths)} files to {FLAGS.output_dir}")
    if FLAGS.grid:
        print(f"listening page: {paths[-1]}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
