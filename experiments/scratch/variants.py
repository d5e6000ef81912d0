"""Scratch driver (session 4): train a variant of the second base, evaluate every N steps."""
import argparse, json, os, sys, time
CODE = os.environ.get("CODE", "/work/exp/snap5")
sys.path.insert(0, CODE)
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--name", required=True)
p.add_argument("--arm", default="D")
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--every", type=int, default=500)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--set", action="append", default=[])
p.add_argument("--dpool", default="gap")          # gap | flatten | freq (pool time only)
p.add_argument("--mbstd", type=int, default=0)    # group size of a minibatch-std channel in D
p.add_argument("--gfilm", default="c")            # c | zc : FiLM input
p.add_argument("--gwidth", type=int, default=8)   # G channels = gwidth * model_dim
p.add_argument("--dwidth", type=int, default=2)   # D first channels = dwidth * model_dim
p.add_argument("--gconv", default="1d")           # 1d | 2d
p.add_argument("--aug_shift", type=float, default=0.0)  # DiffAugment: shift up to this fraction
p.add_argument("--aug_gain", type=float, default=0.0)   # DiffAugment: gain +- this many dB
p.add_argument("--whiten", type=float, default=0.0)  # ZCA eps relative to mean eigenvalue; <0: centre only
p.add_argument("--grid_only", type=int, default=0)
p.add_argument("--ms_spec", type=float, default=0.0)  # mode seeking on log(|STFT| + this floor)
p.add_argument("--info_k", type=int, default=0)      # InfoGAN-style: D head predicts z[:, :k]
p.add_argument("--info_w", type=float, default=1.0)
p.add_argument("--g_nce", type=float, default=1.0)
p.add_argument("--g_nce_cap", type=float, default=0.0)  # G's per-row InfoNCE only above -log(cap)    # G's contrastive weight (D keeps train.contrastive_weight)
p.add_argument("--max_minutes", type=float, default=30)
args = p.parse_args()

import tensorflow as tf
import keras
from keras import ops
from condgan import models, data, records, spectral, layers
from condgan.film import FiLM
from condgan.projection import InnerProduct
from condgan.seeds import derive_seed
from experiments import ablation


class MinibatchStd(keras.layers.Layer):
    def __init__(self, group, **kw):
        super().__init__(**kw)
        self.group = group

    def call(self, x):
        shape = ops.shape(x)
        g = self.group
        y = ops.reshape(x, (g, -1) + tuple(x.shape[1:]))
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)
        y = ops.mean(y, axis=list(range(1, len(x.shape))), keepdims=True)  # [B/g, 1, 1, 1]
        y = ops.tile(y, (g,) + tuple(x.shape[1:-1]) + (1,))
        return ops.concatenate([x, y], axis=-1)

    def compute_output_shape(self, s):
        return s[:-1] + (s[-1] + 1,)


def build_spectral_generator(cfg):
    frames = spectral.synthesis_frames(cfg.length, cfg.stft_frame, cfg.stft_hop)
    bins = cfg.stft_frame // 2 + 1
    width = args.gwidth * cfg.model_dim
    z = keras.Input((cfg.latent_dim,), name="z")
    c = keras.Input((cfg.cond_dim,), name="c")
    zc = keras.layers.Concatenate(name="z_c")([z, c])
    fc = zc if args.gfilm == "zc" else c
    x = keras.layers.Dense(frames // 4 * width, name="z_project")(zc)
    x = keras.layers.Reshape((frames // 4, width), name="z_reshape")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    for i, up in enumerate((2, 2, 1)):
        if up > 1:
            x = keras.layers.UpSampling1D(up)(x)
        x = keras.layers.Conv1D(width, 5, padding="same", name=f"conv_{i}")(x)
        if cfg.film:
            x = FiLM(width, name=f"conv_{i}_film")(x, fc)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    logm = keras.layers.Conv1D(bins, 1, bias_initializer=keras.initializers.Constant(-4.0),
                               name="log_magnitude")(x)
    inst = keras.layers.Conv1D(bins, 1, activation="tanh", kernel_initializer="zeros",
                               name="inst_freq")(x)
    audio = spectral.SpectralSynthesis(cfg.length, cfg.stft_frame, cfg.stft_hop,
                                       name="synthesis")(logm, inst)
    return keras.Model([z, c], audio, name="generator")


def build_spectral_generator_2d(cfg):
    """2-D (time x frequency) convolutional generator of log-magnitude + IF frames."""
    frames = spectral.synthesis_frames(cfg.length, cfg.stft_frame, cfg.stft_hop)
    bins = cfg.stft_frame // 2 + 1
    t0, f0 = (frames - 4) // 16, (bins - 1) // 16          # 4 x 8 for 68 x 129
    chans = [args.gwidth * cfg.model_dim // 2 ** i for i in range(5)]  # e.g. 64 32 16 8 4 at 16
    chans = [max(ch, 8) for ch in chans]
    z = keras.Input((cfg.latent_dim,), name="z")
    c = keras.Input((cfg.cond_dim,), name="c")
    zc = keras.layers.Concatenate(name="z_c")([z, c])
    fc = zc if args.gfilm == "zc" else c
    x = keras.layers.Dense(t0 * f0 * chans[0], name="z_project")(zc)
    x = keras.layers.Reshape((t0, f0, chans[0]))(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    for i in range(4):
        x = keras.layers.UpSampling2D(2)(x)
        x = keras.layers.Conv2D(chans[i + 1], 3, padding="same", name=f"conv2d_{i}")(x)
        if cfg.film:
            x = FiLM(chans[i + 1], name=f"conv2d_{i}_film")(x, fc)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    # [B, 64, 128, ch] -> pad to [B, 68, 129]
    logm = keras.layers.Conv2D(1, 1, bias_initializer=keras.initializers.Constant(-4.0),
                               name="log_magnitude")(x)[..., 0]
    inst = keras.layers.Conv2D(1, 1, activation="tanh", kernel_initializer="zeros",
                               name="inst_freq")(x)[..., 0]
    pad = [[0, 0], [2, frames - 64 - 2], [0, bins - 128]]
    logm = ops.pad(logm, pad, constant_values=-9.0)
    inst = ops.pad(inst, pad)
    audio = spectral.SpectralSynthesis(cfg.length, cfg.stft_frame, cfg.stft_hop,
                                       name="synthesis")(logm, inst)
    return keras.Model([z, c], audio, name="generator")


def build_discriminator(cfg, seed=None):
    def sn(layer):
        return keras.layers.SpectralNormalization(layer) if cfg.spectral_norm else layer
    audio = keras.Input((cfg.length, 1), name="audio")
    text = keras.Input((cfg.text_dim,), name="text_embedding")
    x = spectral.LogMagnitudeSTFT(cfg.stft_frame, cfg.stft_hop, name="log_stft")(audio)
    x = keras.layers.Rescaling(0.25, offset=1.0)(x)
    for i in range(4):
        if i == 3 and args.mbstd:
            x = MinibatchStd(args.mbstd)(x)
        x = sn(keras.layers.Conv2D(args.dwidth * cfg.model_dim * 2 ** i, 3, strides=2,
                                   padding="same", name=f"conv2d_{i}"))(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
    if args.dpool == "gap":
        phi = keras.layers.GlobalAveragePooling2D()(x)
    elif args.dpool == "freq":  # average over time, keep frequency
        phi = keras.layers.Flatten()(ops.mean(x, axis=1))
    else:
        phi = keras.layers.Flatten()(x)
    t = layers.TextProjection(cfg.cond_dim, dropout=cfg.text_dropout,
                              seed=None if seed is None else derive_seed(seed, 0),
                              name="text_projection")(models.normalize_text(cfg, text))
    score = sn(keras.layers.Dense(1, name="output"))(phi)
    if cfg.d_conditioning == "projection":
        v = sn(keras.layers.Dense(phi.shape[-1], use_bias=False, name="caption_embed"))(t)
        score = keras.layers.Add()([score, InnerProduct()(phi, v)])
    outputs = score
    if cfg.contrastive_dim > 0:
        outputs = [score, keras.layers.Dense(cfg.contrastive_dim, name="audio_head")(phi),
                   keras.layers.Dense(cfg.contrastive_dim, name="caption_head")(t)]
    if args.info_k > 0:
        h = keras.layers.Dense(128, activation="leaky_relu", name="z_head_hidden")(phi)
        outputs = list(outputs) + [keras.layers.Dense(args.info_k, name="z_head")(h)]
    return keras.Model([audio, text], outputs, name="discriminator")


def augment(audio):
    """Differentiable D-input augmentation (same op on real and fake): shift and gain."""
    b = tf.shape(audio)[0]
    n = audio.shape[1]
    if args.aug_shift > 0:
        s = int(args.aug_shift * n)
        shifts = tf.random.uniform([b], -s, s + 1, dtype=tf.int32)
        padded = tf.pad(audio, [[0, 0], [s, s], [0, 0]])
        idx = tf.range(n)[None, :] + s - shifts[:, None]
        audio = tf.gather(padded, idx, batch_dims=1)
    if args.aug_gain > 0:
        g = tf.random.uniform([b, 1, 1], -args.aug_gain, args.aug_gain)
        audio = audio * tf.pow(10.0, g / 20.0)
    return audio


if args.aug_shift > 0 or args.aug_gain > 0:
    import condgan.gan as _g
    _orig = _g.CondGAN.discriminate

    def discriminate(self, audio, text_embedding, training=True):
        if training:
            audio = augment(audio)
        return _orig(self, audio, text_embedding, training=training)
    _g.CondGAN.discriminate = discriminate

if args.ms_spec > 0:
    import condgan.losses as _l
    _orig_ms = _l.mode_seeking_loss

    def ms_spec(f1, f2, z1, z2, eps=1e-5):
        def lm(a):
            x = tf.signal.stft(a[..., 0], 256, 64, 256, window_fn=tf.signal.hann_window)
            return tf.math.log(tf.abs(x) + args.ms_spec)
        ratio = tf.reduce_mean(tf.abs(lm(f1) - lm(f2))) / tf.reduce_mean(tf.abs(z1 - z2))
        return 1.0 / (ratio + eps)
    _l.mode_seeking_loss = ms_spec

models.build_spectral_generator = (build_spectral_generator_2d if args.gconv == "2d"
                                   else build_spectral_generator)
models.build_discriminator = build_discriminator
if args.info_k > 0 or args.g_nce != 1.0 or args.g_nce_cap > 0:
    import condgan.gan as _gm
    import condgan.training.trainer as _tm
    from condgan import losses as L, contrastive as C

    class InfoCondGAN(_gm.CondGAN):
        def _d(self, audio, text, training=True):
            out = self.discriminator([audio, text], training=training)
            return out[0], out[1], out[2], (out[3] if args.info_k > 0 else None)

        def _info(self, zq, z):
            if args.info_k == 0:
                return tf.constant(0.0)
            return tf.reduce_mean(tf.square(zq - z[:, :args.info_k]))

        def discriminator_step(self, audio, text_embedding, loss_scale=1.0):
            b = tf.shape(audio)[0]
            c = self.conditioner(text_embedding, training=True)
            z = self._sample_z(b)
            fake = tf.stop_gradient(self.generator([z, c], training=True))
            with tf.GradientTape() as tape:
                rl, ra, ru, _ = self._d(audio, text_embedding)
                fl, _, _, zq = self._d(fake, text_embedding)
                d_loss = L.discriminator_loss(self.loss_kind, rl, fl, None, 0.0)
                nce = self._contrastive(ra, ru, text_embedding)
                info = self._info(zq, z)
                total = (d_loss + self.contrastive_weight * nce + args.info_w * info) * loss_scale
            v = self.discriminator.trainable_variables
            g = tape.gradient(total, v)
            self.d_optimizer.apply_gradients([(a, b_) for a, b_ in zip(g, v) if a is not None])
            return (d_loss, info, tf.reduce_mean(rl), tf.reduce_mean(fl), tf.constant(0.0), nce)

        def generator_step(self, text_embedding, loss_scale=1.0):
            b = tf.shape(text_embedding)[0]
            z = self._sample_z(b)
            with tf.GradientTape() as tape:
                c = self.conditioner(text_embedding, training=True)
                kl = tf.add_n(self.conditioner.losses) if self.conditioner.losses else tf.constant(0.0)
                d_text = text_embedding
                replayed = tf.constant(0.0)
                if self.replay is not None:
                    d_text, c, mask = self.replay(text_embedding, c, training=True)
                    replayed = tf.reduce_mean(tf.cast(mask, tf.float32))
                fake = self.generator([z, c], training=True)
                fl, fa, fu, zq = self._d(fake, d_text)
                g_loss = L.generator_loss(self.loss_kind, fl)
                if args.g_nce_cap > 0:
                    a_ = tf.math.l2_normalize(fa, -1)
                    u_ = tf.math.l2_normalize(fu, -1)
                    lg = tf.matmul(a_, u_, transpose_b=True) / self.contrastive_temperature
                    tg = C.same_caption_targets(d_text)
                    m = -np.log(args.g_nce_cap)
                    r1 = tf.nn.softmax_cross_entropy_with_logits(tg, lg)
                    r2 = tf.nn.softmax_cross_entropy_with_logits(tf.transpose(tg), tf.transpose(lg))
                    nce = 0.5 * (tf.reduce_mean(tf.nn.relu(r1 - m)) + tf.reduce_mean(tf.nn.relu(r2 - m)))
                else:
                    nce = self._contrastive(fa, fu, d_text)
                info = self._info(zq, z)
                total = (g_loss + kl + args.g_nce * self.contrastive_weight * nce + args.info_w * info) * loss_scale
            v = self.g_variables
            g = tape.gradient(total, v)
            self.g_optimizer.apply_gradients(zip(g, v))
            return g_loss, kl, info, replayed, nce

    _tm.CondGAN = InfoCondGAN
from condgan.training.trainer import Trainer, build_gan
from condgan.evaluation.evaluate import evaluate
from condgan.training.run import cached_caption_embeddings, resolve

spec = ablation.dataset_spec("synth-spectral")
data_dir = "/work/exp/data/synth"
cfg = ablation.arm_config(spec, args.arm, args.seed, data_dir,
                          os.path.expanduser("~/.cache/condgan/use_m3"), args.steps)
cfg = ablation.apply_overrides(cfg, args.set)
card = records.load_card(data_dir)
out_dir = f"/work/exp/s2/runs/{args.name}"
os.makedirs(out_dir, exist_ok=True)
emb = cached_caption_embeddings(cfg, card, "/work/exp/s2")
cfg = resolve(cfg, card, 512)
if args.whiten != 0:
    keys = list(emb)
    E = np.stack([emb[k] for k in keys]).astype(np.float64)
    mu = E.mean(0)
    X = E - mu
    if args.whiten < 0:
        Y = X
    else:
        lam, U = np.linalg.eigh(X.T @ X / len(X))
        eps = args.whiten * lam[lam > 1e-9].mean()
        Y = X @ (U @ np.diag(1 / np.sqrt(lam + eps)) @ U.T)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    emb = {k: Y[i].astype(np.float32) for i, k in enumerate(keys)}
keras.utils.set_random_seed(args.seed)
gan = build_gan(cfg)
trainer = Trainer(gan)
ds = data.make_dataset(data_dir, "train", cfg.train.batch_size, emb, length=cfg.model.length,
                       seed=args.seed)
it = iter(ds)
clf = "/work/exp/data/synth-classifier"


def gen(captions, seed):
    e = np.stack([emb[c] for c in captions]).astype(np.float32)
    z = tf.random.stateless_normal([len(captions), cfg.model.latent_dim], seed=[seed, 0])
    z = tf.stack([tf.random.stateless_normal([cfg.model.latent_dim], seed=[seed, i])
                  for i in range(len(captions))])
    return gan((z, tf.constant(e)), training=False)[..., 0].numpy(), cfg.model.sample_rate


def write_grid():
    from condgan.training.inference import write_outputs
    from data_prep.synth_sfx import CAPTIONS
    caps = [CAPTIONS[k][0] for k in CAPTIONS]
    clips = np.stack([gen(caps, 100 + s)[0] for s in range(6)], axis=1)
    write_outputs(clips, cfg.model.sample_rate, caps, list(range(6)), f"{out_dir}/samples",
                  grid=True)


if args.grid_only:
    trainer.train_step(next(it))
    gan.built = True
    gan.load_weights(f"{out_dir}/final.weights.h5")
    write_grid()
    sys.exit(0)
log = open(f"{out_dir}/log.txt", "a")


def out(s):
    print(s, flush=True); log.write(s + "\n"); log.flush()


out(f"# {vars(args)}")
out(f"# G params {gan.generator.count_params()} D params {gan.discriminator.count_params()}")
train_t = 0.0
curve = []
for step in range(1, args.steps + 1):
    t1 = time.time()
    m = trainer.train_step(next(it))
    train_t += time.time() - t1
    if step % 250 == 0:
        out(f"step {step} t={train_t:.0f}s " + " ".join(
            f"{k}={float(v):.3f}" for k, v in m.items()))
    if step % args.every == 0 or step == args.steps or train_t > args.max_minutes * 60:
        r = evaluate(gen, data_dir, clf, num_clips=240, z_per_caption=4, captions_per_class=2,
                     seed=1, ndb_bins=10)
        mm = r["metrics"]
        row = {"step": step, "train_min": round(train_t / 60, 2)}
        for k in ("conditional_accuracy", "z_diversity_caption", "z_diversity",
                  "frechet_distance", "inception_score"):
            if k in mm:
                row[k] = round(float(mm[k]["generated"]), 4)
        pc = r.get("details", {}).get("conditional_accuracy_per_class", {})
        row["per_class"] = {k[:6]: round(float(v["generated"]), 2) for k, v in pc.items()}
        curve.append(row)
        out("EVAL " + json.dumps(row))
        json.dump(curve, open(f"{out_dir}/curve.json", "w"))
        if train_t > args.max_minutes * 60:
            break
gan.save_weights(f"{out_dir}/final.weights.h5")
write_grid()
out("done")
