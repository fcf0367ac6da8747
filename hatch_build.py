"""Build hook: compile ``rt_widgets/_speedups.c`` next to its source when a wheel (or an editable
install) is built.

The extension is optional: without a C compiler the build warns and the package uses the
pure-Python twin of each function (``rt_widgets/_batch.py``). Set ``RT_WIDGETS_NO_EXTENSION=1`` to
skip compiling.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("rt_widgets") / "_speedups.c"


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("RT_WIDGETS_NO_EXTENSION"):
            return
        root = Path(self.root)
        source = root / SOURCE
        target = source.with_name("_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            try:
                compile_extension(source, target)
            except (OSError, subprocess.CalledProcessError) as exc:
                # A module built from an older source must not stay behind to be imported.
                target.unlink(missing_ok=True)
                output = getattr(exc, "stdout", None) or ""
                print(f"rt_widgets: C speedups not built ({exc}); using pure Python\n{output[-2000:]}",
                      file=sys.stderr)
                return
        if version == "standard":  # a binary wheel: tag it for this interpreter and platform
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
        build_data["artifacts"].append(str(target.relative_to(root)))


def compile_extension(source: Path, target: Path) -> None:
    """Compile and link in one step with the interpreter's own compiler settings."""
    ldshared = sysconfig.get_config_var("LDSHARED")
    if not ldshared:
        raise OSError("this Python does not say how to link an extension")
    command = [
        *shlex.split(ldshared),
        *shlex.split(sysconfig.get_config_var("CCSHARED") or ""),
        "-O2",
        "-Wall",
        "-I",
        sysconfig.get_paths()["include"],
        str(source),
        "-o",
        str(target) + ".tmp",
    ]
    subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    os.replace(str(target) + ".tmp", target)
