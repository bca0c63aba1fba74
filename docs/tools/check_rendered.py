"""Open the built docs in headless Chromium, offline and without system CJK fonts, and check them.

Usage::

    python docs/tools/check_rendered.py [--build docs/_build/html] [--out docs/_build/screenshots]
                                        [--width 1280] [--system-fonts] [PAGE ...]

PAGE is a path inside the build (``rules/coefficient.html``); by default every page of the
build (rule pages, examples rendered from notebooks, API reference, changelog, the index and
search pages, ...) except the highlighted source under ``_modules``. The script
drives one Chromium over the DevTools protocol (``--remote-debugging-pipe``: no port, no
extra package), with a window ``--width`` pixels wide, and for each page

1. checks the HTML references no resource over the network (stylesheets, scripts, images,
   fonts: only ``<a href>`` links may point outside);
2. serves the build from 127.0.0.1 (fonts loaded by a stylesheet need an HTTP origin) and
   loads the page with every host name resolving nowhere, so nothing can be fetched from
   outside, and waits for its web fonts;
3. **formulas**: every ``.math`` element must hold KaTeX output (``katex-html``), with no
   ``katex-error`` and no raw ``$$`` left in the text, and the KaTeX fonts must have loaded;
4. **missing glyphs**: Chromium runs with a private fontconfig whose only font is a Latin
   one (KaTeX's ``KaTeX_Main`` from the build, renamed: see :func:`bare_fontconfig`), so the
   machine's own fonts (CJK or not) cannot hide a missing web font. For every element whose
   own text holds CJK characters (the blocks of ``tools/subset_cjk_font.py``'s
   ``CJK_RANGES``), ``CSS.getPlatformFontsForNode`` reports the fonts that drew it as laid out
   for the reader, with their glyph counts: the docs' web font ("Townfiscal Sans CJK SC") must
   have drawn every one of its CJK characters. Otherwise they were drawn with the fallback's
   empty boxes: the web font is missing, lacks the character, or was not loaded in time to be
   used (the pages preload it). Text inside KaTeX's MathML copy (read by screen readers, never
   drawn) and elements not rendered are skipped. ``--system-fonts`` keeps the machine's fonts
   instead, to compare;
5. **clipping**, with the window at ``--width`` (1,280 px by default). A box fails if
   its content is wider than the box (``scrollWidth > clientWidth`` by more than one pixel,
   which absorbs sub-pixel rounding) and

   - it hides the excess (``overflow-x: hidden`` or ``clip``): content is cut off;
   - it scrolls (``overflow-x: auto`` or ``scroll``) and is not a table's scroller
     (``div.table-wrapper``, or a box marked ``tf-scroll``): code, output and formula lines
     must wrap or be split so that their results show, not sit behind a scrollbar. A wide
     table may scroll, if its scrollbar is shown (it takes room below the table; a stylesheet
     hiding it fails);
   - or it lets the excess spill (``overflow-x: visible``) past the right edge of the
     article's column (furo's ``.content``, the article with the padding on its right), or of
     the window for boxes outside the article.

   The page as a whole must not scroll sideways. Boxes out of view (furo's closed drawers),
   hidden ones, and the boxes inside a formula's ``.katex-html`` (judged through it) are not
   considered;
6. checks every request the page made was answered (no 404 for a stylesheet or font);
7. saves a screenshot (the page's first ``--height`` pixels, 2,400 by default) to ``--out``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``), or ``CHROMIUM=/path/to/chrome``.
Exits 1 listing every failure.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import html.parser
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

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
    "--mute-audio",
    # no name resolves: nothing outside this machine can be reached
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# The docs' CJK web font: the family name inside the font file (what Chromium reports) and the
# file the stylesheet loads.
WEB_FONT_FAMILY = "Townfiscal Sans CJK SC"
WEB_FONT_FILE = "_static/fonts/townfiscal-cjk.woff2"
# Keep in step with CJK_RANGES in tools/subset_cjk_font.py (tests/test_docs_check.py checks).
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x2E80, 0x2FDF), (0x2FF0, 0x303F), (0x3040, 0x30FF), (0x3100, 0x312F), (0x3190, 0x31FF),
    (0x3200, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFE10, 0xFE1F),
    (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF),
)


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


FALLBACK_FAMILY = "Townfiscal Check Fallback"


def bare_fontconfig(folder: Path, build: Path) -> Path:
    """A fontconfig file whose only font is a Latin one no stylesheet names.

    With it Chromium finds no system font but this one: a CJK character the web fonts do not
    draw falls back to it and shows as an empty box, whatever fonts this machine has. The font
    is KaTeX's ``KaTeX_Main`` from the build, renamed "Townfiscal Check Fallback" (with
    fontTools) so that it cannot stand in for the KaTeX web font of the same name.
    """
    fonts = folder / "fonts"
    fonts.mkdir(parents=True, exist_ok=True)
    main = build / "_static" / "katex" / "fonts" / "KaTeX_Main-Regular.ttf"
    if not main.is_file():
        sys.exit(f"no {main.relative_to(build)} in the build: the bare fontconfig needs it")
    import logging

    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # KaTeX's odd timestamps
    font = TTFont(str(main))
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = FALLBACK_FAMILY
        elif record.nameID in (3, 6):
            record.string = FALLBACK_FAMILY.replace(" ", "")
    font.save(str(fonts / "fallback.ttf"))
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{fonts}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n",
        encoding="utf-8",
    )
    return conf


class Browser:
    """One headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, chrome: str, profile: Path, width: int, fontconfig: Path | None) -> None:
        self.width = width
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()
        env = dict(os.environ)
        if fontconfig is not None:
            env["FONTCONFIG_FILE"] = str(fontconfig)
            env.pop("FONTCONFIG_PATH", None)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        # a small Python shim moves the pipe ends to the descriptors Chromium reads (3) and
        # writes (4), then becomes Chromium
        shim = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); " \
               "os.execv(sys.argv[3], sys.argv[3:])"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", shim, str(cmd_r), str(res_w), chrome, *FLAGS,
             "--remote-debugging-pipe", f"--user-data-dir={profile}",
             f"--window-size={width},900", "about:blank"],
            pass_fds=(cmd_r, res_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr, env=env,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            self.session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                     flatten=True)["sessionId"]
            for method in ("Page.enable", "DOM.enable", "CSS.enable", "Network.enable"):
                self.call(method)
            # every page fetches its own fonts and stylesheets, as a first visit would
            self.call("Network.setCacheDisabled", cacheDisabled=True)
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                self._stderr.seek(0)
                tail = self._stderr.read()[-2000:].decode(errors="replace")
                raise RuntimeError(f"Chromium closed the pipe: {tail}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)  # type: ignore[no-any-return]

    def send(self, method: str, session: str | None = None, timeout: float = 60,
             **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events that come first are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})  # type: ignore[no-any-return]
            self.events.append(answer)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.send(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 60) -> None:
        """Load ``url`` and wait for its load event and its web fonts."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(deadline))
        # fonts loaded, then two frames so that whatever they change is laid out and painted
        self.evaluate("document.fonts.ready.then(() => new Promise((done) => "
                      "requestAnimationFrame(() => requestAnimationFrame(done))))")

    def screenshot(self, path: Path, height: int) -> None:
        """The page's first ``height`` CSS pixels at the window's width, as PNG."""
        full = self.call("Page.getLayoutMetrics")["cssContentSize"]["height"]
        clip = {"x": 0, "y": 0, "width": self.width, "height": min(full, height), "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip,
                         captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)
        self._stderr.close()


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


# Finds boxes whose content is cut off, scrolls sideways where it must wrap, or spills past the
# article column or the window (the rules are in this file's docstring). Returns a list of
# {"box", "text", "section", "problem"} and the list of table scrollers that scroll.
CLIPPING_JS = r"""
(() => {
  const problems = [], scrollers = [];
  const vw = document.documentElement.clientWidth;
  const page = document.scrollingElement || document.documentElement;
  if (page.scrollWidth > vw + 1) {
    problems.push({box: "page", text: "", section: "", problem:
      `the page scrolls sideways: ${page.scrollWidth} px wide in a ${vw} px window`});
  }
  const article = document.querySelector("article[role=main]") || document.querySelector("article");
  // the article's column, with the padding the theme leaves on its right (furo's .content)
  const frame = article && (article.closest(".content") || article);
  const column = frame ? frame.getBoundingClientRect().right : vw;
  const describe = (el, problem) => {
    let box = el.tagName.toLowerCase();
    if (el.classList.length) box += "." + [...el.classList].slice(0, 3).join(".");
    const sec = el.closest("section");
    const h = sec && sec.querySelector("h1, h2, h3, h4, h5, h6");
    return {box, problem,
            text: el.textContent.replace(/\s+/g, " ").trim().slice(0, 70),
            section: h ? h.textContent.replace(/[¶#]/g, "").trim().slice(0, 60) : ""};
  };
  const spilled = new Set();
  const range = document.createRange();
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".katex-mathml")) continue;  // screen readers' copy, never drawn
    // a formula's inner boxes are judged through its .katex and .katex-html boxes
    if (el.parentElement && el.parentElement.closest(".katex-html")) continue;
    if (!el.getClientRects().length) continue;  // not rendered
    const cs = getComputedStyle(el);
    if (cs.visibility !== "visible" || cs.position === "fixed") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= 0 || r.left >= vw) continue;  // empty, or off-canvas drawer
    const over = el.scrollWidth - el.clientWidth;
    if (el.clientWidth > 0 && over > 1 && cs.display !== "inline") {
      const o = cs.overflowX;
      const size = `${el.scrollWidth} px of content in ${el.clientWidth} px`;
      if (o === "hidden" || o === "clip") {
        problems.push(describe(el, `content cut off (${size})`));
      } else if (o === "auto" || o === "scroll") {
        if (el.matches(".table-wrapper, .tf-scroll")) {
          const bar = el.offsetHeight - el.clientHeight - parseFloat(cs.borderTopWidth)
                      - parseFloat(cs.borderBottomWidth);
          if (bar < 1 || cs.scrollbarWidth === "none") {
            problems.push(describe(el, `table scrolls sideways with no scrollbar shown (${size})`));
          } else {
            scrollers.push(describe(el, size));
          }
        } else {
          problems.push(describe(el,
            `scrolls sideways (${size}): its lines must wrap or be split`));
        }
      }
    }
    const inArticle = article && article.contains(el);
    const limit = inArticle ? column : vw;
    // how far the box or its own text reaches to the right (a parent's scrollWidth would count
    // its children's excess too, which is theirs to report)
    let reach = r.right;
    for (const n of cs.overflowX === "visible" ? el.childNodes : []) {
      if (n.nodeType !== Node.TEXT_NODE || !n.data.trim()) continue;
      range.selectNodeContents(n);
      reach = Math.max(reach, range.getBoundingClientRect().right);
    }
    if (reach > limit + 1 && !spilled.has(el.parentElement)) {
      let a = el.parentElement, held = false;
      while (a && a !== document.body) {
        if (getComputedStyle(a).overflowX !== "visible") { held = true; break; }
        a = a.parentElement;
      }
      if (!held) {
        spilled.add(el);
        problems.push(describe(el, `reaches ${Math.round(reach - limit)} px past the `
                               + (inArticle ? "article column" : "window")));
      }
    } else if (spilled.has(el.parentElement)) {
      spilled.add(el);
    }
  }
  return {problems, scrollers};
})()
"""

# Marks every element whose own text (its text-node children) holds CJK characters with
# data-tf-cjk, leaving out text that is never drawn; returns, in document order, each element's
# own text and its number of CJK characters. The page's text is not touched: the fonts are
# read from the layout the reader sees.
MARK_CJK_JS = r"""
((chars) => {
  const cjk = new RegExp("[" + chars + "]", "gu");
  const unseen = "script, style, noscript, template, textarea, title, svg, .katex-mathml";
  const found = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(unseen)) continue;
    let text = "";
    for (const n of el.childNodes) if (n.nodeType === Node.TEXT_NODE) text += n.data;
    const count = (text.match(cjk) || []).length;
    if (!count) continue;
    el.setAttribute("data-tf-cjk", "");
    found.push([text.replace(/\s+/g, " ").trim(), count]);
  }
  return found;
})
"""


def cjk_class() -> str:
    """:data:`CJK_RANGES` as the inside of a JavaScript regular-expression class (``u`` flag)."""
    return "".join(f"\\u{{{lo:X}}}-\\u{{{hi:X}}}" for lo, hi in CJK_RANGES)


def glyph_problems(
    texts: list[tuple[str, int, list[dict[str, Any]]]],
) -> tuple[list[str], int]:
    """Problems with the fonts that drew the CJK text, and the number of texts drawn.

    ``texts`` holds, for each element whose own text has CJK characters, that text, its number
    of CJK characters and the fonts ``CSS.getPlatformFontsForNode`` reports for it, each with
    the number of glyphs it drew. A text with no font was not drawn (hidden) and is not counted.
    The web font's ``unicode-range`` holds only CJK, so it draws exactly the CJK characters
    when it draws them all: fewer glyphs from it means the rest came from another font, which
    on a machine without a CJK font is an empty box. The problems name each such other font
    once, with the number of texts and up to three of them.
    """
    drawn = 0
    short: dict[str, list[str]] = {}
    for text, count, fonts in texts:
        if not fonts:
            continue
        drawn += 1
        web = sum(f.get("glyphCount", 0) for f in fonts
                  if f.get("familyName") == WEB_FONT_FAMILY and f.get("isCustomFont"))
        if web >= count:
            continue
        others = [f"{f.get('familyName')} ({'web' if f.get('isCustomFont') else 'system'} font)"
                  for f in fonts
                  if f.get("familyName") != WEB_FONT_FAMILY or not f.get("isCustomFont")]
        short.setdefault(" or ".join(others) or "no font", []).append(text)
    problems = []
    for name, bad in sorted(short.items()):
        shown = ", ".join(repr(t[:40]) for t in list(dict.fromkeys(bad))[:3])
        problems.append(f"{len(bad)} text(s) with CJK characters drawn with {name}, not the web "
                        f"font (missing glyphs): {shown}")
    return problems, drawn


def check_glyphs(browser: Browser) -> tuple[list[str], int]:
    """Read which fonts drew the page's CJK text (see :func:`glyph_problems`)."""
    found = browser.evaluate(f"{MARK_CJK_JS}({json.dumps(cjk_class())})")
    if not found:
        return [], 0
    root = browser.call("DOM.getDocument", depth=0)["root"]["nodeId"]
    nodes = browser.call("DOM.querySelectorAll", nodeId=root, selector="[data-tf-cjk]")["nodeIds"]
    if len(nodes) != len(found):
        raise RuntimeError(f"marked {len(found)} elements with CJK text but found {len(nodes)}")
    texts = [(text, count, browser.call("CSS.getPlatformFontsForNode", nodeId=node)["fonts"])
             for (text, count), node in zip(found, nodes, strict=True)]
    return glyph_problems(texts)


def clipping_problems(found: dict[str, Any]) -> list[str]:
    """The clipping script's findings as lines naming the box, its section and its text."""
    lines = []
    for p in found["problems"]:
        where = f" in “{p['section']}”" if p["section"] else ""
        lines.append(f"{p['box']}{where}: {p['problem']}: {p['text']!r}")
    return lines


def default_pages(build: Path) -> list[str]:
    """Every page of the build: all HTML except the highlighted source under ``_modules``."""
    pages = []
    for path in sorted(build.rglob("*.html")):
        rel = path.relative_to(build).as_posix()
        if rel.startswith(("_modules/", "_sources/", "_static/")):
            continue
        pages.append(rel)
    return pages


def check_page(browser: Browser, build: Path, page: str, base: str, log: _Log,
               shot: Path, height: int) -> tuple[list[str], str]:
    """Every problem of one page, and a one-line summary of what was checked."""
    problems = [f"loads a resource from the network: {r}" for r in external_resources(build / page)]
    log.take()
    browser.open(base + page)
    dom_problems, n_math = check_dom(browser.evaluate("document.documentElement.outerHTML"))
    problems += dom_problems
    found = browser.evaluate(CLIPPING_JS)
    problems += clipping_problems(found)
    browser.screenshot(shot, height)
    glyphs, n_runs = check_glyphs(browser)
    problems += glyphs
    requests = log.take()
    missing = sorted({p for p, code in requests if code >= 400 and not p.startswith("/favicon")})
    problems += [f"request failed: {p}" for p in missing]
    katex = {p.rsplit("/", 1)[-1] for p, code in requests if "/katex/fonts/" in p and code == 200}
    if n_math and not katex:
        problems.append("page has formulas but loaded no KaTeX font")
    web_font = any(p.endswith(WEB_FONT_FILE) and code == 200 for p, code in requests)
    if n_runs and not web_font:
        problems.append(f"page has CJK text but did not load {WEB_FONT_FILE}")
    summary = (f"{n_math} formulas, {n_runs} texts with CJK, {len(found['scrollers'])} "
               f"scrolling tables")
    return problems, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", help="pages inside the build (default: every page)")
    ap.add_argument("--build", type=Path, default=DOCS / "_build" / "html")
    ap.add_argument("--out", type=Path, default=DOCS / "_build" / "screenshots")
    ap.add_argument("--width", type=int, default=1280, help="window width in CSS pixels")
    ap.add_argument("--height", type=int, default=2400, help="screenshot height in CSS pixels")
    ap.add_argument("--system-fonts", action="store_true",
                    help="let Chromium use this machine's fonts (default: one Latin font)")
    args = ap.parse_args(argv)

    build: Path = args.build.resolve()
    if not (build / "index.html").is_file():
        sys.exit(f"no built docs in {build}: run `nox -s docs` first")
    pages = args.pages or default_pages(build)
    chrome = find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    log = _Log()
    server = serve(build, log)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    failures: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tf-chromium-") as tmp:
            fontconfig = None if args.system_fonts else bare_fontconfig(Path(tmp), build)
            browser = Browser(chrome, Path(tmp) / "profile", args.width, fontconfig)
            try:
                for page in pages:
                    if not (build / page).is_file():
                        failures.append(f"{page}: not in the build")
                        continue
                    shot = args.out / (page.replace("/", "-").removesuffix(".html") + ".png")
                    problems, summary = check_page(browser, build, page, base, log, shot,
                                                   args.height)
                    failures += [f"{page}: {p}" for p in problems]
                    status = "ok" if not problems else f"FAILED ({len(problems)})"
                    print(f"{status:6} {page}: {summary}")
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    fonts = ("this machine's fonts" if args.system_fonts
             else f"no system font but a Latin one ({FALLBACK_FAMILY})")
    if failures:
        print("\n".join(["", f"FAILURES ({len(failures)}, {args.width} px wide, {fonts}):",
                         *failures]), file=sys.stderr)
        return 1
    print(f"all {len(pages)} pages passed at {args.width} px with {fonts}: formulas rendered, "
          f"every CJK character drawn with the web font, nothing clipped; screenshots in "
          f"{args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
