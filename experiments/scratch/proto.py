"""Prototype driver: train a variant, evaluate every N steps (acc, z-div)."""
import argparse, json, os, sys, time
sys.path.insert(0, os.environ.get("CODE", "/work/main"))
sys.path.insert(0, "/work/exp")
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--name", required=True)
p.add_argument("--arm", default="D")
p.add_argument("--g", default="spectral")
p.add_argument("--d", default="spectral")
p.add_argument("--steps", type=int, default=3000)
p.add_argument("--every", type=int, default=500)
p.add_argument("--glr", type=float, default=2e-4)
p.add_argument("--dlr", type=float, default=2e-4)
p.add_argument("--b1", type=float, default=0.5)
p.add_argument("--b2", type=float, default=0.9)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--opt", default="{}")
p.add_argument("--nce", type=float, default=0.0)
p.add_argument("--text_scale", type=float, default=1.0)
p.add_argument("--max_minutes", type=float, default=30)
args = p.parse_args()

import tensorflow as tf
import keras
import proto_models
proto_models.OPT.update(json.loads(args.opt))
from condgan import models, data, records
if args.g == "spectral":
    models.build_generator = proto_models.build_spectral_generator
if args.d == "spectral":
    models.build_discriminator = proto_models.build_spectral_discriminator
from experiments import ablation
if args.nce > 0:
    import proto_gan
    import condgan.training.trainer as _tr
    _tr.CondGAN = proto_gan.ContrastiveGAN
    proto_gan.CW["w"] = args.nce
    models.build_discriminator = proto_models.build_contrastive_discriminator
from condgan.training.trainer import Trainer, build_gan
from condgan.evaluation.classifier import Classifier
from condgan.evaluation.evaluate import evaluate

spec = ablation.dataset_spec("synth")
data_dir = "/work/exp/data/synth"
cfg = ablation.arm_config(spec, args.arm, args.seed, data_dir, os.path.expanduser("~/.cache/condgan/use_m3"), args.steps)
cfg.train.g_learning_rate, cfg.train.d_learning_rate = args.glr, args.dlr
cfg.train.beta_1, cfg.train.beta_2 = args.b1, args.b2
cfg.train.batch_size = args.batch
card = records.load_card(data_dir)
from condgan.training.run import cached_caption_embeddings, resolve
os.makedirs(f"/work/exp/proto/{args.name}", exist_ok=True)
emb = cached_caption_embeddings(cfg, card, "/work/exp/proto/emb")
cfg = resolve(cfg, card, 512)
emb = {k: v * args.text_scale for k, v in emb.items()}
keras.utils.set_random_seed(args.seed)
gan = build_gan(cfg)
trainer = Trainer(gan)
ds = data.make_dataset(data_dir, "train", cfg.train.batch_size, emb, length=cfg.model.length, seed=args.seed)
it = iter(ds)
clf = Classifier.load("/work/exp/data/synth-classifier")

def gen(captions, seed):
    e = np.stack([emb[c] for c in captions]).astype(np.float32)
    z = tf.random.stateless_normal([len(captions), cfg.model.latent_dim], seed=[seed, 0])
    return gan((z, tf.constant(e)), training=False)[..., 0].numpy(), cfg.model.sample_rate

log = open(f"/work/exp/proto/{args.name}/log.txt", "a")
def out(s):
    print(s, flush=True); log.write(s + "\n"); log.flush()
out(f"# {args}")
t0 = time.time(); train_t = 0.0
curve = []
for step in range(1, args.steps + 1):
    t1 = time.time()
    m = trainer.train_step(next(it))
    train_t += time.time() - t1
    if step % 100 == 0:
        out(f"step {step} t={train_t:.0f}s " + " ".join(f"{k}={float(v):.3f}" for k, v in m.items() if k in ("d_loss","g_loss","d_real","d_fake","kl","gp","ms")))
    if step % args.every == 0 or step == args.steps or train_t > args.max_minutes * 60:
        r = evaluate(gen, data_dir, clf, num_clips=240, z_per_caption=4, captions_per_class=2, seed=1, ndb_bins=10)
        mm = r["metrics"]
        row = {"step": step, "train_min": train_t / 60, **{k: mm[k]["generated"] for k in ("conditional_accuracy", "z_diversity", "frechet_distance", "inception_score")}}
        curve.append(row)
        out("EVAL " + json.dumps(row))
        json.dump(curve, open(f"/work/exp/proto/{args.name}/curve.json", "w"))
        if train_t > args.max_minutes * 60:
            break
gan.save_weights(f"/work/exp/proto/{args.name}/final.weights.h5")
from condgan.training.inference import write_outputs
caps = ["an electronic beep", "a whistle rising in pitch", "a bell ringing", "a siren wailing", "a heartbeat", "a bird chirping"]
caps = [c for c in caps if c in emb] or list(emb)[:6]
clips = np.stack([gen(caps, s)[0] for s in range(4)], axis=1)
write_outputs(clips, cfg.model.sample_rate, caps, list(range(4)), f"/work/exp/proto/{args.name}/samples", grid=True)
out("done")
