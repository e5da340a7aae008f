"""Self-contained HTML pages from figures (files beside the page) and tables: one stylesheet for all.

* :func:`page`: title, a facts header (:func:`header`), a contents line, then the sections;
* :func:`figure`: an image with a numbered caption and links to its vector versions;
* :func:`table`: a table whose numbers are right-aligned and shown with 4 significant digits;
* :func:`callout`: a boxed note (``kind="caveat"`` for warnings a reader must not miss);
* :func:`random_banner`: the red banner every page of a model with random weights opens with
  (:func:`page` adds it when the facts' ``"weights"`` names ``random:SEED``).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Sequence

from jaxinterp import atomic
from jaxinterp._version import __version__

STYLE = """
:root{--ink:#1d1d1f;--muted:#5b5b61;--rule:#d9d9de;--soft:#f5f5f7;--accent:#1f5fa8;--warn:#fff6e0;
--warnrule:#d9a400}
*{box-sizing:border-box}
body{font-family:"Source Sans 3","Segoe UI",system-ui,-apple-system,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);max-width:1120px;margin:0 auto;padding:1.5em 1.5em 4em;line-height:1.45;font-size:15px}
h1{font-size:1.75em;margin:0.4em 0 0.2em;line-height:1.2}
h2{font-size:1.25em;margin:2em 0 0.6em;padding-bottom:0.25em;border-bottom:1px solid var(--rule)}
h3{font-size:1.05em;margin:1.4em 0 0.4em}
p{margin:0.5em 0}
a{color:var(--accent)}
code{background:var(--soft);padding:0 0.25em;border-radius:3px;font-size:0.92em}
.subtitle{color:var(--muted);margin:0 0 1em}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:0.35em 1.2em;
margin:0.8em 0 1em;padding:0.8em 1em;background:var(--soft);border-radius:6px;font-size:0.92em}
dl.facts div{min-width:0}
dl.facts dt{color:var(--muted);font-size:0.82em;text-transform:uppercase;letter-spacing:0.04em}
dl.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
nav.toc{font-size:0.92em;color:var(--muted);margin:0.5em 0 1em}
nav.toc a{margin-right:0.9em;white-space:nowrap}
figure{margin:1.2em 0 1.8em;padding:0}
figure img{display:block;max-width:100%;height:auto;margin:0 auto;background:#fff}
figcaption{font-size:0.9em;color:var(--ink);margin:0.6em auto 0;max-width:900px}
figcaption .label{font-weight:700}
figcaption .files{color:var(--muted);white-space:nowrap}
table{border-collapse:collapse;margin:0.8em 0 1.2em;font-size:0.9em;font-variant-numeric:tabular-nums}
div.table{margin:0.8em 0 1.3em;overflow-x:auto}
div.table table{margin:0}
p.tcap{font-size:0.86em;color:var(--muted);margin:0.35em 0 0;max-width:900px}
th,td{padding:4px 10px;border-bottom:1px solid var(--rule);text-align:right;vertical-align:top}
th{border-bottom:2px solid var(--ink);font-weight:600;background:#fff}
th:first-child,td:first-child{text-align:left}
td.text,th.text{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
td.bad{color:#a00;text-align:left}
details{margin:0.5em 0 1em}summary{cursor:pointer;color:var(--accent)}
td.sig{font-weight:700}
.callout{margin:1em 0;padding:0.7em 1em;border-left:4px solid var(--accent);background:#f0f5fb;
border-radius:0 6px 6px 0;font-size:0.95em}
.callout.caveat{border-left-color:var(--warnrule);background:var(--warn)}
.callout p:first-child{margin-top:0}.callout p:last-child{margin-bottom:0}
.banner.random{margin:0.6em 0 1em;padding:0.7em 1em;border:2px solid #b00020;background:#fde8ea;
color:#7a0014;border-radius:6px;font-weight:600}
footer{margin-top:3em;color:var(--muted);font-size:0.85em;border-top:1px solid var(--rule);padding-top:0.6em}
"""


_NUMERIC = re.compile(r"^\s*[−+\-]?(\d|\.\d|–$|inf|nan)")


def _cell(value) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.4g}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Sequence[Sequence[object]], caption: str | None = None,
          raw: bool = False) -> str:
    """An HTML table; floats are shown with 4 significant digits (NaN as –).

    ``raw=True`` inserts string cells as HTML (the caller escapes them); a cell may also be a
    ``(html, css_class)`` pair in that mode.
    """
    def cell(value):
        cls = ""
        if raw and isinstance(value, tuple):
            value, cls = value
        text = value if raw and isinstance(value, str) else _cell(value)
        if not cls and isinstance(value, str) and not _NUMERIC.match(value):
            cls = "text"
        return cls, text

    cells = [[cell(v) for v in row] for row in rows]
    first = [c[0] for c in cells[0]] if cells else []
    head = "".join(f"<th{' class=text' if i < len(first) and first[i] == 'text' else ''}>{html.escape(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{f' class={c}' if c else ''}>{t}</td>" for c, t in row) + "</tr>"
                   for row in cells)
    cap = f"<p class='tcap'>{html.escape(caption)}</p>" if caption else ""
    return f"<div class='table'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{cap}</div>"


def png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG file's header."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def display_width(path: str | Path, dpi: float = 200, zoom: float = 1.35) -> int:
    """CSS pixels that show a ``dpi`` PNG at ``zoom`` × its printed size (96 CSS px per inch), so
    every figure's text appears at one size on the page whatever the figure's width."""
    return int(round(png_size(path)[0] * 96 / dpi * zoom))


def figure(src: str, caption: str, label: str | None = None, formats: Sequence[str] = (),
           width: int | None = None) -> str:
    """An image with its caption; ``label`` (e.g. ``"Fig. 3"``) is set in bold before it, and each
    of ``formats`` (e.g. ``("svg", "pdf")``: files beside ``src`` with its stem) gets a link.
    ``width``: display width in CSS pixels (:func:`display_width`; never wider than the page)."""
    stem = src.rsplit(".", 1)[0]
    files = ""
    if formats:
        links = " · ".join(f'<a href="{html.escape(stem)}.{f}">{f.upper()}</a>' for f in formats)
        files = f' <span class="files">[vector: {links}]</span>'
    lab = f'<span class="label">{html.escape(label)}.</span> ' if label else ""
    alt = re.sub(r"\s+", " ", f"{label + ': ' if label else ''}{caption}")
    size = f' width="{int(width)}"' if width else ""
    return (f'<figure><img src="{html.escape(src)}"{size} alt="{html.escape(alt)}">'
            f"<figcaption>{lab}{html.escape(caption)}{files}</figcaption></figure>")


def callout(text: str, kind: str = "note", raw: bool = False) -> str:
    """A boxed paragraph; ``kind="caveat"`` marks warnings. ``raw=True``: ``text`` is HTML already."""
    body = text if raw else f"<p>{html.escape(text)}</p>"
    return f'<div class="callout {html.escape(kind)}">{body}</div>'


def header(facts: dict) -> str:
    """The facts block under the title: ``{"model": "cifar_resnet20", "images": 932, ...}`` plus
    the jaxinterp version."""
    items = {**facts, "jaxinterp": __version__}
    cells = "".join(f"<div><dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd></div>"
                    for k, v in items.items() if v is not None)
    return f"<dl class='facts'>{cells}</dl>"


RANDOM = "random:"  # the --params of random weights (jaxinterp.steps.specs.RANDOM)


def is_random(weights) -> bool:
    """Whether a ``"weights"`` fact (``"random:0"``, a path, or several joined, e.g. compare's
    ``"A: random:0, B: r32"``) names random weights."""
    return RANDOM in str(weights)


def random_banner() -> str:
    """The banner of a page whose model has random weights: its units mean nothing yet."""
    return ("<div class='banner random' role='alert'>RANDOM WEIGHTS: this model was not trained "
            "(<code>--params random:SEED</code>). Everything below shows how the method runs, not what a "
            "trained network has learned.</div>")


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def page(title: str, sections: Sequence[tuple[str, str]], path: str | Path, facts: dict | None = None,
         subtitle: str | None = None, footer: str | None = None) -> Path:
    """Write ``sections`` (``(heading, inner html)`` pairs) as one page at ``path``.

    Under the title: :func:`random_banner` when ``facts["weights"]`` names random weights
    (:func:`is_random`), ``subtitle`` (escaped), the facts block (:func:`header`) when ``facts`` is
    given, and a contents line when there are more than three sections. The page is written
    atomically (:mod:`jaxinterp.atomic`): a reader never sees half of it.
    """
    anchors, body = [], []
    for h, inner in sections:
        a = _anchor(h)
        while a in anchors:
            a += "-"
        anchors.append(a)
        body.append(f"<section id='{a}'><h2>{html.escape(h)}</h2>{inner}</section>")
    toc = ""
    if len(sections) > 3:
        toc = "<nav class='toc'>Contents: " + "".join(
            f"<a href='#{a}'>{html.escape(h)}</a>" for a, (h, _) in zip(anchors, sections)) + "</nav>"
    sub = f"<p class='subtitle'>{html.escape(subtitle)}</p>" if subtitle else ""
    if facts and is_random(facts.get("weights", "")):
        sub = random_banner() + sub
    foot = f"<footer>{footer}</footer>" if footer else ""
    atomic.write_text(
        path,
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1>{sub}{header(facts) if facts else ''}</header>{toc}"
        f"{''.join(body)}{foot}</body></html>"
    )
    return Path(path)


def crop_words(summary: dict) -> str:
    """How a page's dataset crops were cut, from a featvis or circuits summary (its ``rf``,
    ``crop_size`` and ``crop_margin``)."""
    rf = summary.get("rf")
    if not rf:
        return "whole images (the layer has no spatial axes)"
    (rh, rw), (ch, cw) = rf["size"], summary.get("crop_size", rf["size"])
    if (rh, rw) == (ch, cw):
        return f"receptive-field crops ({rh}×{rw} px)"
    margin = f"a {summary['crop_margin']}-px margin" if summary.get("crop_margin") is not None else "a margin"
    return (f"the image and {margin} ({ch}×{cw} px), since the {rh}×{rw}-px receptive field is wider than "
            "the image; pixels outside the field dimmed")
