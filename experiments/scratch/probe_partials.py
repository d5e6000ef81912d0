"""Issue 8, session 7: what the partials heads of a model.partials run emit at a checkpoint.

  python experiments/scratch/probe_partials.py <run dir> <step>

Frequencies (Hz, first and last frame) and amplitudes of the 8 partials for four captions,
and the RMS of the frames' and the partials' waveforms, averaged and trained weights.
"""
import sys

import numpy as np, tensorflow as tf, keras
from condgan.training.loop import load_for_inference
from condgan.training.run import cached_caption_embeddings
from condgan import records
run, step = sys.argv[1], sys.argv[2]
config, gan, _ = load_for_inference(run, f"{run}/checkpoints/ckpt-{step}")
card = records.load_card("work_data/data/synth")
emb = cached_caption_embeddings(config, card, run)
caps = ["a tone sweeping upwards", "an electronic beep", "a bell ringing", "a burst of noise"]
E = tf.constant(np.stack([emb[c] for c in caps]).astype("float32"))
for name, G, C in (("ema", gan.ema_generator, gan.ema_conditioner), ("raw", gan.generator, gan.conditioner)):
    sub = keras.Model(G.inputs, [G.get_layer("partial_frequency").output, G.get_layer("partial_amplitude").output, G.get_layer("synthesis").output, G.get_layer("partials").output])
    z = tf.random.normal([4, 100], seed=1)
    f, a, fr, pa = sub([z, C(E, training=False)])
    print(name)
    for i, c in enumerate(caps):
        print(f"  {c:28s} freq Hz first/last frame {np.round(f[i,0].numpy()*0.45*8000).astype(int)} / {np.round(f[i,-1].numpy()*0.45*8000).astype(int)}  amp mean {a[i].numpy().mean():.3f} max {a[i].numpy().max():.2f}  rms frames {np.sqrt((fr[i]**2).numpy().mean()):.3f} partials {np.sqrt((pa[i]**2).numpy().mean()):.3f}")
