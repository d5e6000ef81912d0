r"""condgan-train: train the text-conditioned GAN on a prepared dataset.

Usage:
  condgan-train --data_dir=DATA --model_dir=RUN [--config=CONFIG.json] \
      [--data_* ...] [--model_* ...] [--train_* ...]

Every field of `condgan.config` is a flag named after its group: data.data_dir
is --data_dir, model.cond_dim is --model_cond_dim, model.model_dim is
--model_dim, train.steps is --train_steps. Precedence: defaults < --config
JSON < flags given on the command line. model.sample_rate and model.text_dim
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
import sys

from absl import app, flags

from condgan import _cli as cli
from condgan.config import SUPPORTED_LENGTHS, Config, ConfigError, DataConfig, ModelConfig, TrainConfig
from condgan.training import preemption
from condgan.training.run import DEFAULT_TEXT_ENCODER  # (run.py does not import TensorFlow)

HELP = {
    "data.data_dir": "Prepared dataset directory (made by condgan-prepare).",
    "data.text_encoder": "Text encoder SavedModel path or TF-Hub handle "
                         f"(default $CONDGAN_TEXT_ENCODER or {DEFAULT_TEXT_ENCODER}; "
                         "build it with condgan-build-text-encoder).",
    "data.shuffle_buffer": "Examples in the shuffle buffer.",
    "model.length": "Generated clip length in samples, one of "
                    + ", ".join(str(n) for n in SUPPORTED_LENGTHS)
                    + "; default: the dataset's clip length.",
    "model.sample_rate": "Ignored: taken from the dataset.",
    "model.text_dim": "Ignored: taken from the text encoder.",
    "model.latent_dim": "Size of z.",
    "model.model_dim": "WaveGAN width d (64 in the paper; 8-16 trains in minutes on a CPU).",
    "model.kernel_len": "Convolution kernel length (WaveGAN: 25).",
    "model.phase_shuffle": "Discriminator phase shuffle radius (0 disables).",
    "model.cond_dim": "Size of the conditioning vector c (method: 128; collapsing baseline: 256).",
    "model.cond_augment": "Conditioning augmentation (CondAugment) on or off.",
    "model.kl_weight": "Weight of CondAugment's KL term.",
    "model.text_dropout": "Dropout rate on the text projection of G and D (0 disables).",
    "model.replay": "Embedding replay on or off.",
    "model.replay_capacity": "Pairs kept in the replay buffer.",
    "model.replay_prob": "Probability that a step replays stored pairs.",
    "model.replay_fraction": "Share of the batch replaced when a step replays.",
    "model.replay_memory": "ring (the last replay_capacity pairs) or reservoir (a uniform "
                           "sample of every pair seen, so the memory spans the run).",
    "model.generator": "wavegan (transposed 1-D convolutions over the waveform), spectral "
                       "(log-magnitude + instantaneous-frequency frames, inverse STFT) or "
                       "spectral2d (the same frames drawn by 2-D convolutions over "
                       "time and frequency).",
    "model.discriminator": "wavegan (strided 1-D convolutions over the waveform) or spectral "
                           "(2-D convolutions over the clip's log-|STFT|).",
    "model.d_conditioning": "How D reads the caption: concat (after its last layer) or "
                            "projection (<V t, phi(x)>, Miyato & Koyama 2018).",
    "model.spectral_norm": "Spectral normalisation of every discriminator layer.",
    "model.film": "FiLM: c scales and shifts the channels of every generator layer.",
    "model.film_input": "What FiLM reads: c, or zc ([z, c]: z modulates every layer too).",
    "model.text_norm": "none, or rms: caption embeddings scaled to unit RMS before the first "
                       "layer (USE's unit-norm 512-d vectors are 22.6x smaller than z).",
    "model.stft_frame": "STFT frame of the spectral generator / discriminator (samples).",
    "model.stft_hop": "STFT hop of the spectral generator / discriminator (samples).",
    "model.contrastive_dim": "Width of D's audio and caption heads for the contrastive "
                             "term; 0 = none.",
    "model.precision": "float32, mixed_bfloat16 (G and D compute in bf16) or auto (bf16 "
                       "where the CPU or GPU runs it natively); see condgan.precision.",
    "model.pitch_warp": "Largest per-frame pitch shift (octaves) of the spectral generator's "
                        "frames, from a head of its own (condgan.pitch_warp); 0 disables.",
    "model.output_squash": "How the spectral generators put their waveform into [-1, 1]: tanh, "
                           "or soft_clip (the identity up to 0.9; condgan.squash).",
    "model.partials": "Sinusoidal partials (oscillators with frame-rate frequency and "
                      "amplitude) the spectral generators add to their frames; 0 = none "
                      "(condgan.partials).",
    "model.ema_decay": "Generate from exponential moving averages of G's (and its "
                       "conditioner's) weights with this decay, e.g. 0.999; 0 = the trained "
                       "weights (condgan.ema).",
    "train.loss": "wgan_gp, hinge or non_saturating.",
    "train.gp_weight": "Gradient penalty weight (wgan_gp).",
    "train.n_critic": "Discriminator updates per generator update.",
    "train.batch_size": "Global batch size.",
    "train.g_learning_rate": "Adam learning rate of conditioner + generator.",
    "train.d_learning_rate": "Adam learning rate of the discriminator.",
    "train.beta_1": "Adam beta_1.",
    "train.beta_2": "Adam beta_2.",
    "train.mode_seeking_weight": "Weight of the mode-seeking (MSGAN) regulariser; 0 disables.",
    "train.mismatch_weight": "Share in [0, 1) of D's negative term for real clips paired with "
                             "another clip's caption (matching-aware D, StackGAN: 0.5); 0 disables.",
    "train.contrastive_weight": "Weight of the cross-modal contrastive (InfoNCE) term in D "
                                "(real pairs) and G (its pairs); 0 disables.",
    "train.contrastive_temperature": "Temperature of the contrastive term.",
    "train.g_contrastive_scale": "G's contrastive weight = train.contrastive_weight x this "
                                 "(1: as D's; 0: the term in D only).",
    "train.z_diversity_weight": "Weight of the capped spectral z-diversity term (G rewarded for "
                                "different log-spectrograms from two z of one c); 0 disables.",
    "train.cond_contrastive_weight": "Weight of the InfoNCE of the conditioner's sampled c "
                                     "against D's audio vectors of the real clips, in G's loss "
                                     "(needs model.contrastive_dim); 0 disables.",
    "train.contrastive_fake_negatives": "D's contrastive term also takes the generated clips' "
                                        "audio vectors as negatives of every caption (needs "
                                        "train.contrastive_weight > 0).",
    "train.z_diversity_cap": "Log-spectrogram distance above which the z-diversity term stops "
                             "rewarding.",
    "train.steps": "Total generator steps of the run (a resumed run continues to this).",
    "train.seed": "Seed of weights, z, noise and data order.",
    "train.checkpoint_every": "Save a checkpoint every N steps.",
    "train.summary_every": "Write scalars and print progress every N steps.",
    "train.keep_checkpoints": "Checkpoints to keep.",
    "train.skip_nonfinite": "Undo a step whose losses or weights are not finite, count it and go "
                            "on (default: stop the run; its checkpoints end at the last finite "
                            "step).",
    "train.strategy": "default (one device), mirrored (every local GPU, else the CPU) or "
                      "multi_worker (the cluster in $TF_CONFIG; run the same command on every "
                      "worker). The batch size stays global.",
}
SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def flag_name(section: str, field: str) -> str:
    return field if field.startswith(section + "_") else f"{section}_{field}"


def define_config_flags() -> None:
    """One flag per config field, default None (= not given on the command line)."""
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            name, help_text = flag_name(section, f.name), HELP[f"{section}.{f.name}"]
            default = getattr(cls(), f.name)
            if isinstance(default, bool):
                flags.DEFINE_boolean(name, None, help_text)
            elif isinstance(default, int):
                flags.DEFINE_integer(name, None, help_text)
            elif isinstance(default, float):
                flags.DEFINE_float(name, None, help_text)
            else:
                flags.DEFINE_string(name, None, help_text)


def config_from_flags(flag_values, base: Config | None = None) -> Config:
    """Overlays the flags that were given onto `base` (or the defaults) and validates."""
    d = (base or Config()).to_dict()
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            value = flag_values[flag_name(section, f.name)].value
            if value is not None:
                d[section][f.name] = value
    return Config.from_dict(d)



FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this CLI's flags (at entry, so importing the module defines none)."""
    flags.DEFINE_string("config", None, "JSON config file (sections data, model, train); "
                        "flags given on the command line override it.")
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
        from condgan.training import run

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
    import signal

    return 0 if signum == signal.SIGTERM else 128 + signum


def _config_sets_length(path: str | None) -> bool:
    """Whether a --config file names model.length (else the length follows the data)."""
    if not path:
        return False
    import json

    with open(path, encoding="utf-8") as f:
        return "length" in json.load(f).get("model", {})


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
