"""Tests for condgan.seeds."""

import numpy as np
import pytest

from condgan.seeds import check_seed, derive_seed


def test_derived_seeds_do_not_collide_across_neighbouring_parents_and_paths():
    seeds = {derive_seed(s, k) for s in range(50) for k in range(4)}
    assert len(seeds) == 200  # seed + k would give only 53 distinct values
    assert all(0 <= x < 2**31 for x in seeds)
    assert derive_seed(7, 1) == derive_seed(7, 1)
    assert derive_seed(0, 1) != derive_seed(1, 0)


def test_derive_seed_matches_the_discriminators_layer_seeds():
    # condgan.models always hashed (seed, layer) this way; its streams are unchanged.
    assert derive_seed(3, 2) == int(np.random.SeedSequence([3, 2]).generate_state(1)[0] >> 1)


@pytest.mark.parametrize("bad", [True, 1.5, "3"])
def test_check_seed_refuses_non_ints(bad):
    with pytest.raises(ValueError, match="X: seed must be an int or None"):
        check_seed("X", bad)
    check_seed("X", None)
    check_seed("X", np.int64(4))
