"""Where the widget's Export… goes when the folder picked in the dialog is not
empty: never into a folder of the user's other files (the core refuses to
replace files it did not write), but into a results folder inside it."""

from __future__ import annotations

from napari_mri_measure._qt._export import RESULTS_SUBFOLDER, results_folder


def test_an_empty_folder_is_used_as_it_is(tmp_path):
    assert results_folder(tmp_path) == tmp_path


def test_a_folder_with_earlier_results_is_used_as_it_is(tmp_path):
    (tmp_path / "measurements.json").write_text("{}")
    assert results_folder(tmp_path) == tmp_path


def test_a_folder_of_other_files_gets_a_results_subfolder(tmp_path):
    (tmp_path / "letter.docx").write_bytes(b"x")
    assert results_folder(tmp_path) == tmp_path / RESULTS_SUBFOLDER
