"""The notebooks: stored without outputs, and every cell runs offline at small sizes.

Each notebook is executed with nbclient in a temporary folder, with its parameter cell (tagged
`parameters`) set to `OFFLINE = True` and `SMALL = True`. The kernel is this interpreter: a
kernelspec written for `sys.executable` (ipykernel's own `write_kernel_spec`), so a `python3`
kernelspec elsewhere on the machine cannot pick another environment.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import pathlib  # noqa: E402
import re  # noqa: E402

import nbformat  # noqa: E402
import pytest  # noqa: E402
from ipykernel.kernelspec import write_kernel_spec  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("experiments.ipynb", "quickstart.ipynb")
KERNEL_NAME = "vidcls-keras-test"
CELL_TIMEOUT_S = 300
TEST_PARAMETERS = {"OFFLINE": True, "SMALL": True}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=4)


def _parameter_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    return cells[0]


def set_parameters(notebook: nbformat.NotebookNode, **values) -> None:
    """Rewrites `NAME = ...` lines of the parameter cell (each must appear exactly once)."""
    cell = _parameter_cell(notebook)
    for name, value in values.items():
        source, count = re.subn(
            rf"^{name} = .*$", f"{name} = {value!r}", cell.source, flags=re.MULTILINE
        )
        assert count == 1, f"parameter {name} must be set on exactly one line, found {count}"
        cell.source = source


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A kernelspec that runs ipykernel in this interpreter (`sys.executable`)."""
    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(kernels / KERNEL_NAME)
    return KernelSpecManager(kernel_dirs=[str(kernels)])


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {index} has outputs: clear them"
            assert cell.execution_count is None, f"{name} cell {index} has an execution count"
    assert notebook.cells[0].cell_type == "markdown", "a notebook opens with what it shows"
    assert notebook.cells[-1].cell_type == "markdown", "a notebook closes with what was learned"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_sets_backend_first_and_guards_install(name):
    first_code = next(cell for cell in _read(name).cells if cell.cell_type == "code").source
    assert first_code.index('os.environ["KERAS_BACKEND"] = "jax"') < first_code.index("pip")
    assert 'importlib.util.find_spec("vidcls_keras") is None' in first_code
    assert "<org>" in first_code and "PLACEHOLDER" in first_code
    # One parameter, one pip install from it: the package carries its TFDS datasets, so a
    # notebook never clones the repository or points at a builders/ folder.
    assert first_code.count("REPOSITORY_URL = ") == 1
    assert '%pip install --quiet "vidcls_keras @ git+{REPOSITORY_URL}"' in first_code


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_builds_datasets_from_the_package(name):
    sources = "\n".join(cell.source for cell in _read(name).cells)
    assert "import vidcls_keras.datasets" in sources
    for stale in ("git clone", "builders/", "sys.path.insert"):
        assert stale not in sources, f"{name} still mentions {stale!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_offline(name, tmp_path, kernel_specs):
    notebook = _read(name)
    set_parameters(notebook, **TEST_PARAMETERS)
    manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    if name == "experiments.ipynb":
        table = (tmp_path / "experiments_output" / "runs" / "results.md").read_text()
        assert "4 runs in" in outputs  # SMALL: one seed of the four rows in ONLY
        for description in (
            "mean + linear, mixup",
            "transformer",
            "zero-shot CLIP (no training)",
            "text-aligned LSTM",
        ):
            assert f"| {description} |" in table
        assert "| random frame |" not in table  # a row outside ONLY did not run
    else:
        assert (tmp_path / "quickstart_output" / "classifier.keras").is_file()
        assert "largest difference in probability" in outputs
        assert "query: 'waves on the ocean'" in outputs
