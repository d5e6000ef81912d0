"""Config files the tests start from (the settings of record in experiments/configs)."""

import pathlib

from condgan.config import Config
from condgan.objective import Objective

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"


def base(name: str) -> Config:
    """experiments/configs/bases/<name>.json: "wavegan" (the first base) or "spectral"."""
    return Config.load(CONFIGS / "bases" / f"{name}.json")


def compile_gan(gan, config: Config, g_optimizer, d_optimizer) -> None:
    """`gan.compile` with `config`'s objective and critic steps."""
    gan.compile(g_optimizer, d_optimizer, Objective(config.objective, config.model),
                n_critic=config.train.n_critic)
