"""Execute a notebook headless with nbclient and save the widget state it ends with.

``python tests/browser/_execute.py notebooks/*.ipynb`` refreshes the saved outputs of the
notebooks in the repository (run from the repository root); the browser suite uses
:func:`run_notebook` on temporary copies.

Why not nbclient's ``store_widget_state`` alone: nbclient records only the comm messages whose
parent is the cell it is running, and rt_widgets updates its widgets from its I/O thread, whose
messages keep the parent of the cell that created the widget. The recorded state is therefore
the state at creation (``connecting``, empty tables). The last cell run here asks the kernel's
widget manager for the live state of every widget and that replaces what nbclient recorded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MARKER = "rt_widgets-state:"
_DUMP_STATE = f"""
import json as _json
import ipywidgets as _ipywidgets
print({_MARKER!r} + _json.dumps(_ipywidgets.Widget.get_manager_state(drop_defaults=False)["state"]))
"""


def run_notebook(nb: Any, workdir: Path, timeout: int = 120) -> Any:
    """Run every cell of ``nb`` (in place) and store outputs plus the final widget state."""
    nb.cells.append(nbformat.v4.new_code_cell(_DUMP_STATE))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    finally:
        dump = nb.cells.pop()
    text = "".join(o.get("text", "") for o in dump.get("outputs", []) if o.get("name") == "stdout")
    line = next(ln for ln in text.splitlines() if ln.startswith(_MARKER))
    live: dict[str, Any] = json.loads(line[len(_MARKER) :])
    widgets = nb.metadata.setdefault("widgets", {})
    saved = widgets.setdefault(WIDGET_STATE, {"version_major": 2, "version_minor": 0, "state": {}})
    for model_id, entry in live.items():
        recorded = saved["state"].get(model_id)
        if recorded is not None:
            entry["state"] = {**recorded["state"], **entry["state"]}
        saved["state"][model_id] = entry
    return nb


def main(paths: list[str]) -> int:
    # The kernels import rt_widgets from this checkout, installed or not.
    repo = str(Path(__file__).resolve().parents[2])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    for name in paths:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)
        run_notebook(nb, path.parent.resolve())
        nbformat.write(nb, path)
        print(f"executed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
