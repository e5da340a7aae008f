"""Helpers the report tests share: parse a page's figures, collect the figures a report draws."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path


class Figures(HTMLParser):
    """Collects every <img> with the caption of its enclosing <figure> (None when it has none)."""

    def __init__(self):
        super().__init__()
        self.images: list[dict] = []
        self._in_figure = self._in_caption = False
        self._current: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._in_figure, self._current = True, []
        elif tag == "img":
            entry = {"src": attrs.get("src"), "caption": None, "in_figure": self._in_figure}
            self.images.append(entry)
            self._current.append(entry)
        elif tag == "figcaption" and self._in_figure:
            self._in_caption = True
            for e in self._current:
                e["caption"] = ""

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False
        elif tag == "figure":
            self._in_figure = False

    def handle_data(self, data):
        if self._in_caption:
            for e in self._current:
                e["caption"] += data


def figures(page: Path) -> list[dict]:
    parser = Figures()
    parser.feed(page.read_text())
    return parser.images


def facts(page: Path) -> dict[str, str]:
    """The facts block under the title: {dt: dd}."""
    text = page.read_text()
    block = re.search(r"<dl class='facts'>(.*?)</dl>", text, re.S).group(1)
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block))


def svg_text(path: Path) -> str:
    """Every <text> of an SVG (matplotlib writes text as text with svg.fonttype='none')."""
    import html

    return html.unescape(" ".join(re.findall(r"<text[^>]*>(.*?)</text>", path.read_text(), re.S)))


class Captured:
    """Replaces ``save`` in the given modules: keeps each figure open for inspection, then saves it."""

    def __init__(self, monkeypatch, *modules):
        from jaxinterp.report import style

        self.figs: dict[str, object] = {}
        real = style.save

        def save(fig, stem, formats=style.FORMATS):
            self.figs[Path(stem).name] = fig
            fig.canvas.draw()  # lay it out as it is saved
            return real(fig, stem, formats)

        for m in modules:
            monkeypatch.setattr(m, "save", save)
