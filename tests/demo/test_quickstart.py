"""notebooks/quickstart.ipynb executed end to end in a real kernel (nbclient) on the demo's lake."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

from .conftest import DemoResult

pytestmark = pytest.mark.slow


def test_the_notebook_runs_without_an_error_and_shows_its_results(demo: DemoResult, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    assert demo.result.returncode == 0, demo.result.stderr[-3000:]
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    monkeypatch.setenv("MEDLAKE_HOME", str(demo.home))  # the kernel inherits the environment
    monkeypatch.setenv("MEDLAKE_PROFILE", "local")
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [output for cell in code for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert all(cell.execution_count for cell in code)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 2  # the feature plot and the CT frame

    def text(marker: str) -> str:
        cell = next(cell for cell in code if marker in cell.source)
        return "\n".join(output.get("data", {}).get("text/plain", "") for output in cell.outputs)

    seed = text("patient-mothersMaidenName")
    assert "MothersMaidenName" in seed and seed.count("None") == 0
    assert "(40.0, 400.0, (" in text("apply_windowing")  # the generator's soft-tissue window, then the shape
    assert "fhir.patient" in text("FROM ops.quality")
