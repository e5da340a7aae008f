"""A self-contained HTML page from figures (PNG files beside it) and tables."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; floats are shown with 4 significant digits."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(src: str, caption: str) -> str:
    return (
        f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def header(facts: dict) -> str:
    """A compact facts line under the title: ``{"model": "cifar_resnet20", "images": 932, ...}``."""
    from jaxinterp import __version__

    items = {**facts, "jaxinterp": __version__}
    return "<p class='facts'>" + " · ".join(
        f"<b>{html.escape(str(k))}</b> {html.escape(str(v))}" for k, v in items.items()) + "</p>"


def page(title: str, sections: Sequence[tuple[str, str]], path: str | Path, facts: dict | None = None) -> Path:
    """Write ``sections`` (``(heading, inner html)`` pairs) as one page at ``path``, with a facts
    line (:func:`header`) under the title when ``facts`` is given."""
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:right}th{background:#f3f3f3}figure{margin:1.5em 0}"
        "img{max-width:100%}figcaption{font-size:0.9em;color:#555}code{background:#f5f5f5}"
        ".facts{color:#444;font-size:0.95em;border-bottom:1px solid #ddd;padding-bottom:0.6em}"
        "td.bad{color:#a00;text-align:left}"
    )
    body = "".join(f"<h2>{html.escape(h)}</h2>{inner}" for h, inner in sections)
    Path(path).write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{header(facts) if facts else ''}{body}</body></html>"
    )
    return Path(path)
