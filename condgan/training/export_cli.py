r"""condgan-export: a run directory -> one SavedModel with the text encoder inside.

Usage:
  condgan-export --model_dir=RUN --output_dir=EXPORT [--text_encoder=PATH] [--overwrite]

The SavedModel's signatures are documented in `condgan.export`; it loads with
`tf.saved_model.load(EXPORT)` after `import tensorflow_text`, without condgan.
"""

from __future__ import annotations

import sys

from absl import app, flags

from condgan import _cli as cli
from condgan.config import ConfigError
from condgan.training.run import UserError

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("model_dir", None, "Run directory written by condgan-train.")
    flags.DEFINE_string("output_dir", None,
                        "Where to write the SavedModel (must not exist unless --overwrite).")
    flags.DEFINE_string("text_encoder", None,
                        "Text encoder path or handle; default: the one the run trained with.")
    flags.DEFINE_string("checkpoint", None, "A specific checkpoint prefix; default: the newest.")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing --output_dir.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.model_dir or not FLAGS.output_dir:
        raise app.UsageError("--model_dir and --output_dir are required")
    from condgan.training import inference  # noqa: PLC0415 - TensorFlow after flag parsing (fast --help)

    try:
        path = inference.export_run(FLAGS.model_dir, FLAGS.output_dir, FLAGS.text_encoder, FLAGS.checkpoint,
                          FLAGS.overwrite)
    except (inference.CheckpointError, ConfigError, inference.GenerateError, UserError,
            FileExistsError, OSError) as e:
        print(f"condgan-export: error: {e}", file=sys.stderr)
        return 1
    print(f"exported SavedModel to {path}")
    return 0


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
