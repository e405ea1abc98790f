"""Make docs/napari_screenshot.png: the mri-measure widget reviewing a phantom study.

    xvfb-run -a -s "-screen 0 1700x1050x24" python scripts/napari_screenshot.py [--out PATH] [--truth]

Generates a synthetic CD (no patient data), opens it with the plugin's reader,
segments it with the shipped model (``--truth``: the phantom's ground truth
instead), paints a small correction into the canal with napari's brush so the
table shows a corrected slice, and saves a screenshot of the whole window.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# this checkout's code and model, whatever checkout an editable install points at
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]


def _wait(app, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "napari_screenshot.png"))
    ap.add_argument("--truth", action="store_true", help="use ground truth instead of the model")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore", message=".*PyQt5 backend.*")  # no toast in the picture
    import napari
    from qtpy.QtWidgets import QApplication

    from mri_measure.pipeline import analyse_study
    from napari_mri_measure._sample_data import make_sample_cd

    with tempfile.TemporaryDirectory(prefix="mri-measure-shot-") as tmp:
        cd = make_sample_cd(tmp, seed=args.seed, stenosis="moderate")
        if args.truth:
            from mri_measure.testing.truth import TruthSegmenter

            segmenter = TruthSegmenter.from_npz(cd.parent / "truth_labels.npz")
        else:
            from mri_measure.segment import load_segmenter

            segmenter = load_segmenter()

        viewer = napari.Viewer(show=True, title="mri-measure review (synthetic phantom)")
        viewer.window._qt_window.resize(1600, 960)
        viewer.open(str(cd), plugin="mri-measure")
        dock, widget = viewer.window.add_plugin_dock_widget("mri-measure", "Measure canal and LF")
        from qtpy.QtCore import Qt

        viewer.window._qt_window.resizeDocks([dock], [640], Qt.Orientation.Horizontal)
        app = QApplication.instance()
        study = widget.current_study()
        analysis = analyse_study(study, segmenter=segmenter)
        widget.load_analysis(analysis, study=study, segmenter=segmenter)

        # a level with a narrow canal, its most stenotic slice
        report = widget.session.report()
        level = min(
            (lv for lv in report.levels if lv.canal_area_mm2 is not None),
            key=lambda lv: lv.canal_area_mm2,
        )
        key = level.canal_area_sop_instance_uid
        widget.jump_to(key)
        i, k = widget.session.index[key]
        lab = widget.labels_layer
        # one brush correction at the canal's posterior edge
        rr, cc = np.nonzero(lab.data[k] == 1)
        c = int(round(cc.mean()))
        r = int(np.nonzero(lab.data[k][:, c] == 1)[0].max())
        lab.preserve_labels = True
        lab.brush_size = 5
        lab.paint((k, r + 1, c), 1)
        _wait(app, 0.5)
        widget.apply_edits()
        for t in range(widget.table.topLevelItemCount()):
            item = widget.table.topLevelItem(t)
            item.setExpanded(item.text(0) == level.level)
        lab.mode = "paint"
        # zoom on the canal
        centre = lab.data_to_world((k, float(rr.mean()), float(cc.mean())))
        viewer.camera.center = tuple(centre[1:])
        viewer.camera.zoom = 4.0 * viewer.camera.zoom
        _wait(app, 1.0)
        try:  # close notification toasts (e.g. the PyQt5 deprecation notice)
            from napari._qt.dialogs.qt_notification import NapariQtNotification

            for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
                toast.close()
            _wait(app, 0.5)
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shot = viewer.screenshot(str(out), canvas_only=False, flash=False)
        print(f"wrote {out} {shot.shape[1]}x{shot.shape[0]}")
        print("model", report.model.get("version") if report.model else None)
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
