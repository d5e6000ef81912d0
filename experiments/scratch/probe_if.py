"""Does a trained spectral generator use its IF head? (issue 8, session 8)

  python -m experiments.scratch.probe_if <run dir> <step> [--data_root=work_data/data]

Mean |IF| of the generator's frames (c = mean, one z per test caption, the networks
generation reads) against the mean |IF| of the real test clips analysed into the same
frames (`condgan.nets.spectral.analysis`).

docs/second-base.md, sixth search, quotes it on D-seed0-zc_g05_zd2_ema_cc1 at 6,000
steps (generated 0.34, real 0.29). It needs that trained run directory
(work_data/runs/synth-spectral/<name>), which is not committed.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from condgan.nets.spectral import analysis
from experiments.scratch import _common


def main(argv=None) -> None:
    args = _common.parser(__doc__).parse_args(argv)
    data_dir = os.path.join(args.data_root, "synth")
    config, gan = _common.load_run(args.run, args.step)
    if config.model.generator != "spectral":
        raise SystemExit(f"{args.run}: model.generator={config.model.generator!r} has no IF head")
    card, emb = _common.caption_embeddings(config, args.run, data_dir)
    audio, text, _ = _common.test_clips(config, card, emb, data_dir)
    g = gan.eval_generator
    head = keras.Model(g.inputs, g.get_layer("inst_freq").output)
    z = tf.random.normal([len(text), config.model.latent_dim], seed=1)
    inst = np.asarray(head([z, gan.eval_conditioner(text, training=False)]))
    real = np.stack([analysis(x, config.model.stft_frame, config.model.stft_hop)[1]
                     for x in audio[..., 0]])
    print(f"mean |IF|: generated {np.abs(inst).mean():.3f}, real {np.abs(real).mean():.3f}")


if __name__ == "__main__":
    main()
