r"""condgan-train-classifier: train the scoring classifier of a prepared dataset.

Usage:
  condgan-train-classifier --data_dir=DATA [--output_dir=DATA/classifier] \
      [--epochs=20] [--batch_size=32] [--seed=0] [--overwrite]

Trains the log-mel CNN of `condgan.evaluation.classifier` on the training
split of a labelled dataset (written by condgan-prepare), keeps the epoch with
the best accuracy on a held-out part of it, prints the accuracy on the test
split (overall and per class) and saves the classifier, by default into
DATA/classifier, where condgan-eval looks for it.
"""

from __future__ import annotations

import sys

from absl import app, flags

from condgan import _cli as cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("data_dir", None,
                        "Prepared, labelled dataset directory (made by condgan-prepare).")
    flags.DEFINE_string("output_dir", None,
                        "Where to save the classifier; default DATA_DIR/classifier.")
    flags.DEFINE_integer("epochs", 20, "Passes over the training split (the epoch that does best "
                         "on the held-out part of it is kept).")
    flags.DEFINE_integer("batch_size", 32, "Clips per training step.")
    flags.DEFINE_float("learning_rate", 1e-3, "Initial Adam learning rate (cosine-decayed to 0).")
    flags.DEFINE_integer("seed", 0,
                         "Seed of the weights, the held-out split, batch order and augmentation.")
    flags.DEFINE_boolean("augment", True,
                         "Random time shift (+-10 %) and gain (+-6 dB) of the training clips.")
    flags.DEFINE_boolean("overwrite", False, "Replace a classifier already saved at --output_dir.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.data_dir:
        raise app.UsageError("--data_dir is required")
    from condgan import records  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)
    from condgan.evaluation.classifier import train_classifier  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    try:
        report = train_classifier(
            FLAGS.data_dir, FLAGS.output_dir, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
            seed=FLAGS.seed, learning_rate=FLAGS.learning_rate, augmentation=FLAGS.augment,
            overwrite=FLAGS.overwrite,
            progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (records.DatasetError, FileExistsError, ValueError) as e:
        print(f"condgan-train-classifier: error: {e}", file=sys.stderr)
        return 1
    print(f"test accuracy {report['test_accuracy']:.4f} on {report['test_count']} clips "
          f"(held-out {report['validation_accuracy']:.4f}, best epoch {report['best_epoch']} of "
          f"{report['epochs']}, {report['wall_time_s']:.0f} s)")
    for name, acc in report["per_class_test_accuracy"].items():
        shown = "no test clips" if acc is None else f"{acc:.4f}"
        print(f"  {name}: {shown}")
    print(f"saved {report['path']}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
