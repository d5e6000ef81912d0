"""condgan: text-conditioned raw-audio GAN that resists mode collapse.

Where the library ends and the app starts:

- The library is every module of `condgan` outside `condgan.training`: the method
  (`condgan.method`), the networks (`condgan.nets`), the loss terms
  (`condgan.objective`), the GAN (`condgan.gan`), config, data, records, text,
  audio, export and evaluation (`condgan.evaluation`, its pictures included). It has
  no flags, assumes no file layout beyond its own prepared dataset format
  (`condgan.records`), and never imports the app.
- The app is `condgan.training`: the trainer, the training loop and run
  directories, inference helpers, benchmarks and the command-line tools
  (condgan-train, -export, -generate, -eval, -demo, -bench, -train-classifier).
  It imports the library, never the other way round.
- `condgan.data_prep` (the folder data_prep/) makes datasets: condgan-prepare and
  condgan-build-text-encoder. It uses the library only, never the app.

tests/test_import_graph.py holds the project to this: no import cycles, no import
of `condgan.training` from outside it, and no import inside a function without a
stated reason.
"""

__version__ = "0.1.0"
