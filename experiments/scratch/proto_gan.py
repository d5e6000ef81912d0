import tensorflow as tf
from condgan import losses
from condgan.gan import CondGAN
import proto_models

CW = {"w": 1.0}


class ContrastiveGAN(CondGAN):
    def discriminator_step(self, audio, text_embedding, loss_scale=1.0):
        b = tf.shape(audio)[0]
        c = self.conditioner(text_embedding, training=True)
        fake = tf.stop_gradient(self.generator([self._sample_z(b), c], training=True))
        with tf.GradientTape() as tape:
            both = self.discriminator([tf.concat([audio, fake], 0), tf.concat([text_embedding, text_embedding], 0)], training=True)
            s, a, u = both
            rl, fl = s[:b], s[b:]
            d_loss = losses.discriminator_loss(self.loss_kind, rl, fl, None, 0.0)
            nce = proto_models.info_nce(a[:b], u[:b], text_embedding)
            total = (d_loss + CW["w"] * nce) * loss_scale
        grads = tape.gradient(total, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        return d_loss, nce, tf.reduce_mean(rl), tf.reduce_mean(fl), tf.constant(0.0)

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
            s, a, u = self.discriminator([fake, d_text], training=True)
            g_loss = losses.generator_loss(self.loss_kind, s)
            nce = proto_models.info_nce(a, u, d_text)
            total = (g_loss + kl + CW["w"] * nce) * loss_scale
        v = self.g_variables
        grads = tape.gradient(total, v)
        self.g_optimizer.apply_gradients(zip(grads, v))
        return g_loss, kl, nce, replayed
