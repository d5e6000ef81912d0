"""Issue 8, session 8: how a pitch_warp run's generator uses its per-frame shift.

  python experiments/scratch/probe_pitch_shift.py <run dir> <step>   (data: work_data/data)

For the 240 test captions (c = mean, one z each), per class: the mean shift in
octaves, its spread over clips, and the mean range within a clip.
"""
import sys, numpy as np, keras, tensorflow as tf
from condgan.training.loop import load_for_inference
run, step = sys.argv[1], sys.argv[2]
config, gan, _ = load_for_inference(run, f"{run}/checkpoints/ckpt-{step}")
g = gan.eval_generator
from condgan.training.run import cached_caption_embeddings
from condgan import records, data
card = records.load_card("work_data/data/synth")
emb = cached_caption_embeddings(config, card, run)
ds = data.make_dataset("work_data/data/synth", "test", 240, emb, shuffle=False, repeat=False, length=config.model.length)
audio, text, caps, labels = next(iter(ds))
sub = keras.Model(g.inputs, g.get_layer("pitch_shift").output)
c = gan.eval_conditioner(text, training=False)
s = config.model.pitch_warp * np.tanh(sub([tf.random.normal([240, config.model.latent_dim], seed=1), c]).numpy()[..., 0])
labels = labels.numpy()
for k, nm in enumerate(card.classes):
    m = labels == k
    print(f"{nm:16s} shift mean {s[m].mean():+.2f} std over clips {s[m].mean(1).std():.2f} range within clip {np.mean(s[m].max(1) - s[m].min(1)):.2f}")
