"""The PyTorch WaveGAN peer of `condgan-bench` (its row "torch_peer/small").

Outside the package on purpose: the wheel ships no PyTorch model. `condgan-bench`
imports this file only when it runs from a checkout (`bench_cli._in_checkout`),
and skips the row (saying why) when torch is not installed (the `bench` extra:
pip install 'condgan[bench]') or when it runs elsewhere.
"""

from __future__ import annotations

try:  # optional dependency: the bench extra
    import torch
    from torch import nn
except ImportError:
    torch = nn = None


def torch_available() -> bool:
    """Whether torch could be imported."""
    return torch is not None


def torch_version() -> str:
    """torch.__version__.

    Raises:
      ImportError: torch is not installed (the `bench` extra).
    """
    _require_torch()
    return torch.__version__


def torch_wavegan(model_dim: int, length: int = 16384, latent_dim: int = 100):
    """The PyTorch WaveGAN peer: (generator, discriminator) torch modules.

    Written here to match mostafaelaraby/wavegan-pytorch (models.py) with
    `upsample=False`: G = Linear(latent, 16 * 16d) -> ReLU -> five
    ConvTranspose1d(kernel 25, stride 4, padding 11, output_padding 1), ReLU
    between, tanh last; D = five Conv1d(kernel 25, stride 4, padding 11) with
    leaky ReLU 0.2 -> Linear(256 d, 1). No batch norm. That repository's phase
    shuffle is never applied (its flag is `shift_factor == 0`), so there is none
    here either; it is unconditional, so D reads no caption.

    Shapes: G maps z float32[B, latent_dim] to float32[B, 1, length]; D maps
    float32[B, 1, length] to float32[B, 1].

    Raises:
      ValueError: length is not 16384 (the peer's only 5-layer length).
      ImportError: torch is not installed (the `bench` extra).
    """
    _require_torch()
    if length != 16384:
        raise ValueError(f"the PyTorch peer is built for length 16384, got {length}")
    d = model_dim

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(latent_dim, 16 * 16 * d)
            widths = [16 * d, 8 * d, 4 * d, 2 * d, d, 1]
            self.deconvs = nn.ModuleList(
                nn.ConvTranspose1d(widths[i], widths[i + 1], 25, 4, padding=11, output_padding=1)
                for i in range(5))

        def forward(self, z):
            x = torch.relu(self.fc(z).view(-1, 16 * d, 16))
            for layer in self.deconvs[:-1]:
                x = torch.relu(layer(x))
            return torch.tanh(self.deconvs[-1](x))

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [1, d, 2 * d, 4 * d, 8 * d, 16 * d]
            self.convs = nn.ModuleList(
                nn.Conv1d(widths[i], widths[i + 1], 25, stride=4, padding=11) for i in range(5))
            self.fc = nn.Linear(256 * d, 1)

        def forward(self, x):
            for layer in self.convs:
                x = nn.functional.leaky_relu(layer(x), 0.2)
            return self.fc(x.reshape(x.shape[0], -1))

    return Generator(), Discriminator()


def torch_peer_step(model_dim: int, batch_size: int, threads: int = 2, length: int = 16384,
                    latent_dim: int = 100):
    """A zero-argument callable: one hinge step of the PyTorch peer, one D update (real +
    fake) and one G update, Adam(1e-4, 0.5, 0.9), `threads` intra-op threads.

    Returns:
      step() -> (d_loss, g_loss) as Python floats.

    Raises:
      ImportError: torch is not installed (the `bench` extra).
    """
    _require_torch()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g, d = torch_wavegan(model_dim, length, latent_dim)
    g_opt = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.5, 0.9))
    real = torch.rand(batch_size, 1, length) * 2 - 1

    def step():
        z = torch.randn(batch_size, latent_dim)
        with torch.no_grad():
            fake = g(z)
        d_opt.zero_grad(set_to_none=True)
        d_loss = torch.relu(1 - d(real)).mean() + torch.relu(1 + d(fake)).mean()
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad(set_to_none=True)
        g_loss = -d(g(torch.randn(batch_size, latent_dim))).mean()
        g_loss.backward()
        g_opt.step()
        return float(d_loss), float(g_loss)

    return step


def _require_torch() -> None:
    if torch is None:
        raise ImportError("the PyTorch peer needs torch: pip install 'condgan[bench]'")
