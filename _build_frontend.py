"""The wheel's build hook: builds the front end with npm, or says plainly what is missing.

``pyproject.toml`` names :func:`build` as hatch-jupyter-builder's build function. It runs only when
``rt_widgets/static/widget.js`` is missing (a git checkout; sdists and wheels carry the built file).
"""

from __future__ import annotations

import shutil
from typing import Any

NO_NPM = (
    "rt_widgets: building from source needs npm to build the widget front end "
    "(rt_widgets/static/widget.js), and npm is not on PATH.\n"
    "  Install Node.js 20 or newer, which includes npm: for example `sudo apt-get install nodejs npm`"
    " (Debian, Ubuntu), `brew install node` (macOS) or `conda install -c conda-forge nodejs`;"
    " then run the same pip command again.\n"
    "  Or install a built wheel or sdist of rt_widgets, which carries the front end and needs no npm."
)


def build(target_name: str, version: str, **kwargs: Any) -> None:
    """hatch-jupyter-builder's ``npm_builder``, after checking that npm can be found."""
    from hatch_jupyter_builder import npm_builder

    npm = kwargs.get("npm") or ["npm"]
    command = npm[0] if isinstance(npm, list) else str(npm).split()[0]
    if shutil.which(command) is None:
        raise RuntimeError(NO_NPM)
    npm_builder(target_name, version, **kwargs)
