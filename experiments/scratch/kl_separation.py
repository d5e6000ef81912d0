"""What CondAugment's KL term charges for captions kept s noise radii apart (issue 19, item 3).

  python -m experiments.scratch.kl_separation [--cond_dim=128] [--kl_weight=2] [--groups=2]

CondAugment's KL term, per clip, is kl_weight * mean over the d dimensions of
-log sigma + 0.5 * (sigma**2 + mean**2 - 1). The separation probe
(experiments.scratch.cond_separation) measures the distance between two groups' means
in noise radii, sigma * sqrt(d). For `groups` groups on a regular simplex whose
closest pair is s radii apart, with one sigma for all (the cheapest layout: the KL is
symmetric in the dimensions), the smallest KL the layer can pay is found here by
scipy's bounded minimisation over sigma, next to the closed form
kl_weight * -log(sigma*) with sigma*^2 = 1 / (1 + r^2), r = the distance of a group's
mean from the origin in radii. Prints a table of s against that cost.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import minimize_scalar


def centre_radius(separation: float, groups: int) -> float:
    """Distance from a regular simplex's centre to a vertex, in the units of its edge."""
    return separation * np.sqrt((groups - 1) / (2.0 * groups))


def kl_cost(sigma: float, r: float, cond_dim: int, kl_weight: float) -> float:
    """kl_weight * mean over dims of the KL of N(mean, sigma^2) from N(0, 1), with
    |mean| = r radii = r * sigma * sqrt(cond_dim) spread over the dims."""
    mean_sq_per_dim = (r * sigma) ** 2  # |mean|^2 / d
    return kl_weight * (-np.log(sigma) + 0.5 * (sigma ** 2 + mean_sq_per_dim - 1.0))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cond_dim", type=int, default=128)
    p.add_argument("--kl_weight", type=float, default=2.0)
    p.add_argument("--groups", type=int, default=2)
    args = p.parse_args(argv)
    print(f"cond_dim {args.cond_dim}, KL weight {args.kl_weight}, {args.groups} groups")
    print("separation (radii) | sigma* | KL per clip (numeric) | closed form")
    for s in (0.2, 0.6, 1.0, 2.0, 3.0, 4.0):
        r = centre_radius(s, args.groups)
        res = minimize_scalar(lambda x, r=r: kl_cost(x, r, args.cond_dim, args.kl_weight),
                              bounds=(1e-4, 2.0), method="bounded")
        closed = args.kl_weight * -np.log(1.0 / np.sqrt(1.0 + r * r))
        print(f"{s:>4} | {res.x:.3f} | {res.fun:.3f} | {closed:.3f}")


if __name__ == "__main__":
    main()
