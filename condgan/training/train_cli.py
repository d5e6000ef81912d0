r"""condgan-train: train the text-conditioned GAN on a prepared dataset.

Usage:
  condgan-train --data_dir=DATA --model_dir=RUN [--config=CONFIG.json] \
      [--data_* ...] [--model_* ...] [--objective_* ...] [--train_* ...] [--set=KEY=VALUE ...]

Every scalar field of `condgan.config` is a flag named after its group:
data.data_dir is --data_dir, model.cond_dim is --model_cond_dim, model.model_dim
is --model_dim, train.steps is --train_steps, objective.adversarial is
--objective_adversarial. The objective's term weights and parameters are set
with --set, e.g. --set=objective.g.z_diversity=0. Precedence: defaults <
--config JSON (with the files it "extends") < flags < --set. model.sample_rate and model.text_dim
come from the dataset and the text encoder; model.length defaults to the
dataset's clip length.

Re-running with the same --model_dir resumes from its newest valid checkpoint
(same step, weights, optimizers, replay buffer and random streams; the data
order is reshuffled from a seed derived from --train_seed and the step); a
corrupt newest checkpoint is skipped with a message and the one before it is
used; a different model config there is refused. Learning rates given now
replace the checkpoint's.

SIGTERM (a scheduler's preemption) saves a checkpoint at the next step
boundary and exits 0; Ctrl-C does the same and exits 130; a second signal
exits at once. A non-finite loss stops the run with status 1 and keeps the
checkpoints that end at the last finite step (--train_skip_nonfinite undoes
and counts such steps instead).
"""

from __future__ import annotations

import dataclasses
import signal
import sys

from absl import app, flags

from condgan import _cli as cli
from condgan.config import SECTIONS, Config, ConfigError, help_text, load_dict, set_value
from condgan.training import preemption, run  # (run.py does not import TensorFlow)
from condgan.training.run import DEFAULT_TEXT_ENCODER


def flag_name(section: str, field: str) -> str:
    return field if field.startswith(section + "_") else f"{section}_{field}"


def _scalar_fields(cls):
    """The fields of a config section that get a flag of their own (objects go by --set)."""
    return [f for f in dataclasses.fields(cls) if not isinstance(getattr(cls(), f.name), dict)]


def define_config_flags() -> None:
    """One flag per scalar config field (help from the field), default None (= not given)."""
    for section, cls in SECTIONS.items():
        for f in _scalar_fields(cls):
            name, text = flag_name(section, f.name), help_text(cls, f.name)
            if section == "data" and f.name == "text_encoder":
                text += f" Default: $CONDGAN_TEXT_ENCODER or {DEFAULT_TEXT_ENCODER}."
            default = getattr(cls(), f.name)
            if isinstance(default, bool):
                flags.DEFINE_boolean(name, None, text)
            elif isinstance(default, int):
                flags.DEFINE_integer(name, None, text)
            elif isinstance(default, float):
                flags.DEFINE_float(name, None, text)
            else:
                flags.DEFINE_string(name, None, text)
    flags.DEFINE_multi_string(
        "set", [], "section.key[.sub]=value, applied last (value parsed as JSON, else a string), "
        "e.g. --set=objective.g.z_diversity=0 or --set=objective.params.contrastive.temperature="
        "0.2. The objective's term weights are set this way.")


def config_from_flags(flag_values, base: Config | None = None) -> Config:
    """Overlays the flags that were given, then --set, onto `base` (or the defaults) and
    validates."""
    d = (base or Config()).to_dict()
    for section, cls in SECTIONS.items():
        for f in _scalar_fields(cls):
            value = flag_values[flag_name(section, f.name)].value
            if value is not None:
                d[section][f.name] = value
    for assignment in flag_values["set"].value or []:
        set_value(d, assignment)
    return Config.from_dict(d)



FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("config", None, "JSON config file (sections data, model, objective, "
                        "train; \"extends\" names files it builds on, e.g. experiments/configs/"
                        "recipes/*.json); flags given on the command line override it.")
    flags.DEFINE_string("model_dir", None, "Run directory: config, checkpoints, summaries. "
                        "An existing run there is resumed.")
    define_config_flags()


# The process's stop request when run as a console script: installed before
# absl parses the flags and before TensorFlow is imported.
_process_stop: preemption.StopRequest | None = None


def main(argv):
    if _process_stop is not None:
        return _main(argv, _process_stop)
    with preemption.stop_on_signals() as stop:
        return _main(argv, stop)


def _main(argv, stop: preemption.StopRequest):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    try:
        base = Config.load(FLAGS.config) if FLAGS.config else None
        config = config_from_flags(FLAGS, base)
        length_given = FLAGS["model_length"].present or _config_sets_length(FLAGS.config)
    except ConfigError as e:
        raise app.UsageError(str(e)) from e
    if not config.data.data_dir:
        raise app.UsageError("--data_dir is required (a directory made by condgan-prepare)")
    if not config.data.text_encoder:
        config.data.text_encoder = DEFAULT_TEXT_ENCODER
    try:
        out = run.train_from_config(config, FLAGS.model_dir, length_given=length_given, stop=stop)
    except run.UserError as e:
        print(f"condgan-train: error: {e}", file=sys.stderr)
        return 1
    except FloatingPointError as e:
        print(f"condgan-train: error: {e}", file=sys.stderr)
        return 1
    except preemption.Stopped as e:
        return _stopped_before_training(e)
    except KeyboardInterrupt as e:
        print(f"condgan-train: interrupted ({e or 'KeyboardInterrupt'})", file=sys.stderr)
        return 130
    if "stopped" in out:
        print(f"stopped at step {out['step']} by {preemption.signal_name(out['stopped'])}; "
              f"run directory: {FLAGS.model_dir} (re-run the same command to resume)")
        return _stop_status(out["stopped"])
    print(f"trained to step {out['step']}; run directory: {FLAGS.model_dir}")
    return 0


def _stopped_before_training(e: preemption.Stopped) -> int:
    print(f"condgan-train: {e} before training began; nothing new to save", file=sys.stderr)
    return _stop_status(e.signum)


def _stop_status(signum: int) -> int:
    """0 after SIGTERM (a preemption is not a failure), 128 + N after another signal."""
    return 0 if signum == signal.SIGTERM else 128 + signum


def _config_sets_length(path: str | None) -> bool:
    """Whether a --config file names model.length (else the length follows the data)."""
    if not path:
        return False
    return "length" in load_dict(path).get("model", {})


def console_entry_point():
    global _process_stop
    with preemption.stop_on_signals() as _process_stop:
        try:
            cli.run(main, define_flags, __name__, __doc__)
        except Exception as e:
            # A signal between the handler's install and training (flag definition and
            # parsing) is a stop before training too, not a traceback (CI hit this once),
            # whatever the code it landed in made of the Stopped (see `preemption`).
            signum = preemption.stop_signum(e, _process_stop)
            if signum is None:
                raise
            sys.exit(_stopped_before_training(preemption.Stopped(signum)))
        except preemption.Stopped as e:
            sys.exit(_stopped_before_training(e))


if __name__ == "__main__":
    console_entry_point()
