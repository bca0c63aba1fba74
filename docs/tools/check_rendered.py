"""Open the built docs in headless Chromium, offline, and check that every formula rendered.

Usage::

    python docs/tools/check_rendered.py [--build docs/_build/html] [--out docs/_build/screenshots]
                                        [PAGE ...]

PAGE is a path inside the build (``rules/coefficient.html``); by default every rule page,
the allocation model and the getting-started page. For each page the script

1. checks the HTML references no resource over the network (stylesheets, scripts, images,
   fonts: only ``<a href>`` links may point outside);
2. serves the build from 127.0.0.1 (fonts loaded by a stylesheet need an HTTP origin) and
   loads the page in headless Chromium with every host name resolving nowhere, so nothing can
   be fetched from outside;
3. reads the DOM after load: every ``.math`` element must hold KaTeX output (``katex-html``),
   with no ``katex-error`` and no raw ``$$`` left in the text;
4. checks every request the page made was answered (no 404 for a stylesheet or font) and that
   the KaTeX fonts were loaded where the page has math;
5. saves a screenshot to ``--out``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``), or ``CHROMIUM=/path/to/chrome``.
Exits 1 listing every failure.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    # no name resolves: nothing outside this machine can be reached
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def find_chromium() -> str:
    """The Chromium binary: ``$CHROMIUM``, else the first of the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: `apt-get install -y chromium` or set CHROMIUM")


class _Refs(html.parser.HTMLParser):
    """Collects resource URLs (not navigation links) from an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        rel = a.get("rel") or ""
        if tag == "link" and a.get("href") and any(k in rel for k in ("stylesheet", "preload",
                                                                        "icon", "modulepreload")):
            self.resources.append(a["href"] or "")
        for key in ("src", "data", "poster"):
            if a.get(key):
                self.resources.append(a[key] or "")
        if a.get("style") and "url(" in (a.get("style") or ""):
            self.resources += re.findall(r"url\(([^)]+)\)", a["style"] or "")


def external_resources(page: Path) -> list[str]:
    """Resources of the page (and of the local stylesheets it links) fetched from outside."""
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    bad = [r for r in parser.resources if re.match(r"^(https?:)?//", r.strip("'\" "))]
    for res in parser.resources:
        if re.match(r"^(https?:)?//", res) or not res.split("?")[0].endswith(".css"):
            continue
        css = (page.parent / res.split("?")[0]).resolve()
        if css.is_file():
            for url in re.findall(r"url\(([^)]+)\)", css.read_text(encoding="utf-8")):
                if re.match(r"^(https?:)?//", url.strip("'\" ")):
                    bad.append(f"{url} (in {css.name})")
    return bad


class _Log:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[str, int]] = []

    def take(self) -> list[tuple[str, int]]:
        with self.lock:
            out, self.entries = self.entries, []
        return out


def serve(root: Path, log: _Log) -> http.server.ThreadingHTTPServer:
    """Serve ``root`` on 127.0.0.1 (a free port), recording each request's path and status."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            with log.lock:
                log.entries.append((self.path, int(code) if str(code).isdigit() else 0))

        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_chromium(chrome: str, profile: Path, args: list[str], url: str) -> str:
    proc = subprocess.run(
        [chrome, *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def check_dom(dom: str) -> tuple[list[str], int]:
    """Problems with the rendered DOM, and the number of formulas found."""
    problems = []
    n_math = len(re.findall(r'class="math[" ]', dom))
    n_katex = len(re.findall(r'class="katex-html"', dom))
    if n_math and n_katex < n_math:
        problems.append(f"{n_math} formulas but only {n_katex} rendered by KaTeX")
    if "katex-error" in dom:
        problems.append("KaTeX reported an error (class katex-error)")
    # raw TeX delimiters left in the text (outside code blocks and the KaTeX annotations)
    text = re.sub(r"<pre.*?</pre>|<code.*?</code>|<annotation.*?</annotation>", "", dom,
                  flags=re.DOTALL)
    text = re.sub(r"<[^>]+>", "", text)
    if "$$" in text:
        problems.append("raw $$ left in the page text")
    if re.search(r"\\\[|\\\(|\\begin\{", text):
        problems.append("raw TeX delimiters left in the page text")
    return problems, n_math


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", help="pages inside the build (default: rule pages)")
    ap.add_argument("--build", type=Path, default=DOCS / "_build" / "html")
    ap.add_argument("--out", type=Path, default=DOCS / "_build" / "screenshots")
    ap.add_argument("--window", default="1280,2400", help="window size for screenshots")
    args = ap.parse_args(argv)

    build: Path = args.build.resolve()
    if not (build / "index.html").is_file():
        sys.exit(f"no built docs in {build}: run `nox -s docs` first")
    pages = args.pages or sorted(
        [p.relative_to(build).as_posix() for p in (build / "rules").glob("*.html")]
        + ["model.html", "getting-started.html"]
    )
    chrome = find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    log = _Log()
    server = serve(build, log)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    failures: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tf-chromium-") as tmp:
            for i, page in enumerate(pages):
                path = build / page
                if not path.is_file():
                    failures.append(f"{page}: not in the build")
                    continue
                for res in external_resources(path):
                    failures.append(f"{page}: loads a resource from the network: {res}")
                profile = Path(tmp) / f"profile-{i}"
                log.take()
                dom = run_chromium(chrome, profile, ["--dump-dom"], base + page)
                problems, n_math = check_dom(dom)
                shot = args.out / (page.replace("/", "-").removesuffix(".html") + ".png")
                run_chromium(
                    chrome, profile, [f"--window-size={args.window}", f"--screenshot={shot}"],
                    base + page,
                )
                requests = log.take()
                missing = sorted({p for p, code in requests
                                  if code >= 400 and not p.startswith("/favicon")})
                problems += [f"request failed: {p}" for p in missing]
                fonts = {p.rsplit("/", 1)[-1] for p, code in requests
                         if "/katex/fonts/" in p and code == 200}
                if n_math and not fonts:
                    problems.append("page has formulas but loaded no KaTeX font")
                failures += [f"{page}: {p}" for p in problems]
                status = "ok" if not problems else "FAILED"
                print(f"{status:6} {page}: {n_math} formulas, {len(fonts)} KaTeX fonts, "
                      f"screenshot {shot}")
    finally:
        server.shutdown()
    if failures:
        print("\n".join(["", "FAILURES:", *failures]), file=sys.stderr)
        return 1
    print(f"all {len(pages)} pages rendered their formulas offline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
