"""Issue 8, session 8: does a trained spectral generator use its IF head?

  python experiments/scratch/probe_if.py <run dir> <step>   (data: work_data/data/synth)

Mean |IF| of the generator's frames (c = mean, one z per test caption) against the
mean |IF| of the 240 real test clips analysed into the same frames.
"""
import sys

import keras
import numpy as np
import tensorflow as tf

from condgan import data, records
from condgan.spectral import analysis
from condgan.training.loop import load_for_inference
from condgan.training.run import cached_caption_embeddings

run, step = sys.argv[1], sys.argv[2]
dd = "work_data/data/synth"
config, gan, _ = load_for_inference(run, f"{run}/checkpoints/ckpt-{step}")
emb = cached_caption_embeddings(config, records.load_card(dd), run)
ds = data.make_dataset(dd, "test", 240, emb, shuffle=False, repeat=False,
                       length=config.model.length)
audio, text, _, _ = next(iter(ds))
g = gan.eval_generator
heads = keras.Model(g.inputs, g.get_layer("inst_freq").output)
z = tf.random.normal([240, config.model.latent_dim], seed=1)
inst = heads([z, gan.eval_conditioner(text, training=False)]).numpy()
real = np.stack([analysis(x, config.model.stft_frame, config.model.stft_hop)[1]
                 for x in audio.numpy()[..., 0]])
print(f"mean |IF|: generated {np.abs(inst).mean():.3f}, real {np.abs(real).mean():.3f}")
