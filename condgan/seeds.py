"""Seeds: one check of a seed argument, and one way to derive independent seeds from one.

`seed + k` is not a safe derivation: a run with seed 0 would give its
discriminator seed 1, the same seed another run (seed 1) gives its
conditioner, and their streams would coincide. `derive_seed` hashes
(seed, *path) with numpy's SeedSequence instead, so neighbouring seeds and
neighbouring paths give unrelated streams.
"""

from __future__ import annotations

import numpy as np


def check_seed(owner: str, seed) -> None:
    """Raises ValueError unless `seed` is an int (not a bool) or None; `owner` names the caller."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{owner}: seed must be an int or None, got {seed!r}")


def derive_seed(seed: int, *path: int) -> int:
    """A non-negative int seed (< 2**31) for the stream named by `path` under `seed`.

    Args:
      seed: the parent seed (any int; negative ones are taken modulo 2**64).
      *path: ints naming the child stream, e.g. (1,) for a model's discriminator.

    Returns:
      int in [0, 2**31), a deterministic function of (seed, *path) (for non-negative
      seeds the same as the discriminator's per-layer seeds always were).
    """
    entropy = [int(x) % 2**64 for x in (seed, *path)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
