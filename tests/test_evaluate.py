"""evaluate(): every metric with its real reference, the report files, errors, condgan-eval."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import tensorflow as tf

# The tone dataset of the classifier tests (tests/ is on sys.path under pytest).
from test_classifier import CAPTIONS, CLASSES, LENGTH, RATE, tone, write_tone_dataset
from test_metrics import _fd_reference

from condgan import records
from condgan.data import load_split_arrays
from condgan.evaluation import classifier as clf
from condgan.evaluation import evaluate as ev
from condgan.evaluation import metrics

CAPTION_CLASS = {caption: label for label, caps in CAPTIONS.items() for caption in caps}
NUM_CLIPS = 150


def fresh_generator(captions, seed):
    """A perfect generator: new, independent draws from the data's distribution."""
    clips = [tone(np.random.default_rng([seed, i]), CAPTION_CLASS[c]) for i, c in enumerate(captions)]
    return np.stack(clips), RATE


def collapsed_generator(captions, seed):
    """Ignores z (the seed): one fixed clip per caption."""
    names = sorted(CAPTION_CLASS)
    clips = [tone(np.random.default_rng(names.index(c)), CAPTION_CLASS[c]) for c in captions]
    return np.stack(clips), RATE


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data_dir = write_tone_dataset(tmp_path_factory.mktemp("tones"), per_class=(60, 40), seed=1)
    clf.train_classifier(data_dir, None, epochs=8, batch_size=16, seed=0)
    return data_dir, clf.Classifier.load(clf.default_path(data_dir))


@pytest.fixture(scope="module")
def fresh_calls(setup):
    """The perfect generator's evaluation, and every (captions, audio) it was asked for."""
    data_dir, model = setup
    calls = []

    def recording(captions, seed):
        audio, rate = fresh_generator(captions, seed)
        calls.append((list(captions), audio))
        return audio, rate

    return ev.evaluate(recording, data_dir, model, num_clips=NUM_CLIPS, seed=0), calls


@pytest.fixture(scope="module")
def fresh(fresh_calls):
    return fresh_calls[0]


@pytest.fixture(scope="module")
def collapsed(setup):
    data_dir, model = setup
    return ev.evaluate(collapsed_generator, data_dir, model, num_clips=NUM_CLIPS, seed=0)


def test_a_perfect_generator_scores_like_the_real_data(fresh):
    m = fresh["metrics"]
    assert list(m) == list(ev.METRIC_ORDER)
    assert m["conditional_accuracy"]["generated"] >= 0.9
    assert m["conditional_accuracy"]["ratio"] == pytest.approx(1.0, abs=0.1)
    assert m["inception_score"]["ratio"] == pytest.approx(1.0, abs=0.15)
    for name in ("d_self", "d_train"):
        assert m[name]["ratio"] == pytest.approx(1.0, abs=0.3), name
    # z-diversity is already relative to the real class spread; its real
    # reference (8 real clips per caption) is as noisy as the generated value.
    assert m["z_diversity"]["generated"] == pytest.approx(1.0, abs=0.3)
    assert m["z_diversity"]["real"] == pytest.approx(1.0, abs=0.3)
    assert m["ndb_over_k"]["generated"] <= 0.3
    # Datasets without stored groups fall back to the class: both z-diversities measure
    # against the class (the caption-matched one against both splits' clips).
    assert fresh["details"]["condition_groups"]["source"].startswith("fallback")
    assert all(e["group"] == e["class"] for e in fresh["details"]["z_diversity_per_caption"])
    assert m["z_diversity_caption"]["generated"] == pytest.approx(m["z_diversity"]["generated"],
                                                                  abs=0.1)
    assert m["z_diversity_caption"]["generated"] == pytest.approx(1.0, abs=0.3)
    assert m["z_diversity_caption"]["real"] == pytest.approx(1.0, abs=0.3)
    for name in ("modified_inception_score", "modified_inception_score_within_class"):
        assert m[name]["ratio"] == pytest.approx(1.0, abs=0.3), name
    # AM: a classifier that is sure of the clips of every class, in equal shares: near 0.
    assert m["am_score"]["generated"] < 0.3 and m["am_score"]["real"] < 0.3
    for name, e in m.items():
        assert e["ratio"] == pytest.approx(e["generated"] / e["real"]), name
    assert m["d_self"]["n_generated"] == m["d_self"]["n_real"] == 120  # matched sizes


def test_a_collapsed_generator_has_zero_z_diversity(fresh, collapsed):
    m, f = collapsed["metrics"], fresh["metrics"]
    assert m["z_diversity"]["generated"] == 0.0
    assert m["z_diversity_caption"]["generated"] == 0.0
    assert all(e["generated"] == e["matched_generated"] == 0.0
               for e in collapsed["details"]["z_diversity_per_caption"])
    assert m["intra_frechet_distance"]["generated"] > 3 * f["intra_frechet_distance"]["generated"]
    assert m["d_self"]["generated"] == 0.0  # six distinct clips in all
    assert m["frechet_distance"]["generated"] > 3 * f["frechet_distance"]["generated"]
    assert m["ndb_over_k"]["generated"] > f["ndb_over_k"]["generated"]
    # The real reference depends on the data and the seed only.
    for name in ev.METRIC_ORDER:
        assert m[name]["real"] == f[name]["real"], name


def test_the_real_reference_is_the_test_split(setup, fresh):
    data_dir, model = setup
    train, test = load_split_arrays(data_dir, "train"), load_split_arrays(data_dir, "test")
    test_feats, test_probs = model.predict(test["audio"])
    train_feats = model.features(train["audio"])
    m = fresh["metrics"]
    assert m["conditional_accuracy"]["real"] == np.mean(test_probs.argmax(1) == test["labels"])
    assert m["inception_score"]["real"] == pytest.approx(metrics.inception_score(test_probs)[0])
    assert m["d_train"]["real"] == pytest.approx(metrics.d_train(test_feats, train_feats))
    assert m["d_self"]["real"] == pytest.approx(metrics.d_self(test_feats))  # all 120 test clips
    assert m["ndb_over_k"]["real"] == metrics.ndb(train_feats, test_feats, k=50)["ndb_over_k"]
    assert m["frechet_distance"]["n_real"] == NUM_CLIPS  # train subset as large as the gen set
    train_probs = model.probs(train["audio"])
    assert m["modified_inception_score"]["real"] == pytest.approx(
        metrics.modified_inception_score(test_probs))
    assert m["modified_inception_score_within_class"]["real"] == pytest.approx(
        metrics.modified_inception_score(test_probs, test["labels"]))
    assert m["am_score"]["real"] == pytest.approx(
        scipy.stats.entropy(train_probs.mean(0), test_probs.mean(0))
        + np.mean(scipy.stats.entropy(test_probs, axis=1)), abs=1e-6)  # float32 probabilities
    # Intra-FD's real reference: 50 training clips per class (as many as generated).
    assert m["intra_frechet_distance"]["n_real"] == NUM_CLIPS


def test_new_metrics_match_independent_references(setup, fresh_calls):
    data_dir, model = setup
    results, calls = fresh_calls
    m = results["metrics"]
    captions = [c for batch, _ in calls for c in batch]
    audio = np.concatenate([a for _, a in calls])
    main_captions, main_audio = captions[:NUM_CLIPS], audio[:NUM_CLIPS]
    labels = np.array([CAPTION_CLASS[c] for c in main_captions])
    feats, probs = model.predict(main_audio)
    train, test = load_split_arrays(data_dir, "train"), load_split_arrays(data_dir, "test")
    test_feats, test_probs = model.predict(test["audio"])
    train_probs = model.probs(train["audio"])

    # mIS, by brute force over ordered pairs with scipy.
    def mis(p, lab=None):
        q = np.maximum(p, metrics.PROB_FLOOR)
        kl = [scipy.stats.entropy(p[i], q[j]) for i in range(len(p)) for j in range(len(p))
              if i != j and (lab is None or lab[i] == lab[j])]
        return np.exp(np.mean(kl))

    assert m["modified_inception_score"]["generated"] == pytest.approx(mis(probs), rel=1e-5)
    assert m["modified_inception_score_within_class"]["generated"] == pytest.approx(
        mis(probs, labels), rel=1e-5)
    assert m["am_score"]["generated"] == pytest.approx(
        scipy.stats.entropy(train_probs.mean(0), probs.mean(0))
        + np.mean(scipy.stats.entropy(probs, axis=1)), abs=1e-6)
    per_class = [_fd_reference(feats[labels == c], test_feats[test["labels"] == c])
                 for c in range(len(CLASSES))]
    assert m["intra_frechet_distance"]["generated"] == pytest.approx(np.mean(per_class), rel=1e-4)
    details = results["details"]["intra_frechet_distance_per_class"]
    assert [details[c]["generated"] for c in CLASSES] == pytest.approx(per_class, rel=1e-4)

    # Caption-matched z-diversity: the group is the class here (no stored groups), its
    # real clips those of both splits.
    zdiv_captions, zdiv_feats = captions[NUM_CLIPS:], model.features(audio[NUM_CLIPS:])
    train_feats = model.features(train["audio"])
    pd = scipy.spatial.distance.pdist
    rows = results["details"]["z_diversity_per_caption"]
    for i, row in enumerate(rows):
        assert zdiv_captions[i * 8:(i + 1) * 8] == [row["caption"]] * 8
        c = CLASSES.index(row["class"])
        real = np.concatenate([train_feats[train["labels"] == c], test_feats[test["labels"] == c]])
        assert row["group"] == row["class"] and row["group_clips"] == len(real) == 100
        assert row["matched_generated"] == pytest.approx(
            pd(zdiv_feats[i * 8:(i + 1) * 8]).mean() / pd(real).mean(), rel=1e-4)
    assert m["z_diversity_caption"]["generated"] == pytest.approx(
        np.mean([r["matched_generated"] for r in rows]))
    assert m["z_diversity_caption"]["real"] == pytest.approx(
        np.mean([r["matched_real"] for r in rows]))
    # Real reference: 8 of a group's 100 clips against the other 92.
    assert m["z_diversity_caption"]["n_real"] == 6 * 8


# A class-conditional set whose captions name a finer condition than the class:
# per class, caption 0's clips are clean tones, caption 1's carry loud noise.
def grouped_tone(rng, label, noisy):
    x = tone(rng, label)
    return (x + (0.25 * rng.normal(size=x.shape) if noisy else 0.0)).astype(np.float32)


def write_grouped_dataset(path, per_class=(60, 40), seed=2):
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    shards, counts = {}, {}
    for split, n in zip(records.SPLITS, per_class):
        examples = []
        for i in range(n * len(CLASSES)):
            label, noisy = i % len(CLASSES), (i // len(CLASSES)) % 2
            caption = CAPTIONS[label][noisy]
            examples.append(records.serialize_example(
                grouped_tone(rng, label, noisy), RATE, caption, label, f"{split}/{i}",
                group=caption))
        shards[split] = records.write_shards(path, split, examples)
        counts[split] = len(examples)
    card = records.DatasetCard(source="grouped tones", sample_rate=RATE, length=LENGTH,
                               classes=list(CLASSES), captions=sorted(CAPTION_CLASS),
                               groups=sorted(CAPTION_CLASS), counts=counts, shards=shards)
    with open(os.path.join(path, records.CARD_NAME), "w", encoding="utf-8") as f:
        f.write(card.to_json())
    return str(path)


def grouped_generator(captions, seed):
    """A perfect generator of the grouped set: fresh draws of the caption's group."""
    clips = [grouped_tone(np.random.default_rng([seed, i]), CAPTION_CLASS[c],
                          CAPTIONS[CAPTION_CLASS[c]].index(c)) for i, c in enumerate(captions)]
    return np.stack(clips), RATE


def test_caption_matched_z_diversity_uses_the_caption_group(tmp_path):
    data_dir = write_grouped_dataset(tmp_path / "grouped")
    clf.train_classifier(data_dir, None, epochs=8, batch_size=16, seed=0)
    model = clf.Classifier.load(clf.default_path(data_dir))
    res = ev.evaluate(grouped_generator, data_dir, model, num_clips=NUM_CLIPS, seed=0)
    m, rows = res["metrics"], res["details"]["z_diversity_per_caption"]
    assert res["details"]["condition_groups"] == {
        "stored": {"train": 180, "test": 120}, "count": 6, "source": "records"}
    assert all(r["group"] == r["caption"] and r["group_clips"] == 50 for r in rows)
    # Each caption varies like its group: about 1 against the group, and the real
    # reference (8 clips of a group against the other 42) agrees ...
    assert m["z_diversity_caption"]["generated"] == pytest.approx(1.0, abs=0.3)
    assert m["z_diversity_caption"]["real"] == pytest.approx(1.0, abs=0.3)
    assert m["z_diversity_caption"]["n_real"] == 6 * 8
    # ... but below 1 against the class, which mixes clean and noisy clips.
    for r in rows:
        assert r["generated"] < r["matched_generated"], r["caption"]
    assert m["z_diversity"]["generated"] < m["z_diversity_caption"]["generated"] - 0.1


def test_captions_are_uniform_over_classes_and_the_protocol_is_seeded(setup, fresh):
    data_dir, model = setup
    counts = fresh["details"]["generated_predicted_counts"]
    assert sum(counts.values()) == NUM_CLIPS and all(45 <= n <= 55 for n in counts.values())
    zdiv = fresh["details"]["z_diversity_per_caption"]
    assert sorted(e["caption"] for e in zdiv) == sorted(CAPTION_CLASS)  # 2 per class, all of them
    assert all(CAPTION_CLASS[e["caption"]] == CLASSES.index(e["class"]) for e in zdiv)
    again = ev.evaluate(fresh_generator, data_dir, model, num_clips=NUM_CLIPS, seed=0)
    assert again["metrics"] == fresh["metrics"]
    other = ev.evaluate(fresh_generator, data_dir, model, num_clips=NUM_CLIPS, seed=1)
    assert other["metrics"]["frechet_distance"]["generated"] != \
        fresh["metrics"]["frechet_distance"]["generated"]


def test_generate_is_called_in_batches_with_distinct_seeds(setup):
    data_dir, model = setup
    calls = []

    def recording(captions, seed):
        calls.append((len(captions), seed))
        return fresh_generator(captions, seed)

    ev.evaluate(recording, data_dir, model, num_clips=NUM_CLIPS, batch_size=64, seed=3)
    # 150 main clips, then 6 captions x 8 z.
    assert [n for n, _ in calls] == [64, 64, 22, 48]
    assert len({s for _, s in calls}) == 4 and all(0 <= s < 2 ** 63 for _, s in calls)


def test_write_report_writes_json_markdown_and_grids(fresh, tmp_path):
    paths = ev.write_report(fresh, tmp_path / "out")
    saved = json.loads(open(paths["json"], encoding="utf-8").read())
    assert saved["metrics"] == json.loads(json.dumps(fresh["metrics"]))
    assert saved["grids"]["generated"]["file"] == ev.GENERATED_GRID
    md = open(paths["markdown"], encoding="utf-8").read()
    assert "| metric | generated | real reference | ratio | reference |" in md
    e = fresh["metrics"]["d_self"]
    assert f"| d_self | {e['generated']:.4g} (n=120) | {e['real']:.4g} (n=120) | {e['ratio']:.4g} |" in md
    for caption in CAPTION_CLASS:
        assert caption in md
    gen = tf.io.decode_png(open(paths["generated_grid"], "rb").read()).numpy()
    real = tf.io.decode_png(open(paths["real_grid"], "rb").read()).numpy()
    # Labelled pictures (condgan.plots): 6 captions x 8 z are taller than 3 classes x 8 clips.
    assert gen.shape[1] == real.shape[1] and gen.shape[0] > real.shape[0]
    labels = open(paths["generated_grid_labels"], encoding="utf-8").read()
    assert "a deep hum [low tone]" in labels
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        os.path.basename(p) for p in paths.values())  # no temporary files left


def test_fewer_clips_than_ndb_bins_is_refused(setup):
    data_dir, model = setup
    with pytest.raises(ev.EvaluationError, match="num_clips=49 is fewer than the 50 k-means bins"):
        ev.evaluate(fresh_generator, data_dir, model, num_clips=49)
    with pytest.raises(ev.EvaluationError, match="z_per_caption must be an int >= 2"):
        ev.evaluate(fresh_generator, data_dir, model, z_per_caption=1)
    with pytest.raises(ev.EvaluationError, match="num_clips=9 is fewer than the 10 splits"):
        ev.evaluate(fresh_generator, data_dir, model, num_clips=9, ndb_bins=2)


@pytest.mark.parametrize("wrong, message", [
    (lambda a, r: (a[:, :512], r), "makes 512-sample clips at 8000 Hz but .* 1024-sample clips at 8000 Hz"),
    (lambda a, r: (a, 16000), "makes 1024-sample clips at 16000 Hz"),
    (lambda a, r: (a[:1], r), r"shape \(1, 1024\) for 64 captions"),
    (lambda a, r: (np.full_like(a, np.nan), r), "non-finite"),
])
def test_bad_generator_output_is_refused(setup, wrong, message):
    data_dir, model = setup
    with pytest.raises(ev.EvaluationError, match=message):
        ev.evaluate(lambda c, s: wrong(*fresh_generator(c, s)), data_dir, model,
                    num_clips=64, batch_size=64)


def test_classifier_of_another_dataset_or_no_labels_is_refused(setup, tmp_path):
    _, model = setup
    other = write_tone_dataset(tmp_path / "other", per_class=(60, 10), seed=5,
                               classes=["hum", "beep", "whistle"])
    with pytest.raises(clf.DatasetMismatchError, match=f"trained on .* not on {other}: classes"):
        ev.evaluate(fresh_generator, other, model, num_clips=50)
    unlabelled = write_tone_dataset(tmp_path / "unlabelled", per_class=(60, 10), labelled=False)
    with pytest.raises(clf.UnlabelledDatasetError, match="no class labels"):
        ev.evaluate(fresh_generator, unlabelled, model, num_clips=50)


def test_caption_classes_leaves_out_ambiguous_captions():
    by_class, ambiguous = ev.caption_classes(
        ["a", "b", "a", "c", "b", "d"], np.array([0, 1, 0, 1, 0, 2]), 4)
    assert by_class == [["a"], ["c"], ["d"], []]
    assert ambiguous == ["b"]


def test_condgan_eval_end_to_end_on_a_tiny_run(setup, tmp_path, text_encoder_dir):
    from condgan.config import Config
    from condgan.training import loop
    from condgan.training.trainer import Trainer, build_gan

    data_dir, model = setup
    cfg = Config()
    cfg.data.data_dir, cfg.data.text_encoder = data_dir, text_encoder_dir
    m = cfg.model
    m.length, m.sample_rate, m.model_dim, m.cond_dim, m.latent_dim = LENGTH, RATE, 4, 8, 8
    m.replay_capacity = 16
    t = cfg.train
    t.batch_size, t.n_critic, t.steps, t.checkpoint_every, t.summary_every = 4, 1, 2, 2, 2
    cfg.validate()
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (8, LENGTH, 1)).astype("float32")
    text = rng.normal(size=(8, 512)).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((audio, text)).batch(4, drop_remainder=True)
    trainer = Trainer(build_gan(cfg))
    run_dir = tmp_path / "run"
    loop.train(trainer, lambda start: iter(batches.repeat()), cfg, str(run_dir), RATE,
               log=lambda s: None)

    out = tmp_path / "eval"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "condgan.training.eval_cli", f"--model={run_dir}",
         f"--data_dir={data_dir}", f"--classifier={model.path}", f"--output_dir={out}",
         "--num_clips=50", "--seed=0"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "z_diversity" in done.stdout and "generated clips: 50/50" in done.stderr
    for name in ev.METRIC_ORDER:
        assert name + " " in done.stdout
    results = json.loads((out / ev.RESULTS_JSON).read_text())
    assert results["model"] == str(run_dir)
    assert results["settings"]["num_clips"] == 50
    assert list(results["metrics"]) == list(ev.METRIC_ORDER)
    assert all(np.isfinite(results["metrics"][n]["generated"]) for n in ev.METRIC_ORDER)
    for name in (ev.RESULTS_MD, ev.GENERATED_GRID, ev.REAL_GRID):
        assert (out / name).stat().st_size > 0



def test_the_confusion_table_agrees_with_accuracy_and_counts(fresh):
    details = fresh["details"]
    confusion = details["generated_confusion"]
    assert sorted(confusion) == sorted(details["conditional_accuracy_per_class"])
    rows = {t: sum(row.values()) for t, row in confusion.items()}
    assert sum(rows.values()) == NUM_CLIPS
    for t, row in confusion.items():  # the diagonal is the per-class accuracy
        assert row.get(t, 0) / rows[t] == pytest.approx(
            details["conditional_accuracy_per_class"][t]["generated"])
        assert all(n > 0 for n in row.values())
    columns = {}
    for row in confusion.values():
        for p, n in row.items():
            columns[p] = columns.get(p, 0) + n
    assert {p: n for p, n in details["generated_predicted_counts"].items() if n} == columns


def test_the_report_names_the_class_a_class_is_most_often_heard_as():
    from condgan.evaluation.report import _most_confused

    assert _most_confused({"bell": 6, "beep": 3, "hum": 1}, "beep") == "bell (0.60)"
    assert _most_confused({"beep": 10}, "beep") == "—"
    assert _most_confused(None, "beep") == "—"
