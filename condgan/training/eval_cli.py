r"""condgan-eval: score a generator with every metric, beside the real data.

Usage:
  condgan-eval --model=EXPORT_OR_RUN_DIR --data_dir=DATA \
      [--classifier=DATA/classifier] [--output_dir=MODEL/eval] \
      [--num_clips=1000] [--z_per_caption=8] [--captions_per_class=2] [--seed=0]

--model is a SavedModel written by condgan-export or a run directory of
condgan-train (its newest checkpoint). --data_dir is the labelled dataset it
was trained on, and --classifier a scoring classifier trained on that dataset
with condgan-train-classifier. Writes into --output_dir:

  results.json          every metric, generated and real reference, with details
  results.md            the table generated | real reference | ratio, per class / caption
  generated_grid.png    spectrograms: rows captions, columns z (labelled; also .labels.txt)
  real_grid.png         spectrograms: rows classes, columns real test clips
  index.html            a page to listen: the metrics table, then per class its
                        generated clips beside real test clips of the class,
                        each a player above its spectrogram (files in listen/)

See `condgan.evaluation.evaluate` for the protocol and docs/metrics.md for the
metrics. The same arguments give the same numbers.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from condgan import _cli as cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("model", None, "Generator to score: a SavedModel (condgan-export) or a "
                        "run directory (condgan-train).")
    flags.DEFINE_string("data_dir", None,
                        "The prepared, labelled dataset the generator was trained on.")
    flags.DEFINE_string("classifier", None, "Scoring classifier trained on --data_dir "
                        "(condgan-train-classifier); default DATA_DIR/classifier.")
    flags.DEFINE_string("output_dir", None, "Where to write results.json, results.md and the "
                        "grid PNGs (created); default MODEL/eval.")
    flags.DEFINE_integer("num_clips", 1000, "Generated clips, captions uniform over classes "
                         "(>= 50, the k-means bins of NDB).")
    flags.DEFINE_integer("z_per_caption", 8,
                         "Clips (latent vectors) per caption for z-diversity (>= 2).")
    flags.DEFINE_integer("captions_per_class", 2,
                         "Captions drawn per class for z-diversity (>= 1).")
    flags.DEFINE_integer("seed", 0, "Seed of captions, z, real subsets and k-means; the same "
                         "seed gives the same numbers.")
    flags.DEFINE_integer("batch_size", 100, "Captions per generator call.")


class _ProgressLine:
    """One status line on stderr, redrawn in place on a terminal."""

    def __init__(self, stream=None):
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._open = False

    def __call__(self, line: str) -> None:
        if self._tty:
            self._stream.write(f"\r{line}\033[K")
            self._open = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._stream.flush()
            self._open = False


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.model or not FLAGS.data_dir:
        raise app.UsageError("--model and --data_dir are required")
    from condgan import records  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.evaluation import classifier as classifier_lib  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.evaluation import evaluate as evaluate_lib  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.training import listening  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.training.inference import GenerateError, load_generator  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    classifier_path = FLAGS.classifier or classifier_lib.default_path(FLAGS.data_dir)
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model, "eval")
    progress = _ProgressLine()
    try:
        classifier = classifier_lib.Classifier.load(classifier_path)
        generate = load_generator(FLAGS.model)
        results = evaluate_lib.evaluate(
            generate, FLAGS.data_dir, classifier, num_clips=FLAGS.num_clips,
            z_per_caption=FLAGS.z_per_caption, captions_per_class=FLAGS.captions_per_class,
            seed=FLAGS.seed, batch_size=FLAGS.batch_size,
            model_name=os.path.abspath(FLAGS.model), progress=progress)
    except (GenerateError, records.DatasetError, ValueError) as e:
        # ValueError covers EvaluationError, ClassifierError and DatasetMismatchError.
        progress.close()
        print(f"condgan-eval: error: {e}", file=sys.stderr)
        return 1
    progress.close()
    paths = evaluate_lib.write_report(results, output_dir)
    page = listening.write_eval_page(output_dir, results, paths)

    def fmt(x, spec=".4g"):
        return "—" if x is None else format(x, spec)

    for name in evaluate_lib.METRIC_ORDER:
        e = results["metrics"][name]
        print(f"{name:37s} generated {fmt(e['generated'])}  real {fmt(e['real'])}  "
              f"ratio {fmt(e['ratio'], '.3f')}")
    print(f"wrote {paths['json']}, {paths['markdown']}, {paths['generated_grid']}, "
          f"{paths['real_grid']}")
    print(f"listening page: {page}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
