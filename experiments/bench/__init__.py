"""Benchmark code that stays out of the wheel: the PyTorch WaveGAN peer of condgan-bench."""
