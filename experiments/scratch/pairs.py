"""Scratch driver (session 5): a same-caption pair critic (PacGAN-style) on the second base.

Each D and G step, the fakes come in pairs of one caption: the G batch is the
first half of the real batch's captions twice, so fakes i and i + B/2 share a
caption and differ by z (and CondAugment noise). Real pairs are two clips of one
condition group (the class on the synth set) from the real batch. A small pair
head reads |F1 - F2| of D's last feature map (before pooling, so onset and pitch
positions count) and is trained with hinge: real pairs +1, fake pairs -1; G adds
its hinge term. A collapsed generator makes |F1 - F2| ~ 0, which no real pair
does, so the pair head penalises exactly what caption-matched z-diversity measures.
"""
import argparse, json, os, sys, time
CODE = os.environ.get("CODE", "/work/exp/snap7")
sys.path.insert(0, CODE)
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--name", required=True)
p.add_argument("--arm", default="D")
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--every", type=int, default=500)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--set", action="append", default=[])
p.add_argument("--pair_w", type=float, default=1.0)   # weight of the pair terms (D and G)
p.add_argument("--pair_feat", default="map")           # map: |F1-F2| of the last map; pool: of phi
p.add_argument("--pair_detach", type=int, default=0)   # 1: pair head trains on D's features, not D
p.add_argument("--nce_group", type=int, default=0)  # 1: InfoNCE positives = same condition group
p.add_argument("--eps_inv", type=float, default=0.0)  # weight: G(z, c1) ~ G(z, c2) for two CA draws
p.add_argument("--z_seek", type=float, default=0.0)   # weight: reward log-|STFT| distance across z
p.add_argument("--z_tau", type=float, default=1e9)    # ... capped at this distance
p.add_argument("--tile", type=int, default=1)          # 1: fake batch = half captions twice
p.add_argument("--max_minutes", type=float, default=30)
p.add_argument("--grid_only", type=int, default=0)
args = p.parse_args()

import tensorflow as tf
import keras
from condgan import data, records, losses, seeds
from condgan.gan import CondGAN
import condgan.training.trainer as _tm
from experiments import ablation

SN = keras.layers.SpectralNormalization


def _logmag(audio):
    x = tf.signal.stft(audio[..., 0], 256, 64, 256, window_fn=tf.signal.hann_window)
    return tf.math.log(tf.abs(x) + 1e-3)


class PairGAN(CondGAN):
    def __init__(self, model_config, seed=0, **kw):
        super().__init__(model_config, seed=seed, **kw)
        d = self.discriminator
        fmap = d.get_layer("conv2d_3_lrelu").output
        pooled = d.get_layer("pool").output
        self.d_full = keras.Model(d.inputs, list(d.outputs) + [fmap if args.pair_feat == "map"
                                                              else pooled])
        shape = tuple(self.d_full.outputs[-1].shape[1:])
        f = keras.Input(shape)
        x = f
        if len(shape) == 3:
            x = SN(keras.layers.Conv2D(32, 1))(x)
            x = keras.layers.LeakyReLU(0.2)(x)
            x = keras.layers.Flatten()(x)
        else:
            x = SN(keras.layers.Dense(128))(x)
            x = keras.layers.LeakyReLU(0.2)(x)
        x = SN(keras.layers.Dense(1))(x)
        self.pair_head = keras.Model(f, x, name="pair_head")
        self.pair_opt = keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9)

    def _dfull(self, audio, text):
        s, a, u, f = self.d_full([audio, text], training=True)
        return s, a, u, f

    def _pair_logits(self, f1, f2):
        return self.pair_head(tf.abs(f1 - f2), training=True)[:, 0]

    def _tile(self, text):
        if not args.tile:
            return text
        h = tf.shape(text)[0] // 2
        return tf.concat([text[:h], text[:h]], 0)

    @staticmethod
    def _real_partner(label):
        b = tf.shape(label)[0]
        same = tf.logical_and(tf.equal(label[:, None], label[None, :]),
                              tf.logical_not(tf.eye(b, dtype=tf.bool)))
        r = tf.random.uniform([b, b]) * tf.cast(same, tf.float32)
        return tf.argmax(r, axis=1), tf.reduce_any(same, axis=1)

    def pair_discriminator_step(self, audio, text, label):
        b = tf.shape(audio)[0]
        h = b // 2
        ftext = self._tile(text)
        c = self.conditioner(ftext, training=True)
        fake = tf.stop_gradient(self.generator([self._sample_z(b), c], training=True))
        j, valid = self._real_partner(label)
        with tf.GradientTape() as tape:
            rl, ra, ru, rf = self._dfull(audio, text)
            fl, _, _, ff = self._dfull(fake, ftext)
            d_loss = losses.discriminator_loss(self.loss_kind, rl, fl, None, 0.0)
            nce = self._contrastive(ra, ru, text)
            if args.pair_detach:
                rf, ff = tf.stop_gradient(rf), tf.stop_gradient(ff)
            pr = self._pair_logits(rf, tf.gather(rf, j))
            pf = self._pair_logits(ff[:h], ff[h:])
            vr = tf.cast(valid, tf.float32)
            pair = (tf.reduce_sum(tf.nn.relu(1 - pr) * vr) / tf.maximum(tf.reduce_sum(vr), 1.0)
                    + tf.reduce_mean(tf.nn.relu(1 + pf)))
            total = d_loss + self.contrastive_weight * nce + args.pair_w * pair
        dv = self.discriminator.trainable_variables
        pv = self.pair_head.trainable_variables
        g = tape.gradient(total, dv + pv)
        self.d_optimizer.apply_gradients([(a, v) for a, v in zip(g[:len(dv)], dv) if a is not None])
        self.pair_opt.apply_gradients(zip(g[len(dv):], pv))
        return d_loss, nce, pair, tf.reduce_mean(pr), tf.reduce_mean(pf)

    def _nce(self, a, u, text, label):
        if not args.nce_group:
            return self._contrastive(a, u, text)
        from condgan import contrastive as C
        same = tf.cast(C.same_caption_targets(text) > 0, tf.float32)
        grp = tf.cast(tf.equal(label[:, None], label[None, :]), tf.float32)
        t = tf.maximum(same, grp)
        t = t / tf.reduce_sum(t, axis=1, keepdims=True)
        an = tf.math.l2_normalize(a, -1)
        un = tf.math.l2_normalize(u, -1)
        lg = tf.matmul(an, un, transpose_b=True) / self.contrastive_temperature
        return 0.5 * (tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(t, lg))
                      + tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
                          tf.transpose(t), tf.transpose(lg))))

    def pair_generator_step(self, text, label):
        b = tf.shape(text)[0]
        h = b // 2
        text = self._tile(text)
        label = self._tile(label)
        z = self._sample_z(b)
        with tf.GradientTape() as tape:
            c = self.conditioner(text, training=True)
            kl = tf.add_n(self.conditioner.losses) if self.conditioner.losses else tf.constant(0.0)
            d_text = text
            if self.replay is not None:
                d_text, c, _ = self.replay(text, c, training=True)
            fake = self.generator([z, c], training=True)
            fl, fa, fu, ff = self._dfull(fake, d_text)
            g_loss = losses.generator_loss(self.loss_kind, fl)
            # replayed rows: unknown group (-1 - row index never matches)
            kept = tf.reduce_all(tf.equal(d_text, text), axis=1)
            glabel = tf.where(kept, label, -1 - tf.range(b, dtype=label.dtype))
            nce = self._nce(fa, fu, d_text, glabel)
            same = tf.cast(tf.reduce_all(tf.equal(d_text[:h], d_text[h:]), axis=1), tf.float32)
            pf = self._pair_logits(ff[:h], ff[h:])
            g_pair = -tf.reduce_sum(pf * same) / tf.maximum(tf.reduce_sum(same), 1.0)
            eps_d = tf.constant(0.0)
            z_d = tf.constant(0.0)
            if args.eps_inv > 0 or args.z_seek > 0:
                lm1 = _logmag(fake)
            if args.eps_inv > 0:
                c2 = self.conditioner(text, training=True)
                if self.replay is not None:  # replayed rows keep their stored c
                    c2 = tf.where(kept[:, None], c2, c)
                eps_d = tf.reduce_mean(tf.abs(lm1 - _logmag(self.generator([z, c2], training=True))))
            if args.z_seek > 0 or args.eps_inv > 0:  # logged with eps_inv
                z2 = self._sample_z(b)
                z_d = tf.reduce_mean(tf.abs(lm1 - _logmag(self.generator([z2, c], training=True))))
            total = (g_loss + kl + self.contrastive_weight * self.g_contrastive_scale * nce
                     + args.pair_w * g_pair + args.eps_inv * eps_d
                     - args.z_seek * tf.minimum(z_d, args.z_tau))
        v = self.g_variables
        g = tape.gradient(total, v)
        self.g_optimizer.apply_gradients(zip(g, v))
        return g_loss, kl, nce, g_pair, eps_d, z_d

    def pair_step(self, audio, text, label):
        d_loss, d_nce, d_pair, pr, pf = self.pair_discriminator_step(audio, text, label)
        g_loss, kl, g_nce, g_pair, eps_d, z_d = self.pair_generator_step(text, label)
        return dict(d_loss=d_loss, d_nce=d_nce, d_pair=d_pair, pair_real=pr, pair_fake=pf,
                    g_loss=g_loss, kl=kl, g_nce=g_nce, g_pair=g_pair, eps_d=eps_d, z_d=z_d)


_tm.CondGAN = PairGAN
from condgan.training.trainer import build_gan
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
keras.utils.set_random_seed(args.seed)
gan = build_gan(cfg)
ds = data.make_dataset(data_dir, "train", cfg.train.batch_size, emb, length=cfg.model.length,
                       seed=args.seed)
it = iter(ds)
clf = "/work/exp/data/synth-classifier"
step_fn = tf.function(gan.pair_step)


def gen(captions, seed):
    e = np.stack([emb[c] for c in captions]).astype(np.float32)
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
    gan.load_weights(f"{out_dir}/final.weights.h5")
    write_grid()
    sys.exit(0)
log = open(f"{out_dir}/log.txt", "a")


def out(s):
    print(s, flush=True); log.write(s + "\n"); log.flush()


out(f"# {vars(args)}")
train_t = 0.0
curve = []
for step in range(1, args.steps + 1):
    audio, text, _, label = next(it)
    t1 = time.time()
    m = step_fn(audio, text, label)
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
