"""Scratch (session 6): which class each class's generated clips are heard as.

Scores a run's newest checkpoint with the synth classifier (the ablation's protocol:
960 clips, 8 z per caption, seed 1000 + seed) and prints the confusion rows.

  python experiments/scratch/confusion.py <run dir> <seed> [<step>]   (from a snapshot;
  <step>: score that checkpoint instead of the newest)
"""
import os
import sys

sys.path.insert(0, os.environ.get("CODE", "."))
from condgan.evaluation.classifier import Classifier  # noqa: E402
from condgan.evaluation.evaluate import evaluate  # noqa: E402
from condgan.training.inference import load_generator  # noqa: E402

run, seed = sys.argv[1], int(sys.argv[2])
checkpoint = (os.path.join(run, "checkpoints", f"ckpt-{sys.argv[3]}") if len(sys.argv) > 3
              else None)
DATA = os.environ.get("DATA", "work_data/data")  # where `ablation setup` put synth (session 6: /work/exp/data)
res = evaluate(load_generator(run, checkpoint=checkpoint), f"{DATA}/synth", Classifier.load(
    f"{DATA}/synth-classifier"), seed=1000 + seed, num_clips=int(os.environ.get("CLIPS", 960)),
    z_per_caption=8, captions_per_class=2)
print("accuracy", round(res["metrics"]["conditional_accuracy"]["generated"], 3))
for true, row in res["details"]["generated_confusion"].items():
    total = sum(row.values())
    top = sorted(row.items(), key=lambda kv: -kv[1])[:4]
    print(f"{true:16s} " + "  ".join(f"{k} {v / total:.2f}" for k, v in top))
