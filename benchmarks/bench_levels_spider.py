"""Disc detection on real sagittal T2 slices (SPIDER, CC BY 4.0) — count and order.

Each PNG in ``../shared/data/spider_sagittal/images`` (relative to the repo
root, or ``--data``) is wrapped as a one-slice sagittal :class:`LoadedStack`
with an **assumed** pixel spacing of 0.6 mm (the re-export resized the slices,
so the true spacing is unknown, roughly 0.5–0.7 mm) and a conventional
sagittal orientation: rows toward posterior (+y), columns toward the feet
(−z) — the images show anterior on the left, head at the top.
:func:`mri_measure.levels.find_discs` runs on it and the detected discs are
compared with the mask's disc components (value 29):

* mask discs = connected components of value 29, fragments whose centroids
  are within 25 px merged, pieces under 150 px (slivers cut by the image
  border) dropped, ordered head → feet;
* each detected disc is matched to the mask disc nearest to its centre
  (pixel distance to the component, at most 20 px ≈ 12 mm, else unmatched);
  an image **passes** when the number of
  detected discs equals the number of mask discs and the i-th detected disc
  matches the i-th mask disc for every i;
* also reported: lowest disc correct (the detected L5-S1 matches the mask's
  lowest disc and no other detection does) and the mean absolute count
  difference.

Usage: ``python benchmarks/bench_levels_spider.py [--data DIR] [--draw OUT.png]
[--no-write]`` — writes the "Disc levels" section of benchmarks/RESULTS.md.
Data: van der Graaf J.W. et al., Sci Data 11:264 (2024), doi:10.1038/s41597-024-03090-w.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mri_measure.levels import find_discs  # noqa: E402
from mri_measure.types import LoadedStack, SliceInfo, Stack  # noqa: E402

ASSUMED_PIXEL_MM = 0.6
MATCH_PX = 20  # a detected disc centre within 20 px (~12 mm) of a mask disc matches it
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "spider_sagittal"
SECTION = "## Disc levels (levels.find_discs on SPIDER sagittal slices)"


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    a = np.asarray(Image.open(path))
    return a[..., 0] if a.ndim == 3 else a


def as_loaded_stack(image: np.ndarray, pixel_mm: float = ASSUMED_PIXEL_MM) -> LoadedStack:
    """Wrap a 2-D sagittal PNG (anterior left, head up) as a one-slice LoadedStack."""
    sl = SliceInfo(
        sop_instance_uid="2.25.1",
        source="spider",
        position_mm=(0.0, -150.0, 200.0),
        orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        spacing_mm=(pixel_mm, pixel_mm),
        rows=int(image.shape[0]),
        columns=int(image.shape[1]),
    )
    st = Stack("1", "2.25.2", "2.25.3", (sl,), role="sagittal_t2", frame_of_reference_uid="2.25.4")
    return LoadedStack(st, image[None].astype(np.float32), (sl,))


def patient_to_pixel(p, pixel_mm: float = ASSUMED_PIXEL_MM) -> tuple[float, float]:
    return (200.0 - p[2]) / pixel_mm, (p[1] + 150.0) / pixel_mm


def mask_discs(mask: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the cleaned disc components, head → feet."""
    lab, n = ndi.label(mask == 29)
    comps = [(np.array(ndi.center_of_mass(lab == i)), lab == i) for i in range(1, n + 1)]
    comps = [c for c in comps if c[1].sum() >= 5]
    comps.sort(key=lambda c: c[0][0])
    merged: list[list] = []
    for com, m in comps:
        if merged and np.linalg.norm(merged[-1][0] - com) < 25:
            merged[-1][1] = merged[-1][1] | m
            merged[-1][0] = np.array(ndi.center_of_mass(merged[-1][1]))
        else:
            merged.append([com, m])
    return [m for _, m in merged if m.sum() >= 150]


def evaluate(image: np.ndarray, mask: np.ndarray):
    discs = find_discs(as_loaded_stack(image))
    truth = mask_discs(mask)
    pts = [patient_to_pixel(d.centre_mm) for d in reversed(discs)]  # head → feet
    matched = []
    for r, c in pts:
        dists = []
        for m in truth:
            rr, cc = np.nonzero(m)
            dists.append(float(np.min(np.hypot(rr - r, cc - c))))
        k = int(np.argmin(dists)) if dists else -1
        matched.append(k if k >= 0 and dists[k] <= MATCH_PX else -1)
    ok = len(pts) == len(truth) and matched == list(range(len(truth)))
    lowest_ok = (
        bool(pts) and bool(truth) and matched[-1] == len(truth) - 1
        and matched.count(len(truth) - 1) == 1
    )
    return ok, lowest_ok, len(pts), len(truth), pts, discs


def draw(rows, out: Path) -> None:
    from PIL import Image, ImageDraw

    tiles = []
    for name, image, mask, pts, discs in rows:
        rgb = np.stack([np.clip(image.astype(float), 0, 255)] * 3, -1).astype(np.uint8)
        rgb[..., 1] = np.maximum(rgb[..., 1], (mask == 29).astype(np.uint8) * 110)
        im = Image.fromarray(rgb)
        d = ImageDraw.Draw(im)
        for (r, c), disc in zip(pts, reversed(discs)):
            d.ellipse([c - 5, r - 5, c + 5, r + 5], outline=(255, 0, 0), width=2)
            d.text((c + 8, r - 6), disc.level, fill=(255, 255, 0))
        d.text((5, 5), name[:12], fill=(0, 255, 255))
        tiles.append(np.asarray(im.resize((256, int(256 * image.shape[0] / image.shape[1]))))[:320])
    h = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    while len(tiles) % 7:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[i : i + 7], 1) for i in range(0, len(tiles), 7)], 0)
    Image.fromarray(grid).save(out)


def write_results(text: str, section: str = SECTION) -> None:
    """Replace (or append) ``section`` of benchmarks/RESULTS.md; other sections are left alone."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if section in old:
        head, rest = old.split(section, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else "\n"
        new = head + text + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--draw", type=Path, default=None)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    files = sorted((args.data / "images").glob("*.png"))
    if not files:
        print(f"no SPIDER images under the data folder; nothing to do", file=sys.stderr)
        return 2
    n_ok = n_low = 0
    diffs, rows, lines = [], [], []
    t0 = time.perf_counter()
    for f in files:
        image = read_png(f)
        mask = read_png(args.data / "masks" / f.name)
        ok, low, nd, nt, pts, discs = evaluate(image, mask)
        n_ok += ok
        n_low += low
        diffs.append(abs(nd - nt))
        lines.append(f"| {f.name.split('_')[0]} | {nt} | {nd} | {'yes' if low else 'no'} | {'PASS' if ok else 'fail'} |")
        rows.append((f.name, image, mask, pts, discs))
        print(lines[-1])
    dt = (time.perf_counter() - t0) / len(files)
    summary = (
        f"{SECTION}\n\n"
        f"Command: `python benchmarks/bench_levels_spider.py` — {len(files)} real mid-sagittal "
        f"T2 SPACE slices (SPIDER, CC BY 4.0, van der Graaf et al. 2024), pixel spacing "
        f"**assumed** {ASSUMED_PIXEL_MM} mm (unknown after the re-export's resize).\n\n"
        f"- count and order of all discs match the mask: **{n_ok}/{len(files)}** "
        f"({100.0 * n_ok / len(files):.0f} %)\n"
        f"- lowest detected disc (named L5-S1) is the mask's lowest disc: "
        f"**{n_low}/{len(files)}** ({100.0 * n_low / len(files):.0f} %)\n"
        f"- mean |detected − mask| disc count: {np.mean(diffs):.2f}\n"
        f"- time per slice: {dt:.2f} s (find_discs, one slice, this machine)\n\n"
        "| patient | mask discs | detected | lowest ok | count+order |\n|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )
    print(summary)
    if args.draw:
        draw(rows, args.draw)
    if not args.no_write:
        write_results(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
