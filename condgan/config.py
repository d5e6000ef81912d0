"""Configuration as data: dataclasses for data, model, objective and training, to/from JSON.

The resolved ("operative") config is written into every run directory and is
what export and evaluation rebuild the model from, so every field here must be
JSON-serialisable. A config is validated once, where it is read
(`Config.from_dict`, `Config.load`); the builders trust it.

The defaults are the recipe README recommends (`experiments/configs/recipes/
recommended.json` holds the same values as a file). Config files may name others
to start from with "extends" (a path or a list of paths, relative to the file):
those are read first and the file's own values are merged over them, key by key,
so that a recipe is its base plus a few values and an ablation arm is a recipe
plus a few values.

Importing this module does not import TensorFlow (the CLIs read configs before).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from typing import Any

from condgan import fileio

# Output lengths the WaveGAN generator supports: 16 * 4**k and 16 * 4**k * 2 for
# k >= 2 (tests use the small ones; 8192 is 1 s at 8 kHz), up to WaveGAN v2's 65536.
SUPPORTED_LENGTHS = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
# The adversarial losses (condgan.objective.adversarial).
LOSSES = ("wgan_gp", "hinge", "non_saturating")
# The bases (condgan.nets): WaveGAN's raw-waveform convolutions, or the spectral ones
# (log-magnitude + IF generator, 2-D convolutions over a log-|STFT| critic).
GENERATORS = ("wavegan", "spectral")
DISCRIMINATORS = ("wavegan", "spectral")
# The frequency axis of the spectral critic (model.d_frequency_scale): the STFT's linear bins,
# or mel bands of the same |STFT| (condgan.nets.spectral.LogMelSTFT).
D_FREQUENCY_SCALES = ("linear", "mel")
# The lower edge of the spectral critic's lowest mel band, in Hz (the upper edge is the Nyquist).
D_MEL_LOWER_HERTZ = 40.0
# The fewest mel bands the critic takes (its four stride-2 convolutions halve the axis 4 times).
MIN_D_MEL_BANDS = 8
# How the discriminator reads the caption: WaveGAN-style concatenation after its
# last layer, or a projection term <V t, phi(x)> (Miyato & Koyama 2018).
D_CONDITIONINGS = ("concat", "projection")
# How caption embeddings are scaled before the first layer that reads them
# (condgan.method.text_projection.normalize_text).
TEXT_NORMS = ("none", "rms")
REPLAY_MEMORIES = ("ring", "reservoir")
# What FiLM reads (model.film_input): the caption's c, or [z, c] (z modulates every layer too).
FILM_INPUTS = ("c", "zc")
# tf.distribute strategies (condgan.distribute): one device, local devices, several workers.
STRATEGIES = ("default", "mirrored", "multi_worker")
# model.precision (condgan.precision, which holds the same tuple).
PRECISIONS = ("float32", "mixed_bfloat16", "auto")
# The two players of the objective: the discriminator (critic) and the generator.
PLAYERS = ("d", "g")
# Switches measured and retired (docs/retired.md): a config that turns one on is refused
# with this pointer rather than silently trained without it.
RETIRED_TAG = "retired-ideas-2026-12"
_RETIRED = {
    ("model", "partials"): 0, ("model", "pitch_warp"): 0.0, ("model", "output_squash"): "tanh",
    ("train", "contrastive_fake_negatives"): False,
}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or impossible."""


def _field(default, help_text: str):
    """A dataclass field with its help (the CLI's flag help)."""
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default),
                                 metadata={"help": help_text})
    return dataclasses.field(default=default, metadata={"help": help_text})


def help_text(cls, name: str) -> str:
    """The help of field `name` of a config dataclass."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}[name]


@dataclasses.dataclass
class DataConfig:
    """Where the prepared dataset is and how clips are fed to the GAN."""

    data_dir: str = _field("", "Prepared dataset directory (made by condgan-prepare).")
    text_encoder: str = _field("", "Text encoder SavedModel path or TF-Hub handle (build it "
                                   "with condgan-build-text-encoder).")
    shuffle_buffer: int = _field(4096, "Examples in the shuffle buffer.")

    def validate(self) -> None:
        if self.shuffle_buffer < 1:
            raise ConfigError(f"data.shuffle_buffer must be >= 1, got {self.shuffle_buffer}")


@dataclasses.dataclass
class ModelConfig:
    """The method's four switches, and the base they sit on.

    The method (condgan.method): `cond_augment` (with `kl_weight`), `text_dropout`
    (> 0: dropout on the text layer of G and D), `cond_dim` (128 in the method, 256
    in the collapsing baseline) and `replay`. The rest is the base (condgan.nets).
    """

    # The method.
    cond_augment: bool = _field(True, "Conditioning augmentation (CondAugment) on or off.")
    kl_weight: float = _field(2.0, "Weight of CondAugment's KL term (the method: 2).")
    text_dropout: float = _field(0.5, "Dropout rate on the text layer of G and D (0 disables).")
    cond_dim: int = _field(128, "Size of the condition c (method: 128; collapsing baseline: 256).")
    replay: bool = _field(True, "Embedding replay on or off.")
    replay_capacity: int = _field(2048, "Pairs kept in the replay buffer.")
    replay_prob: float = _field(0.5, "Probability that a step replays stored pairs.")
    replay_fraction: float = _field(0.25, "Share of the batch replaced when a step replays.")
    replay_memory: str = _field("ring", "ring (the last replay_capacity pairs) or reservoir (a "
                                        "uniform sample of every pair seen: the run's memory).")
    # Shapes.
    length: int = _field(16384, "Generated clip length in samples, one of "
                         + ", ".join(str(n) for n in SUPPORTED_LENGTHS)
                         + "; condgan-train's default: the dataset's clip length.")
    sample_rate: int = _field(16000, "Taken from the dataset.")
    text_dim: int = _field(512, "Taken from the text encoder.")
    latent_dim: int = _field(100, "Size of z.")
    model_dim: int = _field(16, "Width d (WaveGAN: 64; 8-16 trains in minutes on a CPU).")
    # The base.
    generator: str = _field("spectral", "wavegan (transposed 1-D convolutions over the "
                                        "waveform) or spectral (log-magnitude + instantaneous-"
                                        "frequency frames, inverse STFT).")
    discriminator: str = _field("spectral", "wavegan (strided 1-D convolutions over the "
                                            "waveform) or spectral (2-D convolutions over the "
                                            "clip's log-|STFT|).")
    d_frequency_scale: str = _field("linear", "The spectral critic's frequency axis: linear (the "
                                              "STFT's stft_frame // 2 + 1 bins) or mel "
                                              "(d_mel_bands HTK mel bands of the same |STFT|, "
                                              "40 Hz to Nyquist; nearly logarithmic above 700 Hz, "
                                              "where a glide is a line and a pitch change a "
                                              "shift; spectral D only).")
    d_mel_bands: int = _field(64, "Mel bands of the spectral critic with d_frequency_scale=mel "
                                  f"({MIN_D_MEL_BANDS} to stft_frame // 2 + 1; issue 19: 64-80).")
    d_conditioning: str = _field("projection", "How D reads the caption: concat (after its last "
                                               "layer; wavegan D only) or projection (<V t, "
                                               "phi(x)>, Miyato & Koyama 2018).")
    spectral_norm: bool = _field(True, "Spectral normalisation of every discriminator layer.")
    film: bool = _field(True, "FiLM: c scales and shifts the channels of every G layer.")
    film_input: str = _field("zc", "What FiLM reads: c, or zc ([z, c]: z modulates every "
                                   "layer too).")
    text_norm: str = _field("rms", "none, or rms: caption embeddings scaled to unit RMS before "
                                   "the first layer (USE's unit-norm 512-d vectors are 22.6x "
                                   "smaller than z).")
    kernel_len: int = _field(25, "WaveGAN convolution kernel length.")
    phase_shuffle: int = _field(2, "WaveGAN discriminator phase shuffle radius (0 disables).")
    stft_frame: int = _field(256, "STFT frame of the spectral G and D (samples).")
    stft_hop: int = _field(64, "STFT hop of the spectral G and D (samples).")
    contrastive_dim: int = _field(128, "Width of D's audio and caption heads (the contrastive "
                                       "terms); 0 = none.")
    class_head: bool = _field(False, "A K+1 head in D: the clip's class, or 'generated' "
                                     "(objective terms d/g class_head; needs class labels).")
    num_classes: int = _field(0, "K of the class head: taken from the dataset's card by "
                                 "condgan-train when model.class_head is on.")
    precision: str = _field("float32", "float32, mixed_bfloat16 (G and D compute in bf16) or "
                                       "auto (bf16 where the CPU or GPU runs it natively).")
    ema_decay: float = _field(0.999, "Generate from exponential moving averages of G's (and its "
                                     "conditioner's) weights with this decay; 0 = the trained "
                                     "weights (condgan.ema).")

    def validate(self) -> None:
        if self.length not in SUPPORTED_LENGTHS:
            raise ConfigError(
                f"model.length={self.length} is not supported; choose one of {SUPPORTED_LENGTHS}")
        for name in ("sample_rate", "text_dim", "latent_dim", "model_dim", "kernel_len", "cond_dim",
                     "stft_frame", "stft_hop"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.phase_shuffle < 0:
            raise ConfigError(f"model.phase_shuffle must be >= 0, got {self.phase_shuffle}")
        if self.kl_weight < 0:
            raise ConfigError(f"model.kl_weight must be >= 0, got {self.kl_weight}")
        if not 0.0 <= self.text_dropout < 1.0:
            raise ConfigError(f"model.text_dropout must be in [0, 1), got {self.text_dropout}")
        if self.generator == "spectral2d":
            raise ConfigError("model.generator='spectral2d' was measured and retired "
                              f"(docs/retired.md); its code is at the git tag {RETIRED_TAG}")
        for name, allowed in (("generator", GENERATORS), ("discriminator", DISCRIMINATORS),
                              ("d_conditioning", D_CONDITIONINGS), ("text_norm", TEXT_NORMS),
                              ("replay_memory", REPLAY_MEMORIES), ("precision", PRECISIONS),
                              ("film_input", FILM_INPUTS),
                              ("d_frequency_scale", D_FREQUENCY_SCALES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"model.{name}={getattr(self, name)!r} is unknown; choose one of {allowed}")
        if self.film_input != "c" and not self.film:
            raise ConfigError(f"model.film_input={self.film_input!r} needs model.film=true")
        if self.discriminator == "spectral" and self.d_conditioning == "concat":
            raise ConfigError("the spectral discriminator reads the caption by projection: set "
                              "model.d_conditioning=projection")
        if self.d_frequency_scale == "mel":
            if self.discriminator != "spectral":
                raise ConfigError(
                    "model.d_frequency_scale='mel' is a switch of the spectral critic; the "
                    f"{self.discriminator!r} discriminator reads the waveform: set "
                    "model.discriminator=spectral or model.d_frequency_scale=linear")
            bins = self.stft_frame // 2 + 1
            if not MIN_D_MEL_BANDS <= self.d_mel_bands <= bins:
                raise ConfigError(
                    f"model.d_mel_bands must be in [{MIN_D_MEL_BANDS}, stft_frame // 2 + 1 = {bins}] "
                    f"(the STFT's bins), got {self.d_mel_bands}")
            if self.sample_rate / 2 <= D_MEL_LOWER_HERTZ:
                raise ConfigError(
                    f"model.d_frequency_scale='mel' needs a Nyquist above the lowest band's "
                    f"{D_MEL_LOWER_HERTZ:g} Hz; model.sample_rate={self.sample_rate}")
        spectral = self.generator == "spectral" or self.discriminator == "spectral"
        if spectral and (self.stft_frame % self.stft_hop or self.stft_frame > self.length):
            raise ConfigError(f"model.stft_frame ({self.stft_frame}) must be a multiple of "
                              f"model.stft_hop ({self.stft_hop}) and <= model.length ({self.length})")
        if self.generator == "spectral" and (self.length // self.stft_hop
                                             + self.stft_frame // self.stft_hop) % 4:
            raise ConfigError(
                "the spectral generator upsamples its frames twice by 2: length / stft_hop + "
                f"stft_frame / stft_hop must be a multiple of 4, got {self.length} / "
                f"{self.stft_hop} + {self.stft_frame} / {self.stft_hop}")
        if self.num_classes < 0:
            raise ConfigError(f"model.num_classes must be >= 0, got {self.num_classes}")
        if self.contrastive_dim < 0:
            raise ConfigError(f"model.contrastive_dim must be >= 0, got {self.contrastive_dim}")
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
class ObjectiveConfig:
    """The loss: named terms with weights, per player (condgan.objective).

    `d` and `g` map a term's name to its weight; a term of weight 0 is off and not
    computed. A config that gives `d`, `g` or `params` is merged onto the defaults
    key by key, so set a default term to 0 to turn it off. Each player's loss is
    sum(weight * term), summed in the order written. `params` maps a term's name to its
    hyper-parameters (e.g. {"contrastive": {"temperature": 0.1}}); what is not given takes
    the term's default.
    Which names exist is the registry's (`condgan.objective.registry.TERMS`).
    """

    adversarial: str = _field("hinge", "The adversarial loss: " + ", ".join(LOSSES) + ".")
    d: dict = _field({"adversarial": 1.0, "contrastive": 1.0},
                     "Weights of the discriminator's terms, by name.")
    g: dict = _field({"adversarial": 1.0, "kl": 1.0, "contrastive": 0.5, "z_diversity": 2.0,
                      "cond_contrastive": 1.0},
                     "Weights of the generator's terms, by name.")
    params: dict = _field({}, "Hyper-parameters of the terms, by term name.")

    def validate(self) -> None:
        if self.adversarial not in LOSSES:
            raise ConfigError(f"objective.adversarial={self.adversarial!r} is unknown; choose one "
                              f"of {LOSSES}")
        for player in PLAYERS:
            for name, weight in getattr(self, player).items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                        or not math.isfinite(weight) or weight < 0:
                    raise ConfigError(f"objective.{player}.{name} must be a finite weight >= 0, "
                                      f"got {weight!r}")
        for name, values in self.params.items():
            if not isinstance(values, dict):
                raise ConfigError(f"objective.params.{name} must be an object of the term's "
                                  f"hyper-parameters, got {values!r}")

    def weights(self, player: str) -> dict[str, float]:
        """The terms of `player` that are on, in the order written: name -> weight."""
        return {name: float(w) for name, w in getattr(self, player).items() if w > 0}


@dataclasses.dataclass
class TrainConfig:
    """Optimisation schedule (the loss itself is `ObjectiveConfig`)."""

    n_critic: int = _field(1, "Discriminator updates per generator update (WaveGAN: 5).")
    batch_size: int = _field(32, "Global batch size.")
    g_learning_rate: float = _field(2e-4, "Adam learning rate of conditioner + generator.")
    d_learning_rate: float = _field(2e-4, "Adam learning rate of the discriminator.")
    beta_1: float = _field(0.5, "Adam beta_1.")
    beta_2: float = _field(0.9, "Adam beta_2.")
    steps: int = _field(6000, "Total generator steps of the run (a resumed run continues to this).")
    seed: int = _field(0, "Seed of weights, z, noise and data order.")
    checkpoint_every: int = _field(500, "Save a checkpoint every N steps.")
    summary_every: int = _field(100, "Write scalars and print progress every N steps.")
    keep_checkpoints: int = _field(3, "Checkpoints to keep.")
    skip_nonfinite: bool = _field(False, "Undo a step whose losses or weights are not finite, "
                                         "count it and go on (default: stop the run; its "
                                         "checkpoints end at the last finite step).")
    strategy: str = _field("default", "default (one device), mirrored (every local GPU, else the "
                                      "CPU) or multi_worker (the cluster in $TF_CONFIG; run the "
                                      "same command on every worker). The batch size stays "
                                      "global.")

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"train.strategy (--train_strategy) = {self.strategy!r} is unknown; "
                              f"choose one of {', '.join(STRATEGIES)}")
        for name in ("n_critic", "batch_size", "checkpoint_every", "summary_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 0:
            raise ConfigError(f"train.steps must be >= 0, got {self.steps}")
        for name in ("g_learning_rate", "d_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"train.{name} must be > 0, got {getattr(self, name)}")


SECTIONS = {"data": DataConfig, "model": ModelConfig, "objective": ObjectiveConfig,
            "train": TrainConfig}


@dataclasses.dataclass
class Config:
    """The whole operative config of a run."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    objective: ObjectiveConfig = dataclasses.field(default_factory=ObjectiveConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def validate(self) -> Config:
        for section in SECTIONS:
            getattr(self, section).validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Reads and validates a config dict (one written before the objective section
        existed is upgraded first: `upgrade`)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
        d = upgrade(d)
        unknown = set(d) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}; expected "
                              f"{', '.join(SECTIONS)}")
        return cls(**{name: _section(section, d.get(name, {}), name)
                      for name, section in SECTIONS.items()}).validate()

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> Config:
        return cls.from_dict(_parse(text, source))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Config:
        """Reads a config file, with the files it "extends" merged under it."""
        return cls.from_dict(load_dict(path))

    def save(self, path: str | os.PathLike) -> None:
        """Writes the JSON atomically (`condgan.fileio.atomic_write_text`)."""
        fileio.atomic_write_text(path, self.to_json() + "\n")


def merge(base: dict, over: dict) -> dict:
    """`over` merged onto a copy of `base`, key by key (objects merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_dict(path: str | os.PathLike, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config file as a dict, with its "extends" files (relative to it) merged under it.

    A top-level "description" (text for the reader) is dropped.

    Raises:
      ConfigError: a file cannot be read, is not a JSON object, or extends itself.
    """
    path = os.path.abspath(os.fspath(path))
    if path in _seen:
        raise ConfigError(f"config {path} extends itself (through {' -> '.join(_seen)})")
    try:
        with open(path, encoding="utf-8") as f:
            d = _parse(f.read(), path)
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
    if not isinstance(d, dict):
        raise ConfigError(f"config {path} must be a JSON object, got {type(d).__name__}")
    d.pop("description", None)  # a note for readers of the file
    parents = d.pop("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: \"extends\" must be a path or a list of paths, got {parent!r}")
        merged = merge(merged, load_dict(os.path.join(os.path.dirname(path), parent),
                                         _seen + (path,)))
    return merge(merged, d)


def set_value(d: dict, assignment: str) -> dict:
    """Applies "section.key[.sub]=value" to a config dict (value parsed as JSON, else a string).

    Raises:
      ConfigError: the assignment has no "=" or no section.
    """
    key, sep, raw = assignment.partition("=")
    path = key.strip().split(".")
    if not sep or len(path) < 2 or not all(path):
        raise ConfigError(f"--set {assignment!r}: expected section.key=value, e.g. "
                          "objective.g.z_diversity=2")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    node = d
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: {part} is not an object")
    node[path[-1]] = value
    return d


def upgrade(d: dict[str, Any]) -> dict[str, Any]:
    """A config dict of the layout before the objective section (losses and weights in
    "train") in today's layout; other dicts are returned unchanged.

    The old weights map to terms: train.loss -> objective.adversarial, gp_weight (wgan_gp
    only) -> d.gradient_penalty, contrastive_weight -> d.contrastive and, times
    g_contrastive_scale, g.contrastive; mode_seeking_weight, z_diversity_weight and
    cond_contrastive_weight -> g terms of those names; mismatch_weight, the temperature
    and the cap -> params. Retired switches left at their "off" value are dropped;
    one that is on is refused (docs/retired.md).
    """
    train = d.get("train", {})
    legacy = set(train) & set(TrainConfigV1.FIELDS) if isinstance(train, dict) else set()
    if not legacy:
        return d
    if "objective" in d:
        raise ConfigError(f"train.{sorted(legacy)[0]} belongs to the layout before the objective "
                          "section; set the objective's terms instead (e.g. "
                          "objective.g.contrastive, objective.params.contrastive.temperature; "
                          "docs/design.md)")
    d = copy.deepcopy(d)
    model, train = d.setdefault("model", {}), d["train"]
    for (section, name), off in _RETIRED.items():
        if name in d.get(section, {}):
            value = d[section].pop(name)
            if value != off:
                raise ConfigError(f"{section}.{name}={value!r} was measured and retired "
                                  f"(docs/retired.md); its code is at the git tag {RETIRED_TAG}")
    if model.get("generator") == "spectral2d":
        raise ConfigError("model.generator='spectral2d' was measured and retired "
                          f"(docs/retired.md); its code is at the git tag {RETIRED_TAG}")
    old = TrainConfigV1(**{k: train.pop(k) for k in list(train) if k in TrainConfigV1.FIELDS})
    d["objective"] = old.objective()
    # The old defaults of the fields the new TrainConfig keeps (they changed with the recipe).
    for name, value in TrainConfigV1.SCHEDULE_DEFAULTS.items():
        train.setdefault(name, value)
    for name, value in _MODEL_V1_DEFAULTS.items():
        model.setdefault(name, value)
    return d


# ModelConfig defaults before they became the recommended recipe (read by `upgrade`).
_MODEL_V1_DEFAULTS = {
    "model_dim": 64, "generator": "wavegan", "discriminator": "wavegan", "d_conditioning": "concat",
    "spectral_norm": False, "film": False, "film_input": "c", "text_norm": "none",
    "contrastive_dim": 0, "ema_decay": 0.0}


class TrainConfigV1:
    """The loss fields of the old TrainConfig, with their old defaults (read by `upgrade`)."""

    FIELDS = {"loss": "wgan_gp", "gp_weight": 10.0, "mode_seeking_weight": 0.0,
              "mismatch_weight": 0.0, "contrastive_weight": 0.0, "contrastive_temperature": 0.1,
              "g_contrastive_scale": 1.0, "z_diversity_weight": 0.0, "z_diversity_cap": 1.0,
              "cond_contrastive_weight": 0.0}
    SCHEDULE_DEFAULTS = {"n_critic": 5, "batch_size": 64, "g_learning_rate": 1e-4,
                         "d_learning_rate": 1e-4, "steps": 1000, "checkpoint_every": 200,
                         "summary_every": 50}

    def __init__(self, **values):
        self.v = {**self.FIELDS, **values}

    def objective(self) -> dict[str, Any]:
        v = self.v
        d_terms = {"adversarial": 1.0}
        if v["loss"] == "wgan_gp":
            d_terms["gradient_penalty"] = float(v["gp_weight"])
        d_terms["contrastive"] = float(v["contrastive_weight"])
        g_terms = {"adversarial": 1.0, "kl": 1.0,
                   "mode_seeking": float(v["mode_seeking_weight"]),
                   "contrastive": float(v["contrastive_weight"]) * float(v["g_contrastive_scale"]),
                   "z_diversity": float(v["z_diversity_weight"]),
                   "cond_contrastive": float(v["cond_contrastive_weight"])}
        params = {"contrastive": {"temperature": float(v["contrastive_temperature"])},
                  "cond_contrastive": {"temperature": float(v["contrastive_temperature"])},
                  "z_diversity": {"cap": float(v["z_diversity_cap"])}}
        if v["mismatch_weight"]:
            params["adversarial"] = {"mismatch_share": float(v["mismatch_weight"])}
        return {"adversarial": v["loss"], "d": d_terms, "g": g_terms, "params": params}


def _parse(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source} is not valid JSON: {e}") from e


def _section(cls, values: Any, name: str):
    if not isinstance(values, dict):
        raise ConfigError(f"config section {name!r} must be an object, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    for key in sorted(unknown):
        if (name, key) in _RETIRED:
            raise ConfigError(f"{name}.{key} was measured and retired (docs/retired.md); its code "
                              f"is at the git tag {RETIRED_TAG}")
    if unknown:
        raise ConfigError(f"unknown field(s) in {name}: {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    defaults = cls()
    for key, value in values.items():
        default = getattr(defaults, key)
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
        elif isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{name}.{key} must be an object, got {value!r}")
            value = merge(default, value)  # absent keys keep their defaults (0 turns a term off)
        kwargs[key] = value
    return cls(**kwargs)
