"""One objective: a registry of named loss terms, and the one place that sums them.

A term is a function of one update's tensors (a `Step`) and its hyper-parameters,
registered for a player ("d" or "g") under a name:

    @register("g", "z_diversity", params={"cap": 1.0}, reports=("z_spread",))
    def z_diversity_term(step, cap):
        ...
        return loss   # a float32 scalar to minimise

`ObjectiveConfig` (condgan.config) gives each term a weight; `Objective` checks
the names and parameters once, and `Objective.losses(player, step)` returns
every active term's value and their weighted sum, in the order the config writes
them. Adding a term is a module that registers it (condgan/objective/*.py are all
imported by the package) and its test; nothing else changes (docs/design.md has
a worked example).

`Step` holds what the update computed, and computes what it can on first use
(e.g. a second generated batch, which only the terms that compare two z need),
so a term that is off costs nothing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import keras
import tensorflow as tf

from condgan.config import PLAYERS, ConfigError, ModelConfig, ObjectiveConfig


@dataclasses.dataclass(frozen=True)
class Term:
    """A registered loss term.

    Attributes:
      player: "d" (the critic's loss) or "g" (the generator's and conditioner's).
      name: the term's name in `ObjectiveConfig.d` / `.g`.
      fn: fn(step, [layer,] **params) -> float32 scalar to minimise.
      params: the hyper-parameters and their defaults (numbers).
      reports: names of extra scalars the term records with `Step.report`.
      needs: what the term reads of the critic, as the model-config fields that must be on:
        "contrastive_dim" (the contrastive heads), "class_head" (the K+1 class head).
      layer: optional factory model_config -> keras layer the term trains with its
        player (passed to fn as `layer`).
      prefetch: step attributes to compute before the player's forward pass (e.g. the
        critic's view of the real clips in the G step, read before the G step's critic
        call advances the critic's spectral-norm state).
      inputs: what the term reads of the batch besides the clips and their embeddings:
        "groups" (each clip's condition group, `step.groups`; `CondGAN.gan_step` computes
        them only when an active term reads them).
    """

    player: str
    name: str
    fn: Callable[..., tf.Tensor]
    params: Mapping[str, float]
    reports: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    layer: Callable[[ModelConfig], keras.layers.Layer] | None = None
    prefetch: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()


TERMS: dict[tuple[str, str], Term] = {}
# What a term's `needs` names, for the refusal's message.
_NEEDS = {"contrastive_dim": "contrastive heads: set model.contrastive_dim (e.g. 128)",
          "class_head": "class head: set model.class_head=true (a labelled dataset)"}


def register(player: str, name: str, params: Mapping[str, float] | None = None,
             reports: tuple[str, ...] = (), needs: tuple[str, ...] = (),
             layer: Callable[[ModelConfig], keras.layers.Layer] | None = None,
             prefetch: tuple[str, ...] = (), inputs: tuple[str, ...] = ()):
    """Decorator: registers fn as the term `name` of `player` (arguments: `Term`)."""
    if player not in PLAYERS:
        raise ValueError(f"register: player must be one of {PLAYERS}, got {player!r}")

    def wrap(fn):
        if (player, name) in TERMS:
            raise ValueError(f"register: the {player} term {name!r} is registered twice")
        TERMS[(player, name)] = Term(player, name, fn, dict(params or {}), tuple(reports),
                                     tuple(needs), layer, tuple(prefetch), tuple(inputs))
        return fn

    return wrap


def names(player: str) -> list[str]:
    """The registered term names of a player."""
    return sorted(name for p, name in TERMS if p == player)


class Step:
    """The tensors of one D or G update, for the terms to read by attribute.

    Args:
      player: "d" or "g".
      adversarial: the adversarial loss kind (`ObjectiveConfig.adversarial`).
      values: tensors the update has computed.
      lazy: name -> function computing a tensor on first use (then kept).
    """

    def __init__(self, player: str, adversarial: str, values: Mapping[str, Any] | None = None,
                 lazy: Mapping[str, Callable[[], Any]] | None = None):
        self.player, self.adversarial = player, adversarial
        self._values = dict(values or {})
        self._lazy = dict(lazy or {})
        self.reported: dict[str, tf.Tensor] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            if name not in self._lazy:
                raise AttributeError(f"the {self.player} step has no {name!r}; it has "
                                     f"{sorted(set(self._values) | set(self._lazy))}")
            self._values[name] = self._lazy[name]()
        return self._values[name]

    def update(self, **values) -> None:
        """Adds tensors the update has computed since the step was made."""
        self._values.update(values)

    def report(self, name: str, value) -> None:
        """Records an extra scalar (declared in the term's `reports`) for the metrics."""
        self.reported[name] = value


@dataclasses.dataclass(frozen=True)
class _Active:
    term: Term
    weight: float
    params: dict[str, float]


class Objective:
    """The active terms of each player with their weights and hyper-parameters.

    Args:
      config: the objective config.
      model_config: the model config (terms that read the critic's contrastive heads
        need model.contrastive_dim > 0; term layers are built from it).

    Raises:
      condgan.config.ConfigError: a term or parameter name is unknown, a parameter is
        not a finite number, or a term needs heads the critic does not have.
    """

    def __init__(self, config: ObjectiveConfig, model_config: ModelConfig):
        self.config = config
        self.adversarial = config.adversarial
        self.active = active_terms(config, model_config)
        self.layers = {f"{a.term.player}_{a.term.name}": a.term.layer(model_config)
                       for player in PLAYERS for a in self.active[player] if a.term.layer}

    def prefetch(self, player: str, step: Step) -> None:
        """Computes what the active terms of `player` must read before its forward pass."""
        for a in self.active[player]:
            for name in a.term.prefetch:
                getattr(step, name)

    def reads(self, name: str) -> bool:
        """Whether an active term of either player reads `name` of the batch (`Term.inputs`)."""
        return any(name in a.term.inputs for player in PLAYERS for a in self.active[player])

    def metric_names(self, player: str) -> list[str]:
        """The names `losses` returns for `player`: its total, each term, each report."""
        out = [f"{player}_total"] + [f"{player}_{a.term.name}" for a in self.active[player]]
        return out + [r for a in self.active[player] for r in a.term.reports]

    def losses(self, player: str, step: Step) -> dict[str, tf.Tensor]:
        """Every active term of `player` on `step`, and "<player>_total": sum(weight * term).

        Returns:
          dict of float32 scalars named as `metric_names(player)`.
        """
        values, total = {}, None
        for a in self.active[player]:
            kwargs = dict(a.params)
            if a.term.layer is not None:
                kwargs["layer"] = self.layers[f"{player}_{a.term.name}"]
            value = a.term.fn(step, **kwargs)
            values[f"{player}_{a.term.name}"] = value
            total = a.weight * value if total is None else total + a.weight * value
        values[f"{player}_total"] = tf.constant(0.0) if total is None else total
        for a in self.active[player]:
            for name in a.term.reports:
                values[name] = step.reported.get(name, tf.constant(0.0))
        return values


def active_terms(config: ObjectiveConfig, model_config: ModelConfig) -> dict[str, list[_Active]]:
    """The terms each player trains on, checked: names, parameters and what they read.

    Builds nothing, so a CLI can check a config before it reads any data.

    Raises:
      condgan.config.ConfigError: as `Objective`.
    """
    active: dict[str, list[_Active]] = {}
    for player in PLAYERS:
        active[player] = []
        for name, weight in config.weights(player).items():
            term = TERMS.get((player, name))
            if term is None:
                raise ConfigError(f"objective.{player}.{name} is not a term of the "
                                  f"{'critic' if player == 'd' else 'generator'}; known: "
                                  f"{names(player)}")
            for field in term.needs:
                if not getattr(model_config, field):
                    raise ConfigError(f"objective.{player}.{name} reads the critic's "
                                      f"{_NEEDS[field]}")
            active[player].append(_Active(term, weight, _params(config, term)))
    for name in config.params:
        if not any(n == name for _, n in TERMS):
            raise ConfigError(f"objective.params.{name}: no term is named {name!r}; known: "
                              f"{sorted({n for _, n in TERMS})}")
    for a in active["d"] + active["g"]:
        check = getattr(a.term.fn, "check", None)
        if check is not None:
            check(config.adversarial, **a.params)
    return active


def _params(config: ObjectiveConfig, term: Term) -> dict[str, float]:
    """The term's parameters: its defaults, overridden by objective.params.<name> (which
    holds the parameters of every term of that name, e.g. d and g "adversarial")."""
    given = config.params.get(term.name, {})
    known = {key for (_, name), t in TERMS.items() if name == term.name for key in t.params}
    unknown = set(given) - known
    if unknown:
        raise ConfigError(f"objective.params.{term.name}: unknown {sorted(unknown)}; the "
                          f"{term.name!r} terms take {sorted(known) or 'none'}")
    out = {}
    for key, default in term.params.items():
        value = given.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"objective.params.{term.name}.{key} must be a finite number, "
                              f"got {value!r}")
        out[key] = float(value)
    return out
