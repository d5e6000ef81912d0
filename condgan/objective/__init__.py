"""The objective: named loss terms with weights (condgan.objective.registry).

Every module of this package registers its terms when imported; importing the
package imports them all, so `Objective` knows every term:

- `adversarial`: d/g "adversarial" (wgan_gp, hinge or non_saturating; the critic's
  optional mismatched captions), d "gradient_penalty".
- `kl`: g "kl", CondAugment's KL term.
- `mode_seeking`: g "mode_seeking" (MSGAN).
- `contrastive`: d/g "contrastive" (cross-modal InfoNCE on D's heads), g "cond_contrastive".
- `z_diversity`: g "z_diversity" (capped spectral distance of two z's clips).
- `class_head`: d/g "class_head" (the critic's K+1 class head).
- `hard_negatives`: d "hard_negatives" (real clips under the nearest caption of another group).
- `r1`: d "r1" (lazy R1 on the real clips).
"""

import importlib
import pkgutil

from condgan.objective.registry import TERMS, Objective, Step, Term, register

# Import every term module (they register themselves): a new term is one new module.
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["TERMS", "Objective", "Step", "Term", "register"]
