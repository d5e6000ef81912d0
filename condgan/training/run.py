"""Glue from a Config to a finished run: dataset, embeddings, GAN, loop.

Used by `condgan-train`, the demo and the experiments; keeps the CLIs thin.
Importing this module does not import TensorFlow (so `condgan-train` can
install its SIGTERM handler first; tests/test_cli_glue.py checks it): the
modules that load TensorFlow are imported inside the functions that use them,
each such import marked `noqa: PLC0415` with that reason.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from condgan import fileio
from condgan.config import SUPPORTED_LENGTHS, Config, ConfigError
from condgan.training import preemption

if TYPE_CHECKING:
    from condgan import records

EMBEDDINGS_NAME = "caption_embeddings.npz"
# Where condgan-train and the demo look for the local text encoder by default.
DEFAULT_TEXT_ENCODER = os.environ.get(
    "CONDGAN_TEXT_ENCODER", os.path.join(os.path.expanduser("~"), ".cache", "condgan", "use_m3"))


class UserError(RuntimeError):
    """Bad input the user can fix (message says how); the CLIs print it without a trace."""


def load_text_encoder(handle: str):
    """`condgan.text.TextEncoder(handle)`; an unusable encoder raises UserError."""
    from condgan.text import TextEncoder  # noqa: PLC0415 - loads TensorFlow (module docstring)

    try:
        return TextEncoder(handle)
    except (OSError, ValueError, RuntimeError) as e:
        raise UserError(str(e)) from e


def cached_caption_embeddings(config: Config, card: records.DatasetCard,
                              model_dir: str) -> dict[str, np.ndarray]:
    """`condgan.data.caption_embeddings`, cached in model_dir.

    The cache is keyed by the encoder handle; a resumed run reuses it, so the
    encoder need not run again (and a changed encoder is noticed).
    """
    from condgan import data  # noqa: PLC0415 - loads TensorFlow (module docstring)

    path = os.path.join(model_dir, EMBEDDINGS_NAME)
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as z:
            captions, matrix, handle = list(z["captions"]), z["embeddings"], str(z["text_encoder"])
        if handle == config.data.text_encoder and set(card.captions) <= set(captions):
            return dict(zip(captions, matrix))
    encoder = load_text_encoder(config.data.text_encoder)
    embeddings = data.caption_embeddings(card, encoder.embed)  # checks a finite [N, E] result
    with fileio.atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, captions=np.array(list(embeddings)),
                 embeddings=np.stack(list(embeddings.values())),
                 text_encoder=np.array(config.data.text_encoder))
    return embeddings


def resolve(config: Config, card: records.DatasetCard, text_dim: int,
            length_given: bool = True) -> Config:
    """Fills the fields the dataset and encoder decide (sample rate, text dim, length, and the
    number of classes of the critic's class head).

    Args:
      length_given: False when model.length is only the default; it then becomes the
        largest supported length that fits the dataset's clips.

    Raises:
      ConfigError: model.length is longer than the dataset's clips (the model would
        train mostly on zero padding) or not supported.
    """
    config.model.sample_rate = int(card.sample_rate)
    config.model.text_dim = int(text_dim)
    if config.model.class_head:
        if not card.classes:
            raise ConfigError(f"model.class_head needs class labels, and the dataset in "
                              f"{config.data.data_dir} has none (a folder or manifest of distinct "
                              "captions): turn it off (--model_class_head=false) for this data")
        config.model.num_classes = len(card.classes)
    if not length_given:
        fitting = [n for n in SUPPORTED_LENGTHS if n <= card.length]
        if not fitting:
            raise ConfigError(f"the dataset's clips have {card.length} samples, shorter than every "
                              f"supported model length {SUPPORTED_LENGTHS}; prepare it with a "
                              "longer --length")
        config.model.length = fitting[-1]
    if config.model.length > card.length:
        raise ConfigError(f"model.length={config.model.length} is longer than the dataset's clips "
                          f"({card.length} samples at {card.sample_rate} Hz): the model would learn "
                          "zero padding; use --model_length <= "
                          f"{card.length} or prepare the data with --length={config.model.length}")
    return config.validate()


def data_seed(seed: int, start_step: int) -> int:
    """The seed of the training data order of a run (re)started at `start_step`.

    A fresh run uses `seed` itself. A resumed run cannot continue the old
    shuffle (tf.data iterators are not checkpointed), so it reshuffles: its seed
    is a hash of (seed, start_step), which differs for every resume point and
    does not coincide with another seed's fresh run (`seed + start_step` made
    seed 0 resumed at step 1 replay seed 1's data order).
    """
    if start_step == 0:
        return int(seed)
    from condgan.seeds import derive_seed  # noqa: PLC0415 - loads TensorFlow (module docstring)

    return derive_seed(seed, start_step)


def train_from_config(config: Config, model_dir: str, log=None, stop_after: int | None = None,
                      max_seconds: float | None = None, length_given: bool = True,
                      stop: preemption.StopRequest | None = None) -> dict:
    """Prepares everything a run needs and trains (resuming if model_dir holds a run).

    `length_given=False` lets model.length follow the dataset (see `resolve`).

    SIGTERM and SIGINT stop the run with a checkpoint (see `condgan.training.
    preemption`): pass `stop` to have handlers the caller installed earlier
    used (condgan-train installs them before TensorFlow is imported); without
    it, handlers are installed here for the duration of the call (main thread
    only). A signal during set-up, before any step, raises
    `preemption.Stopped` (nothing to save); a later one ends the run normally
    with "stopped" in the result.

    Raises:
      UserError: the dataset, encoder, config or checkpoint is unusable (message says why).
      preemption.Stopped: a signal arrived before training began.
    """
    if stop is None:
        with preemption.stop_on_signals() as stop:
            return train_from_config(config, model_dir, log, stop_after, max_seconds,
                                     length_given, stop)
    # A signal during set-up may reach us as another error (TensorFlow's tracing or a
    # UserError below can wrap the handler's Stopped): re-raised as the Stopped it is.
    with preemption.stops_recognised(stop):
        return _train_from_config(config, model_dir, log, stop_after, max_seconds,
                                  length_given, stop)


def _train_from_config(config: Config, model_dir: str, log, stop_after: int | None,
                       max_seconds: float | None, length_given: bool,
                       stop: preemption.StopRequest) -> dict:
    import keras  # noqa: PLC0415 - loads TensorFlow (module docstring)
    import tensorflow as tf  # noqa: PLC0415 - loads TensorFlow (module docstring)

    from condgan import data, distribute, records  # noqa: PLC0415 - loads TensorFlow (module docstring)
    from condgan.objective.registry import active_terms  # noqa: PLC0415 - loads TensorFlow (module docstring)
    from condgan.seeds import derive_seed  # noqa: PLC0415 - loads TensorFlow (module docstring)
    from condgan.training import loop  # noqa: PLC0415 - loads TensorFlow (module docstring)
    from condgan.training.trainer import Trainer, build_gan  # noqa: PLC0415 - loads TensorFlow (module docstring)

    try:
        # First: a multi-worker strategy must exist before TensorFlow runs an op.
        strategy = distribute.make_strategy(config.train.strategy)
    except distribute.StrategyError as e:
        raise UserError(str(e)) from e
    try:
        active_terms(config.objective, config.model)  # the loss's terms, before any data is read
        card = records.load_card(config.data.data_dir)
        os.makedirs(model_dir, exist_ok=True)
        embeddings = cached_caption_embeddings(config, card, model_dir)
        text_dim = len(next(iter(embeddings.values())))
        config = resolve(config, card, text_dim, length_given)
        loop.check_compatible(model_dir, config)
    except (records.DatasetError, ConfigError, OSError, ValueError) as e:
        raise UserError(str(e)) from e
    keras.utils.set_random_seed(config.train.seed)
    gan = build_gan(config, strategy)
    trainer = Trainer(gan, strategy, skip_nonfinite=config.train.skip_nonfinite)
    try:
        trainer.check_batch_size(config.train.batch_size)
    except ValueError as e:
        raise UserError(str(e)) from e

    def make_iterator(start_step: int):
        ds = data.make_dataset(config.data.data_dir, "train", config.train.batch_size, embeddings,
                               length=config.model.length, shuffle_buffer=config.data.shuffle_buffer,
                               seed=data_seed(config.train.seed, start_step))
        return _DataErrors(iter(trainer.distribute(ds)), config.data.data_dir)

    summary_ds = data.make_dataset(config.data.data_dir, "train", 16, embeddings,
                                   length=config.model.length, shuffle_buffer=256,
                                   seed=derive_seed(config.train.seed, 12345), repeat=False)
    audio, text, captions, _ = next(_DataErrors(iter(summary_ds), config.data.data_dir))
    summary_batch = (audio.numpy(), text.numpy(), captions.numpy())
    kwargs = {"log": log} if log else {}
    try:
        return loop.train(trainer, make_iterator, config, model_dir, config.model.sample_rate,
                          summary_batch=summary_batch, stop_after=stop_after,
                          max_seconds=max_seconds, stop=stop, **kwargs)
    except (loop.CheckpointError, ConfigError) as e:
        raise UserError(str(e)) from e
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
            tf.errors.DeadlineExceededError) as e:
        if not distribute.is_multi_worker(strategy):
            raise
        first = str(e.message).strip().splitlines()[0] if str(e.message).strip() else type(e).__name__
        raise UserError(f"another worker of the cluster stopped or cannot be reached ({first}); "
                        f"the newest checkpoint is in {model_dir}; start every worker again "
                        "to resume from it") from e


class _DataErrors:
    """Wraps a dataset iterator: a TensorFlow error while reading (a corrupt or missing
    shard) becomes a UserError naming the dataset instead of a traceback."""

    def __init__(self, iterator, data_dir: str):
        self.iterator, self.data_dir = iterator, data_dir

    def __iter__(self):
        return self

    def __next__(self):
        import tensorflow as tf  # noqa: PLC0415 - loads TensorFlow (module docstring)

        try:
            return next(self.iterator)
        except (tf.errors.DataLossError, tf.errors.NotFoundError,
                tf.errors.InvalidArgumentError) as e:
            first = str(e.message).strip().splitlines()[0] if str(e.message).strip() else type(e).__name__
            raise UserError(f"cannot read the training data in {self.data_dir}: {first} "
                            "(prepare it again with condgan-prepare)") from e
