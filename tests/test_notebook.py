"""The MNIST walkthrough notebook (examples/mnist_walkthrough.ipynb) runs top to bottom
in a fresh kernel: its cells train to > 80% test accuracy on the bundled sample (the
notebook asserts it) and round-trip the parameters through ft.save / ft.load."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "mnist_walkthrough.ipynb"


def test_mnist_walkthrough_notebook_executes(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook without outputs"
    # the kernel (a subprocess) imports this checkout's funtorch
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "epoch 2:" in text and "True" in text.splitlines()[-1]
