"""Records the first N steps' losses of four configs on fixed random batches (old API)."""
import json, sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in str(f)]
sys.path.insert(0, ".")
import numpy as np, tensorflow as tf, keras
from condgan.config import Config
from condgan.training.trainer import build_gan, Trainer

tf.config.experimental.enable_op_determinism()
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 50

def configs():
    base = json.load(open("experiments/configs/synth.json"))["base_config"]
    spec = json.load(open("experiments/configs/synth-spectral.json"))["base_config"]
    recipe = json.loads(json.dumps(spec))
    recipe["model"].update(film_input="zc", ema_decay=0.999)
    recipe["train"].update(g_contrastive_scale=0.5, z_diversity_weight=2.0, z_diversity_cap=1.0,
                           cond_contrastive_weight=1.0)
    gp = json.loads(json.dumps(base))
    gp["train"].update(loss="wgan_gp", n_critic=2, mode_seeking_weight=1.0)
    mism = json.loads(json.dumps(spec))
    mism["train"].update(mismatch_weight=0.5)
    mism["model"].update(cond_augment=False, replay=False, text_dropout=0.0, cond_dim=256)
    return {"first_base": base, "second_base": spec, "recipe": recipe, "wgan_gp_ms": gp,
            "mismatch_armA": mism}

out = {}
for name, d in configs().items():
    cfg = Config.from_dict(d)
    keras.utils.set_random_seed(1234)
    gan = build_gan(cfg)
    trainer = Trainer(gan)
    rng = np.random.default_rng(7)
    m = cfg.model
    text = rng.normal(size=(12, m.text_dim)).astype("float32")
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    rows = []
    for step in range(STEPS):
        audio = (0.3 * rng.standard_normal((cfg.train.batch_size, m.length, 1))).astype("float32")
        idx = rng.integers(0, 12, cfg.train.batch_size)
        v = trainer.train_step((tf.constant(audio), tf.constant(text[idx])))
        rows.append({k: float(x) for k, x in v.items()})
    out[name] = {"config": cfg.to_dict(), "steps": rows}
    print(name, rows[-1], flush=True)
json.dump(out, open(sys.argv[1], "w"), indent=1)
