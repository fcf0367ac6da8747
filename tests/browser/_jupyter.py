"""Driving a notebook in JupyterLab or Notebook 7 through the application object.

The servers run with ``expose_app_in_browser``, so ``window.jupyterapp`` is the running
application: commands run exactly as the menus run them, and the notebook model can be read.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

# Returns the open notebook panel (JupyterLab and Notebook 7 share the shell API).
_PANEL = """
const rtwPanel = () => {
  const app = window.jupyterapp;
  if (!app) return null;
  const current = app.shell.currentWidget;
  if (current && current.sessionContext && current.content && current.content.widgets) {
    return current;
  }
  for (const w of app.shell.widgets('main')) {
    if (w.sessionContext && w.content && w.content.widgets) return w;
  }
  return null;
};
"""


def js(body: str) -> str:
    """An async page function with ``rtwPanel()`` in scope (for ``evaluate``)."""
    return f"async (arg) => {{ {_PANEL} {body} }}"


def predicate(body: str) -> str:
    """A plain page function with ``rtwPanel()`` in scope (for ``wait_for_function``, which
    would take an async function's promise for a truthy answer)."""
    return f"(arg) => {{ {_PANEL} {body} }}"


def write_feed_notebook(lab: Any, name: str, url: str) -> None:
    """A notebook ``name`` in the lab's root whose one cell (tagged ``setup``) imports
    RealtimeWidget and sets ``url`` to the feed's URL."""
    setup = {
        "cell_type": "code", "execution_count": None, "id": "setup", "metadata": {"tags": ["setup"]},
        "outputs": [], "source": f"from rt_widgets import RealtimeWidget\n\nurl = {url!r}",
    }
    notebook = {
        "cells": [setup],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (lab.root / name).write_text(json.dumps(notebook))


def open_titled_notebook(page: Any, lab: Any, name: str, title: str) -> None:
    """Write a notebook ``name`` whose one cell is the markdown ``title`` and open it in ``page``
    (its kernel started: cells are added with :func:`add_cell`)."""
    notebook = {
        "cells": [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": title}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (lab.root / name).write_text(json.dumps(notebook))
    open_notebook(page, lab, name)


def open_notebook(page: Any, lab: Any, path: str, ui: str = "lab") -> None:
    """Open ``path`` and wait until its kernel is idle."""
    if ui == "lab":
        # A workspace of its own: JupyterLab would otherwise reopen what an earlier page had open.
        workspace = f"test-{secrets.token_hex(4)}"
        url = f"{lab.base}/lab/workspaces/{workspace}/tree/{path}?token={lab.token}"
    else:
        url = f"{lab.base}/notebooks/{path}?token={lab.token}"
    page.goto(url)
    page.wait_for_function(
        predicate(
            "const p = rtwPanel();"
            "if (!p || !p.sessionContext.session || !p.sessionContext.session.kernel) return false;"
            "return p.context.isReady && p.sessionContext.session.kernel.status === 'idle';"
        ),
        timeout=90_000,
        polling=200,
    )
    tag_cells(page)


def tag_cells(page: Any) -> None:
    """Copy each cell's metadata tags to a ``data-rtw-tag`` attribute, for locators."""
    page.evaluate(
        js(
            "for (const cell of rtwPanel().content.widgets) {"
            "  const tags = cell.model.getMetadata('tags') || [];"
            "  if (tags.length) cell.node.setAttribute('data-rtw-tag', tags.join(' '));"
            "}"
        )
    )


def cell(page: Any, tag: str) -> Any:
    return page.locator(f"[data-rtw-tag~='{tag}']")


def errors(page: Any) -> list[str]:
    """Tracebacks in the outputs of the open notebook."""
    return list(
        page.evaluate(
            js(
                "const out = [];"
                "for (const c of rtwPanel().content.widgets) {"
                "  if (c.model.type !== 'code') continue;"
                "  for (const o of c.model.outputs.toJSON()) {"
                "    if (o.output_type === 'error') out.push(o.ename + ': ' + o.evalue);"
                "  }"
                "}"
                "return out;"
            )
        )
    )


def run_all(page: Any, timeout_ms: int = 120_000) -> None:
    """Run every cell (the "Run All Cells" command) and wait until the kernel is done."""
    page.evaluate(js("await window.jupyterapp.commands.execute('notebook:run-all-cells');"))
    page.wait_for_function(
        predicate(
            "const p = rtwPanel();"
            "const cells = p.content.widgets.filter(c => c.model.type === 'code');"
            "const ran = cells.every(c => c.model.executionCount !== null);"
            "return ran && p.sessionContext.session.kernel.status === 'idle';"
        ),
        timeout=timeout_ms,
        polling=200,
    )
    found = errors(page)
    assert not found, f"cells raised: {found}"


def execute(page: Any, code: str, timeout_ms: int = 30_000) -> dict[str, Any]:
    """Run ``code`` in the notebook's kernel without a cell; returns the execute reply content."""
    reply = page.evaluate(
        js(
            "const k = rtwPanel().sessionContext.session.kernel;"
            "const future = k.requestExecute({code: arg, store_history: false});"
            "const out = [];"
            "future.onIOPub = (m) => {"
            "  if (m.header.msg_type === 'stream') out.push(m.content.text);"
            "  if (m.header.msg_type === 'execute_result') out.push(m.content.data['text/plain']);"
            "};"
            "const r = await future.done;"
            "return {status: r.content.status, ename: r.content.ename || null,"
            "        evalue: r.content.evalue || null, output: out.join('')};"
        ),
        code,
    )
    assert reply["status"] == "ok", f"{code!r} failed: {reply['ename']}: {reply['evalue']}"
    return dict(reply)


def evaluate_py(page: Any, expression: str) -> Any:
    """The value of a Python expression in the kernel, passed through JSON."""
    reply = execute(page, f"import json as _j; print(_j.dumps({expression}))")
    return json.loads(reply["output"])


def add_cell(page: Any, code: str, tag: str, *, wait: bool = True) -> Any:
    """Append a code cell tagged ``tag``, run it, and return its locator.

    With ``wait=False`` the cell is started and the call returns at once (for a cell that
    keeps the kernel busy).
    """
    page.evaluate(
        js(
            "const p = rtwPanel(); const nb = p.content;"
            "nb.activeCellIndex = nb.widgets.length - 1;"
            "nb.deselectAll();"
            "await window.jupyterapp.commands.execute('notebook:insert-cell-below');"
            "const c = nb.activeCell;"
            "c.model.sharedModel.setSource(arg.code);"
            "c.model.setMetadata('tags', [arg.tag]);"
            "c.node.setAttribute('data-rtw-tag', arg.tag);"
            "const run = window.jupyterapp.commands.execute('notebook:run-cell');"
            "if (arg.wait) await run;"
        ),
        {"code": code, "tag": tag, "wait": wait},
    )
    if wait:
        page.wait_for_function(
            predicate(
                "const c = rtwPanel().content.widgets.find("
                "  c => (c.model.getMetadata('tags') || []).includes(arg));"
                "return c && c.model.executionCount !== null"
                "  && rtwPanel().sessionContext.session.kernel.status === 'idle';"
            ),
            arg=tag,
            polling=100,
        )
        found = errors(page)
        assert not found, f"cell {tag!r} raised: {found}"
    return cell(page, tag)
