"""Builds the documentation and photographs every page in headless Chromium.

    python docs/screenshots.py OUT_DIR [--width 1440] [--height 9000]

Builds the site with `mkdocs build` into a temporary directory, serves it on
localhost, and writes one PNG per page to OUT_DIR (the page's path with `/`
replaced by `__`), cut below the last line of content, so that a person (or a
session's image viewer) can look at every page as a browser renders it:
clipped code, empty table columns, broken images. Needs Chromium
(`apt-get install chromium`; or `--chromium PATH`).
"""

import argparse
import functools
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _trim(path, gap=600):
    """Cuts the empty band between the page's content and the footer that
    Material pins to the bottom of the (tall) window."""
    import matplotlib.image as mpimg
    import numpy as np

    image = mpimg.imread(path)
    flat = image.reshape(image.shape[0], -1, image.shape[-1])
    uniform = np.abs(flat - flat[:, :1]).max(axis=(1, 2)) < 1e-3
    run = 0
    for row, empty in enumerate(uniform):
        run = run + 1 if empty else 0
        if run >= gap:
            mpimg.imsave(path, image[: row - run + 60])
            return


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=9000)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not os.path.exists(args.chromium):
        sys.exit(f"Chromium not found at {args.chromium}: apt-get install chromium, "
                 "or pass --chromium PATH.")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = pathlib.Path(tmp) / "site"
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(site)],
                       cwd=ROOT, check=True)
        handler = functools.partial(_QuietHandler, directory=str(site))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        pages = sorted(p.relative_to(site) for p in site.rglob("index.html")
                       if "assets" not in p.parts and "search" not in p.parts)
        profile = pathlib.Path(tmp) / "profile"
        try:
            for page in pages:
                url_path = page.parent.as_posix()
                url = f"http://127.0.0.1:{port}/{'' if url_path == '.' else url_path + '/'}"
                name = ("home" if url_path == "." else url_path.replace("/", "__")) + ".png"
                target = args.out / name
                subprocess.run([args.chromium, *FLAGS, f"--user-data-dir={profile}",
                                f"--window-size={args.width},{args.height}",
                                "--virtual-time-budget=3000", f"--screenshot={target}", url],
                               check=True, capture_output=True, timeout=120)
                _trim(target)
                print("wrote", target)
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
