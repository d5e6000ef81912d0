"""Configuration as data: dataclasses for data, model and training, to/from JSON.

The resolved ("operative") config is written into every run directory and is
what export and evaluation rebuild the model from, so every field here must be
JSON-serialisable and validated with a clear message.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

# Output lengths the WaveGAN generator supports: 16 * 4**k and 16 * 4**k * 2 for
# k >= 2 (tests use the small ones; 8192 is 1 s at 8 kHz), up to WaveGAN v2's 65536.
SUPPORTED_LENGTHS = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
LOSSES = ("wgan_gp", "hinge", "non_saturating")
# Network families (condgan.models): WaveGAN's raw-waveform convolutions, or the
# spectral ones (log-magnitude + IF generator, 2-D convolutions over a log-|STFT| critic);
# "spectral2d" is the spectral generator built of 2-D convolutions over (frames, bins).
GENERATORS = ("wavegan", "spectral", "spectral2d")
DISCRIMINATORS = ("wavegan", "spectral")
# How the discriminator reads the caption: WaveGAN-style concatenation after its
# last layer, or a projection term <V t, phi(x)> (Miyato & Koyama 2018).
D_CONDITIONINGS = ("concat", "projection")
# How caption embeddings are scaled before the first layer that reads them.
TEXT_NORMS = ("none", "rms")
REPLAY_MEMORIES = ("ring", "reservoir")
# What FiLM reads (model.film_input): the caption's c, or [z, c] (z modulates every layer too).
FILM_INPUTS = ("c", "zc")
# How the spectral generators put their waveform into [-1, 1] (model.output_squash).
SQUASHES = ("tanh", "soft_clip")
# tf.distribute strategies (condgan.distribute): one device, local devices, several workers.
STRATEGIES = ("default", "mirrored", "multi_worker")
# model.precision (condgan.precision, which holds the same tuple).
PRECISIONS = ("float32", "mixed_bfloat16", "auto")
# Refused by TrainConfig.validate and CondGAN.compile alike.
MISMATCH_WGAN_GP_ERROR = (
    "mismatch_weight > 0 is not supported with the wgan_gp loss: the gradient penalty bounds "
    "the critic's slope in the audio only, so its gap between right and wrong captions is "
    "unbounded; use hinge or non_saturating")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or impossible."""


@dataclasses.dataclass
class DataConfig:
    """Where the prepared dataset is and how clips are fed to the GAN.

    Attributes:
      data_dir: a directory written by `condgan-prepare` (holds dataset.json).
      text_encoder: local SavedModel path or TF-Hub handle of the text encoder.
      shuffle_buffer: examples in the tf.data shuffle buffer.
    """

    data_dir: str = ""
    text_encoder: str = ""
    shuffle_buffer: int = 4096

    def validate(self) -> None:
        if self.shuffle_buffer < 1:
            raise ConfigError(f"data.shuffle_buffer must be >= 1, got {self.shuffle_buffer}")


@dataclasses.dataclass
class ModelConfig:
    """Generator and discriminator shape, and the anti-collapse switches.

    The four switches of the method are `cond_augment`, `text_dropout`
    (> 0 enables dropout on the text projection of G and D), `cond_dim` (128
    in the method, 256 in the collapsing baseline) and `replay`.
    """

    length: int = 16384
    sample_rate: int = 16000
    text_dim: int = 512
    latent_dim: int = 100
    model_dim: int = 64
    kernel_len: int = 25
    phase_shuffle: int = 2
    # Conditioning.
    cond_dim: int = 128
    cond_augment: bool = True
    kl_weight: float = 2.0
    text_dropout: float = 0.5
    # Embedding replay.
    replay: bool = True
    replay_capacity: int = 2048
    replay_prob: float = 0.5
    replay_fraction: float = 0.25
    replay_memory: str = "ring"
    # The base the seed techniques sit on (defaults: the first base, WaveGAN's).
    generator: str = "wavegan"
    discriminator: str = "wavegan"
    d_conditioning: str = "concat"
    spectral_norm: bool = False
    film: bool = False
    film_input: str = "c"
    text_norm: str = "none"
    stft_frame: int = 256
    stft_hop: int = 64
    # Sinusoidal partials the spectral generators add to their frames (condgan.partials):
    # K frame-rate frequency and amplitude controls rendered as oscillators; 0 = none.
    partials: int = 0
    # > 0: the spectral generator shifts each frame in frequency by up to this many octaves,
    # one shift per frame from a head of its own (condgan.pitch_warp); 0 = off.
    pitch_warp: float = 0.0
    # How the spectral generators put their waveform into [-1, 1] (condgan.squash): tanh,
    # or soft_clip (the identity up to 0.9; tanh bends every real clip's peaks).
    output_squash: str = "tanh"
    # Width of the discriminator's contrastive heads; 0 = no heads.
    contrastive_dim: int = 0
    # Compute precision of G and D (condgan.precision): float32, mixed_bfloat16 or auto.
    precision: str = "float32"
    # > 0: generation uses exponential moving averages of the conditioner's and generator's
    # weights with this decay (condgan.ema); 0 generates from the trained weights.
    ema_decay: float = 0.0

    def validate(self) -> None:
        if self.length not in SUPPORTED_LENGTHS:
            raise ConfigError(
                f"model.length={self.length} is not supported; choose one of {SUPPORTED_LENGTHS}")
        for name in ("sample_rate", "text_dim", "latent_dim", "model_dim", "kernel_len", "cond_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.phase_shuffle < 0:
            raise ConfigError(f"model.phase_shuffle must be >= 0, got {self.phase_shuffle}")
        if self.kl_weight < 0:
            raise ConfigError(f"model.kl_weight must be >= 0, got {self.kl_weight}")
        if not 0.0 <= self.text_dropout < 1.0:
            raise ConfigError(f"model.text_dropout must be in [0, 1), got {self.text_dropout}")
        for name, allowed in (("generator", GENERATORS), ("discriminator", DISCRIMINATORS),
                              ("d_conditioning", D_CONDITIONINGS), ("text_norm", TEXT_NORMS),
                              ("replay_memory", REPLAY_MEMORIES), ("precision", PRECISIONS),
                              ("film_input", FILM_INPUTS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"model.{name}={getattr(self, name)!r} is unknown; choose one of {allowed}")
        if self.film_input != "c" and not self.film:
            raise ConfigError(f"model.film_input={self.film_input!r} needs model.film=true")
        for name in ("stft_frame", "stft_hop"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        spectral = self.generator != "wavegan" or self.discriminator == "spectral"
        if spectral and (self.stft_frame % self.stft_hop or self.stft_frame > self.length):
            raise ConfigError(f"model.stft_frame ({self.stft_frame}) must be a multiple of "
                              f"model.stft_hop ({self.stft_hop}) and <= model.length ({self.length})")
        if self.generator == "spectral2d" and (self.stft_frame // 2) % 16:
            raise ConfigError(
                "the spectral2d generator upsamples its bins four times by 2: model.stft_frame "
                f"/ 2 must be a multiple of 16, got {self.stft_frame}")
        if self.generator != "wavegan" and (self.length // self.stft_hop
                                             + self.stft_frame // self.stft_hop) % 4:
            raise ConfigError(
                "the spectral generator upsamples its frames twice by 2: length / stft_hop + "
                f"stft_frame / stft_hop must be a multiple of 4, got {self.length} / "
                f"{self.stft_hop} + {self.stft_frame} / {self.stft_hop}")
        if self.contrastive_dim < 0:
            raise ConfigError(f"model.contrastive_dim must be >= 0, got {self.contrastive_dim}")
        if self.partials < 0:
            raise ConfigError(f"model.partials must be >= 0, got {self.partials}")
        if self.partials and self.generator == "wavegan":
            raise ConfigError("model.partials needs a spectral generator (model.generator="
                              "spectral or spectral2d), got model.generator=wavegan")
        if self.output_squash not in SQUASHES:
            raise ConfigError(f"model.output_squash={self.output_squash!r} is unknown; choose "
                              f"one of {SQUASHES}")
        if self.output_squash != "tanh" and self.generator == "wavegan":
            raise ConfigError("model.output_squash applies to the spectral generators (the "
                              "WaveGAN generator's last layer is its tanh), got "
                              "model.generator=wavegan")
        if not (self.pitch_warp >= 0 and math.isfinite(self.pitch_warp)):
            raise ConfigError(f"model.pitch_warp must be >= 0 and finite (octaves; 0 = off), "
                              f"got {self.pitch_warp}")
        if self.pitch_warp and self.generator != "spectral":
            raise ConfigError("model.pitch_warp needs the frames generator (model.generator="
                              f"spectral), got model.generator={self.generator}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if self.replay:
            if self.replay_capacity < 1:
                raise ConfigError(f"model.replay_capacity must be >= 1, got {self.replay_capacity}")
            if not 0.0 <= self.replay_prob <= 1.0:
                raise ConfigError(f"model.replay_prob must be in [0, 1], got {self.replay_prob}")
            if not 0.0 < self.replay_fraction <= 1.0:
                raise ConfigError(
                    f"model.replay_fraction must be in (0, 1], got {self.replay_fraction}")


@dataclasses.dataclass
class TrainConfig:
    """Optimisation. Defaults follow WaveGAN (WGAN-GP, 5 critic steps, Adam 1e-4, 0.5, 0.9)."""

    loss: str = "wgan_gp"
    gp_weight: float = 10.0
    n_critic: int = 5
    batch_size: int = 64
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.9
    mode_seeking_weight: float = 0.0
    mismatch_weight: float = 0.0
    # Cross-modal contrastive term (condgan.contrastive); needs model.contrastive_dim > 0.
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.1
    # G's contrastive term is weighted contrastive_weight x g_contrastive_scale (D's is not):
    # 1 = as D's, 0 = D only (issue 8: the G-side term trades z-diversity for accuracy).
    g_contrastive_scale: float = 1.0
    # Capped spectral z-diversity term (condgan.z_diversity): G is rewarded for different
    # log-spectrograms from two z of one c, up to z_diversity_cap; weight 0 disables.
    z_diversity_weight: float = 0.0
    z_diversity_cap: float = 1.0
    # InfoNCE of the conditioner's sampled c (through a linear head) against D's audio vectors
    # of the real clips, in the G loss (condgan.gan): c must identify its caption's sound
    # through CondAugment's noise. Needs model.contrastive_dim > 0; 0 disables.
    cond_contrastive_weight: float = 0.0
    # D's contrastive term also takes the generated clips' audio vectors as negatives of
    # every caption (condgan.contrastive), so G cannot meet its own term with features
    # D's heads never saw on fakes. Needs contrastive_weight > 0.
    contrastive_fake_negatives: bool = False
    steps: int = 1000
    seed: int = 0
    checkpoint_every: int = 200
    summary_every: int = 50
    keep_checkpoints: int = 3
    # Undo (and count) a step whose losses or weights are not finite instead of stopping.
    skip_nonfinite: bool = False
    # tf.distribute strategy, one of STRATEGIES (batch_size stays the global batch).
    strategy: str = "default"

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"train.loss={self.loss!r} is unknown; choose one of {LOSSES}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"train.strategy (--train_strategy) = {self.strategy!r} is unknown; "
                              f"choose one of {', '.join(STRATEGIES)}")
        for name in ("n_critic", "batch_size", "checkpoint_every", "summary_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 0:
            raise ConfigError(f"train.steps must be >= 0, got {self.steps}")
        if not self.contrastive_temperature > 0:
            raise ConfigError("train.contrastive_temperature must be > 0, got "
                              f"{self.contrastive_temperature}")
        for name in ("gp_weight", "mode_seeking_weight", "contrastive_weight",
                     "g_contrastive_scale", "z_diversity_weight", "cond_contrastive_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not self.z_diversity_cap > 0:
            raise ConfigError(f"train.z_diversity_cap must be > 0, got {self.z_diversity_cap}")
        if not 0.0 <= self.mismatch_weight < 1.0:
            raise ConfigError(f"train.mismatch_weight must be in [0, 1), got {self.mismatch_weight}")
        if self.mismatch_weight > 0 and self.loss == "wgan_gp":
            raise ConfigError(f"train.{MISMATCH_WGAN_GP_ERROR}")
        for name in ("g_learning_rate", "d_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"train.{name} must be > 0, got {getattr(self, name)}")
        if self.contrastive_fake_negatives and not self.contrastive_weight > 0:
            raise ConfigError("train.contrastive_fake_negatives needs the contrastive term: set "
                              "train.contrastive_weight > 0")


@dataclasses.dataclass
class Config:
    """The whole operative config of a run."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def validate(self) -> Config:
        self.data.validate()
        self.model.validate()
        self.train.validate()
        for name in ("contrastive_weight", "cond_contrastive_weight"):
            if getattr(self.train, name) > 0 and self.model.contrastive_dim < 1:
                raise ConfigError(f"train.{name} > 0 needs the discriminator's contrastive "
                                  "heads: set model.contrastive_dim (e.g. 128)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
        unknown = set(d) - {"data", "model", "train"}
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}; expected data, model, train")
        return cls(
            data=_section(DataConfig, d.get("data", {}), "data"),
            model=_section(ModelConfig, d.get("model", {}), "model"),
            train=_section(TrainConfig, d.get("train", {}), "train"),
        ).validate()

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> Config:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{source} is not valid JSON: {e}") from e
        return cls.from_dict(d)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Config:
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
        return cls.from_json(text, source=path)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the JSON atomically (`condgan.fileio.atomic_write_text`)."""
        from condgan import fileio  # pylint: disable=g-import-not-at-top

        fileio.atomic_write_text(path, self.to_json() + "\n")


def _section(cls, values: Any, name: str):
    if not isinstance(values, dict):
        raise ConfigError(f"config section {name!r} must be an object, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"unknown field(s) in {name}: {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{name}.{key} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}.{key} must be an integer, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}.{key} must be a number, got {value!r}")
            value = float(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{name}.{key} must be a string, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)
