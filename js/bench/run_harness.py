"""Render every view of the built bundle in Chromium against in-page fake models and print frame costs.

    npm run build && .venv/bin/python js/bench/run_harness.py [--dpr 2] [--dark] [--screenshot out.png]

The harness page (harness.html) times every animation-frame callback: the views render only inside
them, so the figures are the per-frame cost of the metrics sparklines and of the 100k-row table.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dpr", type=float, default=1.0, help="device pixel ratio")
    parser.add_argument("--dark", action="store_true", help="JupyterLab dark theme variables")
    parser.add_argument("--screenshot", help="write a screenshot here")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(ROOT)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/js/bench/harness.html{'?dark' if args.dark else ''}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(device_scale_factor=args.dpr, viewport={"width": 1000, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_function("window.__bench !== undefined", timeout=60_000)
            print(json.dumps(page.evaluate("window.__bench"), indent=1))
            if args.screenshot:
                page.screenshot(path=args.screenshot)
            browser.close()
        if errors:
            raise SystemExit(f"page errors: {errors}")
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
