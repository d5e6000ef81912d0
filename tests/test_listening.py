"""The listening page: its HTML, the eval page's layout, and the page in a real headless browser.

The browser tests use Debian's chromium (`apt-get install chromium`; .ci/run
installs it where apt-get works) and skip with the reason when it is absent.
"""

import json
import os
import re
import shutil
import subprocess
import wave

import numpy as np
import pytest

from condgan.evaluation import evaluate as ev
from condgan.evaluation import plots
from condgan.training import inference, listening

RATE, LENGTH = 8000, 2048
CHROMIUM = "/usr/bin/chromium"
# Writes every audio element's duration and media error, and every image's width, into the DOM.
PROBE = """<script>
window.addEventListener('load', () => {
  const audios = [...document.querySelectorAll('audio')];
  const ready = a => a.readyState >= 1 ? Promise.resolve() : new Promise(r => {
    a.addEventListener('loadedmetadata', r); a.addEventListener('error', r); a.load(); });
  Promise.all(audios.map(ready)).then(() => {
    const pre = document.createElement('pre'); pre.id = 'probe';
    pre.textContent = JSON.stringify({
      durations: audios.map(a => a.duration), errors: audios.map(a => a.error ? a.error.code : 0),
      images: [...document.images].map(i => i.complete ? i.naturalWidth : -1)});
    document.body.appendChild(pre); });
});
</script>"""


def tones(rows, cols, length=LENGTH, rate=RATE):
    t = np.arange(length) / rate
    return np.stack([np.stack([0.3 * np.sin(2 * np.pi * (200 + 150 * i + 40 * j) * t)
                               for j in range(cols)]) for i in range(rows)]).astype(np.float32)


def links(page):
    text = open(page, encoding="utf-8").read()
    return re.findall(r'(?:src|href)="([^"]*)"', text)


def assert_self_contained(page):
    text = open(page, encoding="utf-8").read()
    for needle in ("http:", "https:", "<script", "<link", "@import", "url("):
        assert needle not in text, needle
    base = os.path.dirname(page)
    for href in links(page):
        assert not href.startswith(("/", "file:", "//")) and ".." not in href.split("/"), href
        assert os.path.isfile(os.path.join(base, href.replace("%20", " "))), href


def chromium(args, profile):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180)


def needs_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium): "
                    "the listening page is not checked in a browser")


def browse(page, profile):
    """Opens `page` in headless chromium: (probe dict, screenshot float[H, W, 3])."""
    import matplotlib.image

    needs_chromium()
    page = os.path.abspath(page)
    probe = os.path.join(os.path.dirname(page), "_probe.html")
    text = open(page, encoding="utf-8").read()
    # Same directory (so the relative links resolve), images loaded eagerly for the count.
    with open(probe, "w", encoding="utf-8") as f:
        f.write(text.replace(' loading="lazy"', "").replace("</body>", PROBE + "</body>"))
    try:
        dom = chromium(["--virtual-time-budget=20000", "--dump-dom", f"file://{probe}"],
                       os.path.join(profile, "dom"))
    finally:
        os.remove(probe)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, (dom.stdout[-2000:], dom.stderr[-2000:])
    shot = os.path.join(profile, "shot.png")
    r = chromium(["--hide-scrollbars", "--window-size=1280,1400", "--virtual-time-budget=5000",
                  f"--screenshot={shot}", f"file://{page}"], os.path.join(profile, "shot"))
    assert os.path.isfile(shot), r.stderr[-2000:]
    return json.loads(found.group(1)), matplotlib.image.imread(shot)[..., :3]


def assert_not_blank(image):
    # Mostly white background, but a real share of drawn pixels in many colours.
    drawn = np.any(image < 0.9, axis=-1).mean()
    colours = len(np.unique((image[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert drawn > 0.05 and colours > 50, (drawn, colours)


@pytest.fixture()
def samples(tmp_path):
    captions, seeds = ["a bell <rings> & fades", "a dog barks"], [0, 7, 3]
    paths = inference.write_outputs(tones(2, 3), RATE, captions, seeds, str(tmp_path / "samples"),
                                    grid=True)
    return tmp_path / "samples", paths, captions, seeds


def test_samples_page_has_a_player_and_a_spectrogram_per_clip(samples):
    out, paths, captions, seeds = samples
    page = str(out / listening.PAGE_NAME)
    assert paths[-1] == page
    text = open(page, encoding="utf-8").read()
    assert text.count("<audio controls") == 6 and text.count('<img src="0') == 6
    assert "a bell &lt;rings&gt; &amp; fades" in text and "<rings>" not in text
    for seed in seeds:
        assert f"<figcaption>seed {seed}</figcaption>" in text
    for caption_index, seed in ((0, 7), (1, 3)):
        stem = f"{caption_index:02d}-{listening.slug(captions[caption_index])}-seed{seed}"
        assert f'src="{stem}.wav"' in text and f'src="{stem}.png"' in text
    # Rows in caption order, each cell its audio above its picture.
    assert text.index("a bell") < text.index("a dog barks")
    cell = re.search(r"<figure>.*?</figure>", text).group(0)
    assert cell.index("<audio") < cell.index("<img")
    assert 'src="grid.png"' in text
    assert_self_contained(page)


def test_page_refuses_missing_or_outside_files_and_writes_nothing(tmp_path):
    (tmp_path / "in").mkdir()
    wav = tmp_path / "in" / "a.wav"
    listening.write_wav(str(wav), np.zeros(256, np.float32), RATE)
    outside = tmp_path / "b.png"
    outside.write_bytes(b"x")
    page = tmp_path / "in" / "index.html"
    row = listening.Row("r", [listening.Cell(str(wav), str(tmp_path / "in" / "nope.png"), "s")])
    with pytest.raises(ValueError, match="nope.png does not exist"):
        listening.write_page(page, "t", [listening.Section("s", [row])])
    row.cells[0].image = str(outside)
    with pytest.raises(ValueError, match="outside the page's directory"):
        listening.write_page(page, "t", [listening.Section("s", [row])])
    assert not page.exists()


def fake_results(tmp_path):
    """What evaluate() returns, as far as the page needs it: 2 classes, 2 captions, 2 z."""
    metrics = {name: {"generated": 0.5 + k, "real": 1.0 + k, "ratio": (0.5 + k) / (1.0 + k)}
               for k, name in enumerate(ev.METRIC_ORDER)}
    metrics["d_self"]["ratio"] = None
    grids = {"generated": {"clips": tones(3, 2), "col_labels": ["z0", "z1"],
                           "row_labels": ["a low hum [low]", "a deep drone [low]",
                                          "a shrill beep [high]"]},
             "real": {"clips": tones(2, 2) * 0.5, "row_labels": ["low", "high"],
                      "col_labels": ["clip 0", "clip 1"]}}
    paths = {}
    for name in ("generated", "real"):
        paths[f"{name}_grid"] = plots.spectrogram_grid(
            tmp_path / f"{name}_grid.png", grids[name]["clips"], RATE, grids[name]["row_labels"],
            grids[name]["col_labels"])
    return {"model": "runs/x", "metrics": metrics, "grids": grids,
            "dataset": {"data_dir": "data/x", "classes": ["low", "high"], "sample_rate": RATE,
                        "length": LENGTH}}, paths


def test_eval_page_puts_real_clips_of_each_class_beside_its_generated_ones(tmp_path):
    results, paths = fake_results(tmp_path)
    page = listening.write_eval_page(tmp_path, results, paths)
    text = open(page, encoding="utf-8").read()
    assert text.count("<audio controls") == 3 * 2 + 2 * 2
    low, high = text.index("Class: low"), text.index("Class: high")
    section_low = text[low:high]
    assert "a low hum [low]" in section_low and "a deep drone [low]" in section_low
    assert '<tr class="real"><th>low' in section_low and "a shrill beep" not in section_low
    assert '<tr class="real"><th>high' in text[high:]
    # The metrics table: every metric with generated, real and ratio; None as a dash.
    assert "<th>real reference</th>" in text
    fd = results["metrics"]["frechet_distance"]
    assert (f"<td>frechet_distance</td><td>{fd['generated']:.4g}</td><td>{fd['real']:.4g}</td>"
            f"<td>{fd['ratio']:.4g}</td>") in text
    assert "<td>d_self</td>" in text and "<td>—</td>" in text
    assert len([f for f in os.listdir(tmp_path / "listen") if f.endswith(".wav")]) == 10
    assert_self_contained(page)


def test_samples_page_plays_in_headless_chromium(samples, tmp_path):
    out, _, _, _ = samples
    probe, shot = browse(out / listening.PAGE_NAME, str(tmp_path / "chrome"))
    assert len(probe["durations"]) == 6 and probe["errors"] == [0] * 6
    assert all(d == pytest.approx(LENGTH / RATE, abs=0.01) for d in probe["durations"])
    assert len(probe["images"]) == 7 and min(probe["images"]) > 0     # 6 cells + the grid
    assert_not_blank(shot)


def test_eval_page_plays_in_headless_chromium(tmp_path):
    results, paths = fake_results(tmp_path)
    page = listening.write_eval_page(tmp_path, results, paths)
    probe, shot = browse(page, str(tmp_path / "chrome"))
    assert len(probe["durations"]) == 10 and min(probe["durations"]) > 0
    assert probe["errors"] == [0] * 10 and min(probe["images"]) > 0
    assert_not_blank(shot)


def test_the_page_opens_from_a_copy_elsewhere(samples, tmp_path):
    # Relative links only: a moved (or unzipped) copy still finds its files.
    out, _, _, _ = samples
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    shutil.rmtree(out)
    assert_self_contained(str(moved / listening.PAGE_NAME))


def test_slug_names_a_caption_in_a_file_name():
    assert listening.slug("A dog -- barks, twice!") == "a-dog-barks-twice"
    assert listening.slug("  ?!  ") == "caption"
    assert listening.slug("word " * 20, limit=12) == "word-word-wo"
    assert listening.slug("x " * 30, limit=10) == "x-x-x-x-x"  # no "-" left at the cut


def test_write_wav_is_16_bit_pcm_of_the_clipped_clip(tmp_path):
    audio = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0], np.float32)
    path = tmp_path / "x.wav"
    listening.write_wav(str(path), audio, RATE)
    with wave.open(str(path), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, RATE)
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    np.testing.assert_allclose(pcm / 32768.0, np.clip(audio, -1, 1), atol=1.5 / 32768)
    assert sorted(os.listdir(tmp_path)) == ["x.wav"]  # written atomically: no temp file left
