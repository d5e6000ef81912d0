"""Scores a generator with every metric of docs/metrics.md, beside the real data's own values.

`evaluate(generate, data_dir, classifier)` draws captions uniformly over the
dataset's classes (a caption's class comes from the training split's
(caption, label) pairs), generates `num_clips` clips and, per class,
`captions_per_class` captions x `z_per_caption` latent vectors for
z-diversity; scores them with the dataset's scoring classifier; and computes
each metric for the generated audio and for a real reference:

  metric                 generated                      real reference
  conditional_accuracy   gen. clips classified as       classifier accuracy on the
                         their caption's class          real test split
  inception_score        N generated clips, 10 splits   real test split, 10 splits
  modified_inception_    N generated clips, all pairs   real test split, all pairs
    score                (the SC09 convention)
  modified_inception_    pairs of one caption class     pairs of one class
    score_within_class
  am_score               N generated clips vs the       real test split vs the
                         training split's marginal      training split's marginal
  frechet_distance       generated vs real test         real train (N clips) vs real test
  intra_frechet_         per class: generated vs real   per class: real train (as many as
    distance             test, mean over classes        generated) vs real test, mean
  d_self                 n generated clips              n real test clips, n = min(N, test)
  d_train                generated -> real train        real test -> real train
  z_diversity_caption    K clips of K z per caption /   K real clips of the caption's group
                         real clips (train + test) of   (at most half) / the rest of the
                         the caption's condition group  group
  z_diversity            K clips of K z per caption /   K real test clips of the class /
                         real test clips of its class   all real test clips of the class
  ndb_over_k             generated vs train bins        real test vs train bins

A caption's condition group (`condgan.records`) holds the clips the caption
could describe: on FSDD the digit and the speaker facts it names, which is one
or two of the six speakers, so the class's spread overstates what one caption
should vary by. `z_diversity_caption` is the headline diversity figure;
`z_diversity` (class-level) is kept beside it and comparable with older
reports. docs/metrics.md defines every metric.

Sample sizes are matched where the statistic depends on them (FD, intra-FD,
d_self; mIS, AM and mean pairwise distances are unbiased in the sample size),
so "ratio" = generated / real compares like with like: about 1 means "like
the data" for every metric (lower FD / NDB / d_train / AM ratios are better
until they fall to the level of the data; d_self and z-diversity far below 1
are collapse).

`write_report(results, out_dir)` (`condgan.evaluation.report`, re-exported
here) writes results.json, results.md (a table generated | real reference |
ratio) and two spectrogram grids: the generated
z-diversity clips (rows captions, columns z) and real test clips (rows
classes, columns clips).
"""

from __future__ import annotations

import collections
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from condgan import records
from condgan.data import load_split_arrays
from condgan.evaluation import metrics
from condgan.evaluation.report import (  # noqa: F401 (re-exported)
    GENERATED_GRID,
    METRIC_ORDER,
    REAL_GRID,
    RESULTS_JSON,
    RESULTS_MD,
    markdown_report,
    results_for_json,
    write_report,
)
from condgan.evaluation.trained_classifier import Classifier, check_labelled, check_split_labels

# generate(captions list[str], seed int) -> (float32[N, L] audio, sample_rate int).
GenerateFn = Callable[[Sequence[str], int], tuple[Any, int]]

NDB_BINS = 50
IS_SPLITS = 10
# Rows and columns of the spectrogram grids: readable PNGs of a few MB at most.
MAX_GRID_ROWS = 24
MAX_GRID_COLS = 8

# Independent random streams, so changing one part of the protocol (e.g. the
# number of z-diversity captions) leaves the draws of the others unchanged.
_STREAM_CAPTIONS, _STREAM_GEN_SEEDS, _STREAM_ZDIV, _STREAM_REAL = 1, 2, 3, 4
_STREAM_GROUP_SPLIT, _STREAM_INTRA_FD = 5, 6



class EvaluationError(ValueError):
    """The generator, dataset, classifier or settings cannot be evaluated together."""


def evaluate(generate: GenerateFn,
             data_dir: str | os.PathLike,
             classifier: Classifier | str | os.PathLike,
             num_clips: int = 1000,
             z_per_caption: int = 8,
             captions_per_class: int = 2,
             seed: int = 0,
             *,
             batch_size: int = 100,
             ndb_bins: int = NDB_BINS,
             model_name: str | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generates clips and computes every metric of docs/metrics.md, generated and real.

    Clip i of the main set has class i mod K (K classes; so every IS split is
    balanced) and a caption drawn uniformly from that class's training
    captions. Clips are generated `batch_size` at a time, each call with its
    own seed derived from `seed`, so the result is a function of the arguments.

    Args:
      generate: generate(captions: list[str], seed: int) -> (audio float32[N, L],
        sample_rate int), clip i of a call drawing its z from (seed, i); e.g.
        `condgan.training.inference.load_generator(path)`.
      data_dir: the prepared, labelled dataset the generator was trained on.
      classifier: a `Classifier` or the path of one trained on `data_dir`.
      num_clips: N, generated clips for accuracy, IS, FD, d_self, d_train and
        NDB; >= `ndb_bins`.
      z_per_caption: clips (latent vectors) per z-diversity caption, >= 2.
      captions_per_class: z-diversity captions drawn per class, >= 1 (fewer if
        a class has fewer captions).
      seed: seed of every draw (captions, z, real subsets, k-means).
      batch_size: captions per `generate` call, >= 1.
      ndb_bins: k-means bins of NDB, >= 2.
      model_name: how the report names the generator (e.g. its path).
      progress: receives progress lines; None is silent.

    Returns:
      A dict (JSON-serialisable except "grids") with
        "model", "dataset", "classifier", "settings";
        "metrics": {name: {"generated", "real", "ratio", "n_generated",
          "n_real", "reference"}} for the names in METRIC_ORDER ("ratio" is
          generated / real, None when real is 0 or a value is None; a value
          is None only when the dataset cannot give it, e.g. no caption's
          condition group has 2 test clips), inception_score entries also
          with "generated_std" / "real_std";
        "details": per-class accuracies and intra-FD, per-caption
          z-diversity (class-level and caption-matched, with the group), AM
          terms, NDB bins, label counts, where the condition groups came
          from, ambiguous captions, timings;
        "grids": {"generated" | "real": {"clips": float32[rows, cols, L],
          "row_labels", "col_labels"}} for `write_report`.

    Raises:
      EvaluationError: bad settings, fewer clips than NDB bins, a generator
        whose clip length / rate differs from the dataset's, generated audio of
        the wrong shape or with NaN / inf, or a class without captions or test clips.
      classifier.DatasetMismatchError: the classifier was trained on another dataset.
      classifier.UnlabelledDatasetError: the dataset has no labels.
      records.DatasetError: `data_dir` is not a usable prepared dataset.
    """
    started = time.perf_counter()
    say = progress or (lambda line: None)
    data_dir = os.fspath(data_dir)
    _check_settings(num_clips, z_per_caption, captions_per_class, seed, batch_size, ndb_bins)

    card = records.load_card(data_dir)
    check_labelled(card, data_dir)
    if not isinstance(classifier, Classifier):
        classifier = Classifier.load(classifier)
    classifier.check_dataset(card, data_dir)
    classes = list(card.classes)
    k = len(classes)

    say(f"reading {data_dir}")
    train = load_split_arrays(data_dir, "train")
    test = load_split_arrays(data_dir, "test")
    check_split_labels(train["labels"], k, data_dir, "train")
    check_split_labels(test["labels"], k, data_dir, "test")
    n_train, n_test = len(train["labels"]), len(test["labels"])
    if train["groups_stored"] < n_train or test["groups_stored"] < n_test:
        say(f"note: {data_dir} has clips without a stored condition group (prepared before "
            "groups existed); they fall back to their class, so z_diversity_caption measures "
            "against the class. Prepare the dataset again for its groups")
    if n_train < ndb_bins:
        raise EvaluationError(f"{data_dir}: the training split has {n_train} clips, fewer than "
                              f"the {ndb_bins} k-means bins of NDB")
    if n_test < IS_SPLITS:
        raise EvaluationError(f"{data_dir}: the test split has {n_test} clips; the real "
                              f"reference needs at least {IS_SPLITS} (the IS splits)")
    test_counts = np.bincount(test["labels"], minlength=k)
    few = [classes[c] for c in range(k) if test_counts[c] < 2]
    if few:
        raise EvaluationError(f"{data_dir}: class(es) {few} have fewer than 2 test clips; "
                              "z-diversity needs the spread of each class's real clips")

    by_class, ambiguous = caption_classes(train["captions"], train["labels"], k)
    empty = [classes[c] for c in range(k) if not by_class[c]]
    if empty:
        raise EvaluationError(f"{data_dir}: class(es) {empty} have no caption of their own in the "
                              "training split, so no caption can ask the generator for them")

    # The plan: captions of the main set and of the z-diversity set.
    rng = np.random.default_rng([seed, _STREAM_CAPTIONS])
    gen_labels = np.arange(num_clips, dtype=np.int64) % k
    gen_captions = [by_class[c][rng.integers(len(by_class[c]))] for c in gen_labels]
    zdiv_rows = []  # (caption, class)
    for c in range(k):
        picks = rng.choice(len(by_class[c]), size=min(captions_per_class, len(by_class[c])),
                           replace=False)
        zdiv_rows += [(by_class[c][i], c) for i in sorted(picks)]
    zdiv_captions = [caption for caption, _ in zdiv_rows for _ in range(z_per_caption)]

    runner = _Runner(generate, card, data_dir, batch_size, seed, say)
    gen_audio = runner.run(gen_captions, _STREAM_GEN_SEEDS, "generated clips")
    zdiv_audio = runner.run(zdiv_captions, _STREAM_ZDIV, "z-diversity clips")
    generate_s = runner.seconds

    say("scoring with the classifier")
    gen_feats, gen_probs = classifier.predict(gen_audio)
    zdiv_feats, _ = classifier.predict(zdiv_audio)
    train_feats, train_probs = classifier.predict(train["audio"])
    test_feats, test_probs = classifier.predict(test["audio"])
    test_labels = test["labels"]

    say("computing metrics")
    real_rng = np.random.default_rng([seed, _STREAM_REAL])
    out: dict[str, dict[str, Any]] = {}

    gen_acc = metrics.conditional_accuracy(gen_probs, gen_labels)
    real_acc = metrics.conditional_accuracy(test_probs, test_labels)
    out["conditional_accuracy"] = _entry(
        gen_acc, real_acc, num_clips, n_test,
        "classifier accuracy on the real test split")

    is_gen = metrics.inception_score(gen_probs, IS_SPLITS)
    is_real = metrics.inception_score(test_probs, IS_SPLITS)
    out["inception_score"] = _entry(is_gen[0], is_real[0], num_clips, n_test,
                                    "real test split")
    out["inception_score"].update(generated_std=is_gen[1], real_std=is_real[1])

    out["modified_inception_score"] = _entry(
        metrics.modified_inception_score(gen_probs), metrics.modified_inception_score(test_probs),
        num_clips, n_test, "real test split; all ordered pairs of distinct clips (as DiffWave's "
        "and SaShiMi's SC09 tables)")
    out["modified_inception_score_within_class"] = _entry(
        # Clip i asks for class i mod K: some class has two clips iff N > K.
        metrics.modified_inception_score(gen_probs, gen_labels) if num_clips > k else None,
        metrics.modified_inception_score(test_probs, test_labels), num_clips, n_test,
        "real test split; pairs of one class (generated: the caption's class)")

    am_gen = metrics.am_score_terms(gen_probs, train_probs)
    am_real = metrics.am_score_terms(test_probs, train_probs)
    out["am_score"] = _entry(sum(am_gen), sum(am_real), num_clips, n_test,
                             "real test split; C_train = mean prediction on the training split")

    n_fd = min(num_clips, n_train)
    train_sub = real_rng.choice(n_train, size=n_fd, replace=False)
    out["frechet_distance"] = _entry(
        metrics.frechet_distance(gen_feats, test_feats),
        metrics.frechet_distance(train_feats[train_sub], test_feats), num_clips, n_fd,
        f"{n_fd} real training clips vs the real test split")

    intra, intra_details = _intra_fd(gen_feats, gen_labels, train_feats, train["labels"],
                                     test_feats, test_labels, classes,
                                     np.random.default_rng([seed, _STREAM_INTRA_FD]))
    out["intra_frechet_distance"] = intra

    n_self = min(num_clips, n_test)
    test_sub = real_rng.choice(n_test, size=n_self, replace=False)
    # The first n clips of the main set keep its class balance.
    out["d_self"] = _entry(metrics.d_self(gen_feats[:n_self]), metrics.d_self(test_feats[test_sub]),
                           n_self, n_self, f"{n_self} real test clips (same count)")
    out["d_train"] = _entry(metrics.d_train(gen_feats, train_feats),
                            metrics.d_train(test_feats, train_feats), num_clips, n_test,
                            "real test split to the training split")

    zdiv_details = []
    gen_groups, real_groups, sub_groups = [], [], []
    for row, (caption, c) in enumerate(zdiv_rows):
        gen_c = zdiv_feats[row * z_per_caption:(row + 1) * z_per_caption]
        real_c = test_feats[test_labels == c]
        # The real reference: the same statistic for a random K real clips of the class.
        sub_c = real_c[real_rng.choice(len(real_c), size=min(z_per_caption, len(real_c)),
                                       replace=False)]
        gen_groups.append(gen_c)
        real_groups.append(real_c)
        sub_groups.append(sub_c)
        zdiv_details.append({
            "caption": caption, "class": classes[c],
            "generated": metrics.z_diversity([gen_c], [real_c]),
            "real": metrics.z_diversity([sub_c], [real_c]),
        })
    out["z_diversity_caption"] = _caption_matched_z_diversity(
        zdiv_feats, zdiv_rows, z_per_caption, caption_groups(train["captions"], train["groups"]),
        np.concatenate([train_feats, test_feats]),
        np.concatenate([train["groups"], test["groups"]]), zdiv_details,
        np.random.default_rng([seed, _STREAM_GROUP_SPLIT]))
    out["z_diversity"] = _entry(
        metrics.z_diversity(gen_groups, real_groups), metrics.z_diversity(sub_groups, real_groups),
        len(zdiv_captions), int(sum(len(s) for s in sub_groups)),
        f"{z_per_caption} random real test clips of the caption's class")

    ndb_gen = metrics.ndb(train_feats, gen_feats, k=ndb_bins, seed=seed)
    ndb_real = metrics.ndb(train_feats, test_feats, k=ndb_bins, seed=seed)
    out["ndb_over_k"] = _entry(ndb_gen["ndb_over_k"], ndb_real["ndb_over_k"], num_clips, n_test,
                               f"real test split, same {ndb_bins} bins of the training split")

    gen_pred = np.argmax(gen_probs, axis=1)
    test_pred = np.argmax(test_probs, axis=1)
    details = {
        "conditional_accuracy_per_class": {
            classes[c]: {
                "generated": _mean_or_none(gen_pred[gen_labels == c] == c),
                "real": _mean_or_none(test_pred[test_labels == c] == c),
            } for c in range(k)},
        "generated_predicted_counts": {classes[c]: int(n) for c, n in
                                       enumerate(np.bincount(gen_pred, minlength=k))},
        # Rows: the caption's class; entries: how many of its clips the classifier
        # heard as each class (zeros left out).
        "generated_confusion": _confusion(gen_labels, gen_pred, classes),
        "z_diversity_per_caption": zdiv_details,
        "intra_frechet_distance_per_class": intra_details,
        "am_score_terms": {
            name: {"kl_marginal": terms[0], "mean_entropy": terms[1]}
            for name, terms in (("generated", am_gen), ("real", am_real))},
        "condition_groups": {
            "stored": {"train": train["groups_stored"], "test": test["groups_stored"]},
            "count": len(set(train["groups"]) | set(test["groups"])),
            "source": ("records" if train["groups_stored"] == n_train
                       and test["groups_stored"] == n_test else
                       "fallback for clips without a stored group: their class (the dataset "
                       "was prepared before condition groups; prepare it again for them)"),
        },
        "ndb": {
            name: {"ndb": int(r["ndb"]), "different_bins": np.flatnonzero(r["different"]).tolist()}
            for name, r in (("generated", ndb_gen), ("real", ndb_real))},
        "ambiguous_captions": ambiguous,
        "generate_seconds": round(generate_s, 2),
        "clips_per_second": round((num_clips + len(zdiv_captions)) / max(generate_s, 1e-9), 2),
        "wall_time_s": None,
    }

    grids = {
        "generated": _generated_grid(zdiv_audio, zdiv_rows, z_per_caption, classes, k),
        "real": _real_grid(test["audio"], test_labels, classes, z_per_caption,
                           np.random.default_rng([seed, _STREAM_REAL, 1])),
    }
    details["wall_time_s"] = round(time.perf_counter() - started, 1)
    say(f"done in {details['wall_time_s']:.0f} s")
    return {
        "model": model_name,
        "dataset": {
            "data_dir": os.path.abspath(data_dir), "source": card.source, "classes": classes,
            "sample_rate": int(card.sample_rate), "length": int(card.length),
            "train_count": n_train, "test_count": n_test,
        },
        "classifier": {
            "path": classifier.path,
            "test_accuracy_at_training": classifier.report.get("test_accuracy"),
            "content_sha256": classifier.fingerprint.get("content_sha256"),
        },
        "settings": {
            "num_clips": num_clips, "z_per_caption": z_per_caption,
            "captions_per_class": captions_per_class, "seed": seed, "batch_size": batch_size,
            "ndb_bins": ndb_bins, "is_splits": IS_SPLITS,
        },
        "metrics": {name: out[name] for name in METRIC_ORDER},
        "details": details,
        "grids": grids,
    }


def caption_groups(captions: Sequence[str], groups: Sequence[str]) -> dict[str, list[str]]:
    """The condition groups each caption's clips carry.

    Args:
      captions: N captions of a split.
      groups: their clips' condition groups (`load_split_arrays(...)["groups"]`).

    Returns:
      caption -> sorted list of the groups seen with it (one, unless the
      dataset gives one caption to clips of several groups; its real reference
      is then the union of those groups).
    """
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for caption, group in zip(captions, groups):
        seen[str(caption)].add(str(group))
    return {caption: sorted(found) for caption, found in seen.items()}


def caption_classes(captions: Sequence[str], labels: np.ndarray,
                    num_classes: int) -> tuple[list[list[str]], list[str]]:
    """Groups captions by the class their clips carry.

    Args:
      captions: N captions of a split.
      labels: int[N] their clips' classes.
      num_classes: K.

    Returns:
      (by_class, ambiguous): by_class[c] is the sorted list of captions whose
      clips all have class c; ambiguous lists (sorted) the captions seen with
      more than one class, which are left out.
    """
    seen: dict[str, set[int]] = collections.defaultdict(set)
    for caption, label in zip(captions, labels):
        seen[str(caption)].add(int(label))
    by_class: list[list[str]] = [[] for _ in range(num_classes)]
    ambiguous = []
    for caption in sorted(seen):
        if len(seen[caption]) == 1:
            by_class[next(iter(seen[caption]))].append(caption)
        else:
            ambiguous.append(caption)
    return by_class, ambiguous


def _caption_matched_z_diversity(zdiv_feats: np.ndarray, zdiv_rows: list[tuple[str, int]],
                                 z_per_caption: int, groups_of: dict[str, list[str]],
                                 real_feats: np.ndarray, real_groups: np.ndarray,
                                 zdiv_details: list[dict[str, Any]],
                                 rng: np.random.Generator) -> dict[str, Any]:
    """z-diversity against the real clips (train and test) of each caption's condition group.

    Generated: mean over captions of mpd(K generated clips) / mpd(the group's
    M real clips). Real reference, the same definition on real clips only: the
    group's clips are split at random into A (min(K, M // 2) clips, playing
    the generated clips) and B (the rest, the reference), and the ratio is
    mpd(A) / mpd(B). Both splits are pooled because test groups are small
    (FSDD: 5 or 10 test clips), and a mean of ratios with a 3-clip denominator
    is biased upwards. A caption whose group has fewer than 2 distinct clips
    gets no value; fewer than 4 (so halves of 2), no real value. Adds "group",
    "group_clips", "matched_generated", "matched_real" to each caption's
    `zdiv_details` entry.
    """
    gen_parts, gen_refs, real_parts, real_refs = [], [], [], []
    skipped = []
    for row, (caption, _) in enumerate(zdiv_rows):
        groups = groups_of.get(caption, [])
        real = real_feats[np.isin(real_groups, groups)]
        detail = zdiv_details[row]
        detail.update(group=" | ".join(groups), group_clips=int(len(real)),
                      matched_generated=None, matched_real=None)
        if len(real) < 2 or metrics.mean_pairwise_distance(real) == 0.0:
            skipped.append(caption)
            continue
        gen = zdiv_feats[row * z_per_caption:(row + 1) * z_per_caption]
        gen_parts.append(gen)
        gen_refs.append(real)
        detail["matched_generated"] = metrics.z_diversity([gen], [real])
        if len(real) >= 4:
            order = rng.permutation(len(real))
            n_a = min(z_per_caption, len(real) // 2)
            half_a, half_b = real[order[:n_a]], real[order[n_a:]]
            if metrics.mean_pairwise_distance(half_b) > 0.0:
                real_parts.append(half_a)
                real_refs.append(half_b)
                detail["matched_real"] = metrics.z_diversity([half_a], [half_b])
    reference = (f"{z_per_caption} (at most half) of the real clips (train and test) of the "
                 "caption's condition group against the rest of the group")
    if skipped:
        reference += (f"; {len(skipped)} of {len(zdiv_rows)} captions left out (their group has "
                      "fewer than 2 distinct clips)")
    if len(real_parts) < len(gen_parts):
        reference += (f"; real reference over the {len(real_parts)} captions whose group has "
                      ">= 4 clips")
    return _entry(metrics.z_diversity(gen_parts, gen_refs) if gen_parts else None,
                  metrics.z_diversity(real_parts, real_refs) if real_parts else None,
                  sum(len(g) for g in gen_parts), sum(len(a) for a in real_parts), reference)


def _intra_fd(gen_feats: np.ndarray, gen_labels: np.ndarray, train_feats: np.ndarray,
              train_labels: np.ndarray, test_feats: np.ndarray, test_labels: np.ndarray,
              classes: list[str], rng: np.random.Generator
              ) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Intra-FD: per class, generated vs real test; the real reference, as many real
    training clips of the class as generated ones vs real test. Classes with fewer
    than 2 clips in any of the three sets are left out (named in the reference)."""
    k = len(classes)
    n_gen, n_train, n_test = (np.bincount(x, minlength=k)
                              for x in (gen_labels, train_labels, test_labels))
    used = [c for c in range(k) if min(n_gen[c], n_train[c], n_test[c]) >= 2]
    details: dict[str, dict[str, float]] = {}
    if not used:
        return _entry(None, None, 0, 0, "no class has 2 generated, training and test clips"), details
    sub_feats, sub_labels = [], []
    for c in used:
        idx = np.flatnonzero(train_labels == c)
        pick = rng.choice(idx, size=min(int(n_gen[c]), idx.size), replace=False)
        sub_feats.append(train_feats[pick])
        sub_labels.append(np.full(pick.size, c))
    gen_mean, gen_per = metrics.intra_frechet_distance(gen_feats, gen_labels, test_feats,
                                                       test_labels, classes=used)
    real_mean, real_per = metrics.intra_frechet_distance(
        np.concatenate(sub_feats), np.concatenate(sub_labels), test_feats, test_labels,
        classes=used)
    details = {classes[c]: {"generated": gen_per[c], "real": real_per[c]} for c in used}
    reference = ("per class: as many real training clips as generated ones vs the real test "
                 "clips; mean over classes")
    if len(used) < k:
        reference += f"; {k - len(used)} of {k} classes left out (fewer than 2 clips in a set)"
    return _entry(gen_mean, real_mean, int(sum(n_gen[c] for c in used)),
                  int(sum(len(s) for s in sub_feats)), reference), details


class _Runner:
    """Calls `generate` in batches, checks what it returns, reports progress."""

    def __init__(self, generate: GenerateFn, card: records.DatasetCard, data_dir: str,
                 batch_size: int, seed: int, say: Callable[[str], None]):
        self._generate = generate
        self._card = card
        self._data_dir = data_dir
        self._batch_size = batch_size
        self._seed = seed
        self._say = say
        self.seconds = 0.0

    def run(self, captions: list[str], stream: int, what: str) -> np.ndarray:
        out = []
        start = time.perf_counter()
        for b, i in enumerate(range(0, len(captions), self._batch_size)):
            batch = captions[i:i + self._batch_size]
            audio, rate = self._generate(batch, derive_seed(self._seed, stream, b))
            out.append(self._check(audio, rate, len(batch)))
            done = i + len(batch)
            elapsed = time.perf_counter() - start
            self._say(f"{what}: {done}/{len(captions)} ({done / max(elapsed, 1e-9):.1f} clips/s)")
        self.seconds += time.perf_counter() - start
        return np.concatenate(out)

    def _check(self, audio, rate, count: int) -> np.ndarray:
        audio = np.asarray(audio)
        if audio.ndim == 3 and audio.shape[-1] == 1:
            audio = audio[..., 0]
        length, card_rate = int(self._card.length), int(self._card.sample_rate)
        if audio.ndim != 2 or audio.shape[0] != count:
            raise EvaluationError(f"generate returned audio of shape {audio.shape} for {count} "
                                  f"captions; expected [{count}, {length}]")
        if int(rate) != card_rate or audio.shape[1] != length:
            raise EvaluationError(
                f"the generator makes {audio.shape[1]}-sample clips at {int(rate)} Hz but "
                f"{self._data_dir} holds {length}-sample clips at {card_rate} Hz; evaluate a "
                "generator on the dataset (rate and length) it was trained on")
        if audio.dtype.kind != "f" or not np.all(np.isfinite(audio)):
            raise EvaluationError("the generator returned non-finite (NaN or inf) or non-float "
                                  f"audio (dtype {audio.dtype}); its weights may have diverged")
        return audio.astype(np.float32, copy=False)


def derive_seed(seed: int, stream: int, index: int) -> int:
    """A non-negative int63 seed for call `index` of random stream `stream`."""
    state = np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def _generated_grid(audio: np.ndarray, rows: list[tuple[str, int]], z_per_caption: int,
                    classes: list[str], k: int) -> dict[str, Any]:
    """Rows: z-diversity captions (each class's first caption first if they do not all fit)."""
    order = list(range(len(rows)))
    if len(order) > MAX_GRID_ROWS:
        first = {}
        for i, (_, c) in enumerate(rows):
            first.setdefault(c, i)
        order = sorted(first.values())[:MAX_GRID_ROWS]
    cols = min(z_per_caption, MAX_GRID_COLS)
    clips = np.stack([audio[i * z_per_caption:i * z_per_caption + cols] for i in order])
    return {"clips": clips,
            "row_labels": [f"{rows[i][0]} [{classes[rows[i][1]]}]" for i in order],
            "col_labels": [f"z{j}" for j in range(cols)]}


def _real_grid(audio: np.ndarray, labels: np.ndarray, classes: list[str], z_per_caption: int,
               rng: np.random.Generator) -> dict[str, Any]:
    """Rows: classes; columns: random real test clips of the class (silence where too few)."""
    cols = min(z_per_caption, MAX_GRID_COLS)
    shown = list(range(min(len(classes), MAX_GRID_ROWS)))
    clips = np.zeros((len(shown), cols, audio.shape[1]), np.float32)
    for r, c in enumerate(shown):
        idx = np.flatnonzero(labels == c)
        pick = rng.choice(idx, size=min(cols, idx.size), replace=False)
        clips[r, :pick.size] = audio[pick]
    return {"clips": clips, "row_labels": [classes[c] for c in shown],
            "col_labels": [f"clip {j}" for j in range(cols)]}


def _entry(generated: float | None, real: float | None, n_generated: int, n_real: int,
           reference: str) -> dict[str, Any]:
    generated = None if generated is None else float(generated)
    real = None if real is None else float(real)
    return {"generated": generated, "real": real,
            "ratio": generated / real if generated is not None and real else None,
            "n_generated": int(n_generated), "n_real": int(n_real), "reference": reference}


def _confusion(labels: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict:
    """{true class: {predicted class: count}} (non-zero counts only)."""
    k = len(classes)
    table = np.zeros((k, k), np.int64)
    np.add.at(table, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return {classes[t]: {classes[p]: int(table[t, p]) for p in range(k) if table[t, p]}
            for t in range(k)}


def _mean_or_none(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if x.size else None


def _check_settings(num_clips, z_per_caption, captions_per_class, seed, batch_size,
                    ndb_bins) -> None:
    for name, value, minimum in (("num_clips", num_clips, 1), ("z_per_caption", z_per_caption, 2),
                                 ("captions_per_class", captions_per_class, 1),
                                 ("batch_size", batch_size, 1), ("ndb_bins", ndb_bins, 2),
                                 ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise EvaluationError(f"{name} must be an int >= {minimum}, got {value!r}")
    if num_clips < ndb_bins:
        raise EvaluationError(f"num_clips={num_clips} is fewer than the {ndb_bins} k-means bins "
                              f"of NDB; generate at least {ndb_bins} clips (1000 is the default)")
    if num_clips < IS_SPLITS:
        raise EvaluationError(f"num_clips={num_clips} is fewer than the {IS_SPLITS} splits of the "
                              "inception score; generate at least that many clips")
