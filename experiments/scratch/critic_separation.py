"""Does the critic tell the synth classes apart on real clips? (issue 8, session 7)

  python -m experiments.scratch.critic_separation <run dir> <step> [--data_root=work_data/data]

Over the real test clips: cosines between class centroids of D's contrastive audio
vectors (a) and caption vectors (u), nearest-centroid accuracy of each, and audio ->
caption-centroid accuracy (rising and falling whistle shown apart).

docs/second-base.md, fifth search, quotes it on D-seed0-zc_g05_zd2_ema at 4,500 steps
(audio -> caption-centroid accuracy 0.97, rising whistle 1.00, falling 0.95; centroid
cosine of the two whistles' audio vectors 0.34). It needs that trained run directory
(work_data/runs/synth-spectral/<name>), which is not committed.
"""

from __future__ import annotations

import numpy as np

from experiments.scratch import _common


def unit(x) -> np.ndarray:
    x = np.asarray(x)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def centroids(x: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Unit-length class means of unit-length rows: float[classes, dim]."""
    return unit(np.stack([x[labels == k].mean(0) for k in range(classes)]))


def main(argv=None) -> None:
    args = _common.parser(__doc__).parse_args(argv)
    _, gan, card, audio, text, labels = _common.run_and_test_clips(args)
    _, a, u = gan.discriminate(audio, text, training=False)
    if a is None:
        raise SystemExit(f"{args.run}: the critic has no contrastive heads (model.contrastive_dim=0)")
    names = list(card.classes)
    rise, fall, beep = (names.index(n) for n in ("rising whistle", "falling whistle", "beep"))

    def accuracies(pred) -> str:
        return (f"{(pred == labels).mean():.2f}, rising {(pred[labels == rise] == rise).mean():.2f} "
                f"falling {(pred[labels == fall] == fall).mean():.2f}")

    print(names)
    for label, x in (("audio a", unit(a)), ("caption u", unit(u))):
        c = centroids(x, labels, len(names))
        s = c @ c.T
        off = s[~np.eye(len(names), dtype=bool)]
        print(f"{label} centroid cos rise/fall {s[rise, fall]:.2f} rise/beep {s[rise, beep]:.2f} "
              f"fall/beep {s[fall, beep]:.2f}; mean off-diag {off.mean():.2f}")
        print("   nearest-centroid acc " + accuracies((x @ c.T).argmax(1)))
    caption_centroids = centroids(unit(u), labels, len(names))
    print("audio->caption-centroid acc " + accuracies((unit(a) @ caption_centroids.T).argmax(1)))


if __name__ == "__main__":
    main()
