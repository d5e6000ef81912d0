"""condgan: text-conditioned raw-audio GAN that resists mode collapse.

The library has no flags and assumes no file layout beyond its own prepared
dataset format (`condgan.records`). Command-line front ends live in
`condgan.training` (train/export/generate/eval) and `data_prep` (datasets).
"""

__version__ = "0.1.0"
