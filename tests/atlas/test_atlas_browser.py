"""The atlas in headless Chromium (Debian's ``chromium``): each kind of page loads with every image,
the layer grid sorts, filters and toggles between sets from its address, a card's link and the
arrow keys lead to the right unit pages.

``?check`` makes the site's script write what the browser sees into the page (every image's
``naturalWidth``, the order of the visible cards) once it has loaded; ``--dump-dom`` returns it.
``&follow`` clicks the first visible card and ``&key=ArrowRight`` presses the key, after which
``--virtual-time-budget`` lets Chromium load the page they lead to, whose DOM is dumped instead."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


def dump(page, query: str = "?check", hash_: str = "", follow: bool = False) -> str:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    if follow:
        args.append("--virtual-time-budget=4000")
    done = subprocess.run([*args, "--dump-dom", f"{page.as_uri()}{query}{hash_}"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def seen(dom: str) -> dict:
    found = re.search(r'<pre id="atlas-check">(.*?)</pre>', dom, re.DOTALL)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def expected(table: dict, set_: str, column: str, descending: bool, low=None) -> list[int]:
    rows = table["sets"][set_]["rows"][column]
    units = [u for u, v in enumerate(rows) if low is None or (v is not None and v >= low)]
    known = sorted((u for u in units if rows[u] is not None), key=lambda u: (-rows[u] if descending else rows[u], u))
    return known + [u for u in units if rows[u] is None]


def test_pages_sort_filter_toggle_and_follow_links_in_chromium(atlas_site):
    out = atlas_site
    table = json.loads((out / "relu2/table.json").read_text())
    index = seen(dump(out / "index.html"))
    assert index["broken"] == [] and index["title"].startswith("Atlas of")
    # sort by II, highest first, from the address
    got = seen(dump(out / "relu2/index.html", hash_="#set=neurons&sort=ii_colour&order=desc"))
    assert got["broken"] == [] and got["images"] == 6  # 3 neurons and 3 K-means directions, none missing
    assert got["order"] == expected(table, "neurons", "ii_colour", True)
    # filter: II at least the median of the three; the other set, ascending
    low = sorted(table["sets"]["neurons"]["rows"]["ii_colour"])[1]
    got = seen(dump(out / "relu2/index.html", hash_=f"#set=neurons&sort=ii_colour&order=desc&min={low!r}"))
    assert got["order"] == expected(table, "neurons", "ii_colour", True, low) and len(got["order"]) == 2
    got = seen(dump(out / "relu2/index.html", hash_="#set=kmeans&sort=max_activation&order=asc"))
    assert got["order"] == expected(table, "kmeans", "max_activation", False)
    assert got["first"] == f"kmeans/{got['order'][0]}.html"
    # follow the first card of the sorted grid: the browser lands on that unit's page
    first = expected(table, "neurons", "ii_colour", True)[0]
    dom = dump(out / "relu2/index.html", "?check&follow", "#set=neurons&sort=ii_colour&order=desc", follow=True)
    assert f"<title>relu2 · unit {first}</title>" in dom
    # every unit and direction page shows all its images; the right arrow goes to the next unit
    for page in [*(out / "relu2/unit").glob("*.html"), *(out / "relu2/kmeans").glob("*.html"),
                 out / "relu1/unit/0.html"]:
        got = seen(dump(page))
        assert got["broken"] == [] and got["images"] == page.read_text().count("<img") >= 5, (page, got)
    dom = dump(out / "relu2/unit/0.html", "?check&key=ArrowRight", follow=True)
    assert "<title>relu2 · unit 1</title>" in dom
