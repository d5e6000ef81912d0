import sys
sys.argv = sys.argv[:1] + sys.argv[1:]
src = open("/work/exp/s2/drv.py").read()
src = src.split("log = open(")[0]
exec(src)
import numpy as np
def probe(tag):
    from data_prep.synth_sfx import CAPTIONS
    e = np.stack([emb[CAPTIONS["rising whistle"][0]]] * 8).astype(np.float32)
    z = tf.constant(np.random.default_rng(0).normal(size=(8, 100)).astype(np.float32))
    c = gan.conditioner(e, training=False)
    a = gan.generator([z, c], training=False).numpy()[..., 0]
    print(tag, "audio std across z", a.std(0).mean(), "audio std", a.std())
    for name in ["z_project", "conv_0", "conv_0_film", "conv_1_film", "conv_2_film", "log_magnitude", "inst_freq"]:
        l = gan.generator.get_layer(name)
        hh = keras.Model(gan.generator.inputs, l.output)([z, c]).numpy()
        print(tag, name, "std across z %.4f  overall %.4f" % (hh.std(0).mean(), hh.std()))
    x = gan.generator.get_layer("z_project")
    h = keras.Model(gan.generator.inputs, x.output)([z, c]).numpy()
    print(tag, "z_project std across z", h.std(0).mean(), "overall", h.std())
    w = x.kernel.numpy()
    print(tag, "|W_z| rms", np.sqrt((w[:100] ** 2).mean()), "|W_c| rms", np.sqrt((w[100:] ** 2).mean()), "c rms", np.sqrt((c.numpy() ** 2).mean()))
probe("init")
trainer.train_step(next(it)); gan.built = True
gan.load_weights(f"{out_dir}/final.weights.h5")
probe("trained")
