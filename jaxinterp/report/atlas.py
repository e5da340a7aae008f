"""The atlas site, drawn from the saved ``atlas_layer`` results only (computes nothing but layout).

A static site that opens from disk (no server, relative links only)::

    OUT/index.html                  every layer: width, CKA to the compared model, mean II per set,
                                    roles
    OUT/atlas.css, OUT/atlas.js     one stylesheet and one script for every page
    OUT/LAYER/index.html            a grid of every unit's visualisation per set (a toggle between the
                                    neurons and each direction set), sorted and filtered in the browser
                                    over the embedded table (also OUT/LAYER/table.json)
    OUT/LAYER/unit/17.html          a neuron: visualisations, dataset examples, scores with percentiles,
                                    role, tuning, weights, synergy partners, best match in the compared
                                    model
    OUT/LAYER/kmeans/3.html         a direction of a set: visualisations, examples, scores
    OUT/LAYER/<set>/img/*.png       the images (small PNGs, pixels repeated by the browser)

The layer page's state lives in its URL's hash (``#set=kmeans&sort=ii_colour&order=desc&role=...
&min=...&max=...``), so a sorted, filtered grid is a link. Every string from outside (layer and
class names, roles) is escaped.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

import numpy as np

from jaxinterp import atomic
from jaxinterp._version import __version__
from jaxinterp.report.figures import heat_overlay, heat_span, save_png, tiles, to_rgb01

SET_WORDS = {"neurons": "neurons", "kmeans": "K-means directions", "sae": "SAE features", "pca": "PCA directions",
             "ica": "ICA directions", "nmf": "NMF directions", "minibatch_kmeans": "mini-batch K-means directions"}
#: the layer page's sortable columns, in menu order, with their labels
COLUMNS = {"unit": "unit id", "max_activation": "max activation", "featvis_sd": "visualisation (SD)",
           "linearity_r2": "linearity R²", "mi": "label MI", "entropy": "entropy",
           "orientation_selectivity": "orientation selectivity", "rotation_sharpness": "rotation sharpness",
           "match_corr": "match correlation"}

CSS = """
:root{--ink:#1d1d1f;--muted:#5b5b61;--rule:#d9d9de;--soft:#f5f5f7;--accent:#1f5fa8}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;color:var(--ink);margin:0 auto;
max-width:1320px;padding:0.8em 1.4em 3em;font-size:15px;line-height:1.4}
a{color:var(--accent)}
h1{font-size:1.6em;margin:0.3em 0 0.2em}h2{font-size:1.15em;margin:1.4em 0 0.5em;border-bottom:1px solid var(--rule)}
nav.top{display:flex;gap:1em;align-items:center;flex-wrap:wrap;font-size:0.95em;padding:0.4em 0;
border-bottom:1px solid var(--rule)}
nav.top .grow{flex:1}
input,select,button{font:inherit;font-size:0.92em}
.controls{display:flex;flex-wrap:wrap;gap:0.6em 1.2em;align-items:center;margin:0.8em 0;padding:0.6em 0.8em;
background:var(--soft);border-radius:6px}
.toggle button{border:1px solid var(--rule);background:#fff;padding:0.25em 0.7em;cursor:pointer}
.toggle button.on{background:var(--accent);color:#fff;border-color:var(--accent)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(104px,1fr));gap:8px}
.card{display:block;text-decoration:none;color:var(--ink);border:1px solid var(--rule);border-radius:5px;
padding:3px;text-align:center;font-size:0.8em}
.card:hover{border-color:var(--accent)}
.card img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:0 auto}
.card .val{color:var(--muted)}
img.px{image-rendering:pixelated}
.row{display:flex;flex-wrap:wrap;gap:0.8em 1.6em;align-items:flex-start}
figure{margin:0}figcaption{font-size:0.82em;color:var(--muted);max-width:420px}
table{border-collapse:collapse;font-size:0.9em;font-variant-numeric:tabular-nums;margin:0.4em 0}
th,td{padding:3px 9px;border-bottom:1px solid var(--rule);text-align:right}
th:first-child,td:first-child{text-align:left}
.neigh{display:inline-block;text-align:center;font-size:0.8em;margin:0 6px 6px 0;vertical-align:top}
.neigh img{width:48px;height:48px;image-rendering:pixelated;display:block}
.note{color:var(--muted);font-size:0.88em}
footer{margin-top:2.5em;color:var(--muted);font-size:0.82em;border-top:1px solid var(--rule);padding-top:0.5em}
"""

JS = r"""
(function(){
"use strict";
var params=new URLSearchParams(location.search);
function hashState(){var s={};location.hash.replace(/^#/,"").split("&").forEach(function(kv){
  if(!kv)return;var i=kv.indexOf("=");s[decodeURIComponent(i<0?kv:kv.slice(0,i))]=i<0?"":decodeURIComponent(kv.slice(i+1));});
  return s;}
function setHash(s){var parts=[];Object.keys(s).forEach(function(k){if(s[k]!==""&&s[k]!=null)
  parts.push(encodeURIComponent(k)+"="+encodeURIComponent(s[k]));});
  history.replaceState(null,"","#"+parts.join("&"));}
function fmt(v){if(v===null||v===undefined)return"\u2013";if(typeof v!=="number")return String(v);
  return Math.abs(v)>=1e4||(Math.abs(v)<1e-3&&v!==0)?v.toExponential(2):String(+v.toPrecision(4));}
function layerPage(){
  var data=JSON.parse(document.getElementById("atlas-data").textContent);
  var setSel=document.querySelectorAll(".toggle button"),sortSel=document.getElementById("sort"),
      orderSel=document.getElementById("order"),roleSel=document.getElementById("role"),
      minIn=document.getElementById("min"),maxIn=document.getElementById("max");
  var state=hashState();
  function current(){return data.sets[state.set]?state.set:data.order[0];}
  function fillSorts(){var set=current(),cols=data.sets[set].columns,keep=sortSel.value||state.sort;
    sortSel.innerHTML="";cols.forEach(function(c){var o=document.createElement("option");o.value=c;
      o.textContent=data.labels[c]||c;sortSel.appendChild(o);});
    sortSel.value=cols.indexOf(keep)>=0?keep:"unit";
    roleSel.disabled=!data.sets[set].roles;}
  function apply(){
    var set=current(),t=data.sets[set],sort=sortSel.value,desc=orderSel.value==="desc",role=roleSel.value,
        lo=minIn.value===""?-Infinity:+minIn.value,hi=maxIn.value===""?Infinity:+maxIn.value;
    document.querySelectorAll("section.set").forEach(function(s){s.hidden=s.dataset.set!==set;});
    setSel.forEach(function(b){b.classList.toggle("on",b.dataset.set===set);});
    var grid=document.querySelector('section.set[data-set="'+set+'"] .grid');
    var cards=Array.prototype.slice.call(grid.children),col=t.rows[sort];
    cards.sort(function(a,b){var x=col[+a.dataset.unit],y=col[+b.dataset.unit];
      if(x===null&&y===null)return(+a.dataset.unit)-(+b.dataset.unit);if(x===null)return 1;if(y===null)return -1;
      return desc?(y-x)||((+a.dataset.unit)-(+b.dataset.unit)):(x-y)||((+a.dataset.unit)-(+b.dataset.unit));});
    var shown=0;cards.forEach(function(c){var u=+c.dataset.unit,v=col[u];
      var ok=(role===""||!t.roles||t.roles[u]===role)&&(lo===-Infinity&&hi===Infinity||(v!==null&&v>=lo&&v<=hi));
      c.hidden=!ok;if(ok)shown++;c.querySelector(".val").textContent=sort==="unit"?"":fmt(v);grid.appendChild(c);});
    document.getElementById("shown").textContent=shown+" of "+cards.length+" shown";
    document.body.dataset.shown=shown;
    state={set:set,sort:sort,order:desc?"desc":"asc",role:role,min:minIn.value,max:maxIn.value};setHash(state);}
  setSel.forEach(function(b){b.addEventListener("click",function(){state.set=b.dataset.set;fillSorts();apply();});});
  [sortSel,orderSel,roleSel,minIn,maxIn].forEach(function(e){e.addEventListener("change",apply);});
  orderSel.value=state.order==="asc"?"asc":"desc";roleSel.value=state.role||"";minIn.value=state.min||"";
  maxIn.value=state.max||"";sortSel.value="";fillSorts();if(state.sort&&data.sets[current()].columns.indexOf(state.sort)>=0)
  sortSel.value=state.sort;apply();}
function search(){var box=document.getElementById("search");if(!box)return;
  box.addEventListener("keydown",function(e){if(e.key!=="Enter")return;var v=box.value.trim(),m=v.match(/^(?:(.+)\/)?(\d+)$/);
    var msg=document.getElementById("search-msg");
    if(!m){msg.textContent="type a unit id, e.g. 17 (or LAYER/17 on the index)";return;}
    var base=document.body.dataset.root||"",layer=m[1]||document.body.dataset.layer,set=document.body.dataset.set||"neurons";
    var counts=JSON.parse(document.body.dataset.counts||"{}");
    if(!layer||!(layer in counts)){msg.textContent="no layer "+(layer||"")+"; layers: "+Object.keys(counts).join(", ");return;}
    var n=counts[layer][set]===undefined?counts[layer].neurons:counts[layer][set];if(counts[layer][set]===undefined)set="neurons";
    if(+m[2]>=n){msg.textContent="no unit "+m[2]+" in "+layer+" ("+n+" shown: 0.."+(n-1)+")";return;}
    location.href=base+encodeURI(layer)+"/"+(set==="neurons"?"unit":set)+"/"+m[2]+".html";});}
function keys(){document.addEventListener("keydown",function(e){
  if(e.target&&/INPUT|SELECT|TEXTAREA/.test(e.target.tagName))return;
  var rel=e.key==="ArrowLeft"?"prev":e.key==="ArrowRight"?"next":null,a=rel&&document.querySelector('a[rel="'+rel+'"]');
  if(a){location.href=a.href;}});}
function check(){window.addEventListener("load",function(){setTimeout(function(){
  var imgs=Array.prototype.slice.call(document.images),broken=imgs.filter(function(i){return!i.complete||i.naturalWidth===0;});
  var cards=Array.prototype.slice.call(document.querySelectorAll("section.set:not([hidden]) .card:not([hidden])"));
  var out={images:imgs.length,broken:broken.map(function(i){return i.getAttribute("src");}),
    order:cards.map(function(c){return +c.dataset.unit;}),hash:location.hash,title:document.title,
    first:cards.length?cards[0].getAttribute("href"):null};
  var pre=document.createElement("pre");pre.id="atlas-check";pre.textContent=JSON.stringify(out);document.body.appendChild(pre);
  if(params.has("follow")&&cards.length)cards[0].click();
  if(params.get("key"))document.dispatchEvent(new KeyboardEvent("keydown",{key:params.get("key"),bubbles:true}));},0);});}
document.addEventListener("DOMContentLoaded",function(){if(document.getElementById("atlas-data"))layerPage();search();keys();});
if(params.has("check"))check();
})();
"""


def _num(v) -> str:
    """A number as shown: 4 significant digits, NaN as an en dash."""
    v = float(v)
    return "–" if not math.isfinite(v) else f"{v:.4g}".replace("-", "−")


def _cell(v, col: str) -> str:
    """A table cell that holds the exact value too (``data-value``, for tests and copy-paste)."""
    v = float(v)
    exact = repr(v) if math.isfinite(v) else "nan"
    return f"<td data-col='{escape(col)}' data-value='{exact}'>{_num(v)}</td>"


def _img(src: str, cls: str = "px", width: int | None = None, alt: str = "") -> str:
    size = f" width='{int(width)}'" if width else ""
    return f"<img class='{cls}' src='{escape(src)}'{size} alt='{escape(alt)}'>"


def _curve_svg(x, y, label: str, period: float) -> str:
    """A small inline line plot of ``y`` against ``x`` (degrees), zero marked."""
    y = np.nan_to_num(np.asarray(y, float))
    w, h, pad = 300, 90, 4
    lo, hi = float(min(y.min(), 0.0)), float(max(y.max(), 0.0))
    span = hi - lo or 1.0
    px = pad + (np.asarray(x, float) / period) * (w - 2 * pad)
    py = h - pad - (y - lo) / span * (h - 2 * pad)
    zero = h - pad - (0 - lo) / span * (h - 2 * pad)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))
    return (f"<figure><svg width='{w}' height='{h}' viewBox='0 0 {w} {h}' role='img' aria-label='{escape(label)}'>"
            f"<line x1='0' x2='{w}' y1='{zero:.1f}' y2='{zero:.1f}' stroke='#bbb'/>"
            f"<polyline fill='none' stroke='#1f5fa8' stroke-width='1.5' points='{pts}'/></svg>"
            f"<figcaption>{escape(label)}; 0–{period:g}°, max {_num(y.max())} SD</figcaption></figure>")


def _dir(s: str) -> str:
    return "unit" if s == "neurons" else s


def _page(path: Path, title: str, body: str, root: str, counts: dict, layer: str = "", set_name: str = "",
          nav: str = "") -> None:
    data = (f" data-root='{escape(root)}' data-layer='{escape(layer)}' data-set='{escape(set_name)}'"
            f" data-counts='{escape(json.dumps(counts, sort_keys=True))}'")
    search = ("<span><input id='search' size='14' placeholder='unit id, e.g. 17' aria-label='go to unit'> "
              "<span id='search-msg' class='note'></span></span>")
    atomic.write_text(path, "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                      "<meta name='viewport' content='width=device-width,initial-scale=1'>"
                      f"<title>{escape(title)}</title><link rel='stylesheet' href='{escape(root)}atlas.css'>"
                      f"<script src='{escape(root)}atlas.js'></script></head><body{data}>"
                      f"<nav class='top'><a href='{escape(root)}index.html'>atlas</a>{nav}<span class='grow'></span>"
                      f"{search}</nav><h1>{escape(title)}</h1>{body}"
                      f"<footer>jaxinterp {escape(__version__)} atlas; every number is a saved task result.</footer>"
                      "</body></html>")


def _json_value(v):
    v = float(v)
    return v if math.isfinite(v) else None


def layer_table(result) -> dict:
    """The layer page's table: per set its columns (sortable), rows ``{column: [value or None]}``
    and roles (neurons); what OUT/LAYER/table.json holds and the page embeds."""
    out = {"order": list(result.summary["sets"]), "labels": {}, "sets": {}}
    for s in result.summary["sets"]:
        table = result.arrays[s]["table"]
        cols = [c for c in table if not c.endswith("_pct") and c != "preferred_orientation"]
        out["sets"][s] = {"columns": cols, "rows": {c: [_json_value(v) for v in table[c]] for c in cols},
                          "roles": result.summary[s].get("roles")}
        for c in cols:
            out["labels"][c] = column_label(c)
    return out


def column_label(col: str) -> str:
    for prefix, word in (("ii_", "II "), ("psy_hard_", "psychophysics (hard) "), ("psy_", "psychophysics ")):
        if col.startswith(prefix):
            return word + col[len(prefix):]
    return COLUMNS.get(col, col.replace("_", " "))


def _write_images(folder: Path, a: dict, i: int) -> dict:
    """The PNGs of unit ``i`` of a set; returns {kind: file name}."""
    names = {"main": f"{i}.png"}
    save_png(folder / names["main"], to_rgb01(a["images"][i]))
    if "diversity_images" in a:
        names["diverse"] = f"{i}_diverse.png"
        save_png(folder / names["diverse"], tiles(a["diversity_images"][i], columns=2, min_px=64))
    if "negative_images" in a:
        names["negative"] = f"{i}_negative.png"
        save_png(folder / names["negative"], to_rgb01(a["negative_images"][i]))
    for side in ("top", "bottom", "quilt"):
        if f"{side}_crops" in a:
            names[side] = f"{i}_{side}.png"
            save_png(folder / names[side], tiles(a[f"{side}_crops"][i], columns=6 if side == "quilt" else None,
                                             min_px=48))
        if f"{side}_heat" in a:  # the same tiles, coloured by the unit's map
            names[f"{side}_heat"] = f"{i}_{side}_heat.png"
            heat = a[f"{side}_heat"][i]
            save_png(folder / names[f"{side}_heat"], tiles(heat_overlay(a[f"{side}_crops"][i], heat,
                                                                        heat_span(heat, side)), min_px=48))
    if "match_images" in a:
        names["match"] = f"{i}_match.png"
        save_png(folder / names["match"], tiles(a["match_images"][i], min_px=48))
    if "match_featvis" in a:
        names["match_featvis"] = f"{i}_matchvis.png"
        save_png(folder / names["match_featvis"], to_rgb01(a["match_featvis"][i]))
    return names


def _neighbour(layer: str | None, unit: int, value: float, here: str, counts: dict, names=None,
               s: str = "neurons") -> str:
    """A unit (or a direction of set ``s``) of a layer: its thumbnail and link when the atlas holds
    it, else its id (or its class name for the logits)."""
    word = names[unit] if names else f"{layer} {unit}" if s == "neurons" else f"{layer} {s} {unit}"
    if unit < counts.get(layer, {}).get(s, 0):
        rel = f"{here}{escape(layer)}/{_dir(s)}/"
        return (f"<a class='neigh' href='{rel}{unit}.html'>{_img(f'{here}{layer}/{_dir(s)}/img/{unit}.png')}"
                f"{escape(word)}<br>{_num(value)}</a>")
    return f"<span class='neigh'>{escape(word)}<br>{_num(value)}</span>"


def _unit_page(out: Path, result, s: str, i: int, files: dict, counts: dict) -> None:
    layer, summ = result.summary["layer"], result.summary
    a = result.arrays[s]
    t = a["table"]
    n = summ[s]["units"]
    word = "unit" if s == "neurons" else f"{s} direction"
    here = "../../"
    nav = (f"<a href='../index.html#set={escape(s)}'>{escape(layer)}</a>"
           + (f"<a rel='prev' href='{i - 1}.html'>← {i - 1}</a>" if i > 0 else "")
           + (f"<a rel='next' href='{i + 1}.html'>{i + 1} →</a>" if i + 1 < n else ""))
    sd = lambda v: _num(v) + " SD"
    fv = [f"<figure>{_img('img/' + files['main'], width=192, alt='feature visualisation')}<figcaption>maximises "
          f"it ({summ[s]['steps']} steps): {sd(t['featvis_sd'][i])}</figcaption></figure>"]
    if "diverse" in files:
        zs = ", ".join(sd(v) for v in a["diversity_z"][i])
        fv.append(f"<figure>{_img('img/' + files['diverse'], alt='diverse')}<figcaption>"
                  f"{a['diversity_images'].shape[1]} diverse ({summ[s]['diversity_steps']} steps): {zs}"
                  "</figcaption></figure>")
    if "negative" in files:
        fv.append(f"<figure>{_img('img/' + files['negative'], width=96, alt='negative')}<figcaption>minimises it "
                  f"({summ[s]['negative_steps']} steps): {sd(a['negative_z'][i])}</figcaption></figure>")
    ex = []
    for side, what in (("top", "most activating"), ("bottom", "least activating")):
        acts = ", ".join(_num(v) for v in a[f"{side}_act"][i])
        heat = span = ""
        if side + "_heat" in files:
            lo, hi = heat_span(a[f"{side}_heat"][i], side)
            heat = f"<br>{_img('img/' + files[side + '_heat'], alt=what + ', heat')}"
            span = f"; under them, its map from {_num(lo)} (black) to {_num(hi)} (yellow)"
        ex.append(f"<figure>{_img('img/' + files[side], alt=what)}{heat}<figcaption>{what} dataset images "
                  f"(receptive-field crops; spatial mean {acts}){span}</figcaption></figure>")
    heat_note = ""
    if "top_heat" in files:
        pre = "before the ReLU" if s == "neurons" else "the layer's activations projected on the direction"
        heat_note = (f"<p class='note'>Maps under the crops: the {escape(word)}'s map on each crop ({pre}), each "
                     "position drawn on the pixels nearest its field's centre, divided by its highest value on its "
                     f"most activating images ({_num(a['heat_scale'][i])}; 1 at the centre of their brightest "
                     "crop), coloured brighter where higher (inferno, values beyond the range clipped); no colour "
                     "outside the image.</p>")
    if "quilt" in files:
        q = a["quilt_value"][i]
        ex.append(f"<figure>{_img('img/' + files['quilt'], alt='quilt')}<figcaption>quilt: dataset images sampled "
                  f"across activation levels, cropped where the unit is highest ({_num(q[0])} to {_num(q[-1])}, "
                  "in reading order)</figcaption></figure>")
    rows = []
    for sim in summ["similarities"]:
        for col, label in ((f"ii_{sim}", f"Interpretability Index ({sim})"),
                           (f"psy_{sim}", f"psychophysics, soft score ({sim})"),
                           (f"psy_hard_{sim}", f"psychophysics, 2-AFC accuracy ({sim})")):
            pct = t.get(f"{col}_pct")
            rows.append(f"<tr><td>{escape(label)}</td>{_cell(t[col][i], col)}"
                        + (_cell(pct[i], col + '_pct') if pct is not None else "<td></td>") + "</tr>")
    for col in ("max_activation", "featvis_sd"):
        rows.append(f"<tr><td>{escape(column_label(col))}</td>{_cell(t[col][i], col)}<td></td></tr>")
    sections = [("Feature visualisation", f"<div class='row'>{''.join(fv)}</div>"),
                ("Dataset examples", f"<div class='row'>{''.join(ex)}</div>{heat_note}"),
                ("Scores", "<table><thead><tr><th>measure</th><th>value</th><th>percentile in layer</th></tr>"
                           f"</thead><tbody>{''.join(rows)}</tbody></table><p class='note'>Percentile: the share "
                           f"of all {summ[s]['width']} {escape(SET_WORDS.get(s, s))} of the layer whose value is at "
                           "most this one's.</p>")]
    if "linearity_r2" in t:
        cols = summ[s]["role_columns"]
        rr = [f"<tr><td>role</td><td data-col='role'>{escape(summ[s]['roles'][i])}</td></tr>"]
        for col, label in (("linearity_r2", f"linearity R² ({cols['linearity_r2']})"),
                           ("linearity_fraction", "linearity fraction"), ("mi", "label MI (kNN, nats)"),
                           ("entropy", f"mixed entropy ({cols['entropy']})")):
            if col in t:
                rr.append(f"<tr><td>{escape(label)}</td>{_cell(t[col][i], col)}</tr>")
        sections.append(("Role", f"<table><tbody>{''.join(rr)}</tbody></table>"))
    if "tuning_curve" in a:
        tune = [_curve_svg(a["tuning_orientations"], a["tuning_curve"][i], "synthetic curves, max over radius",
                           360.0),
                _curve_svg(a["rotation_angles"], a["rotation_curve"][i], "own exemplars rotated", 360.0)]
        sel = (f"<table><tbody><tr><td>orientation selectivity (vector strength)</td>"
               f"{_cell(t['orientation_selectivity'][i], 'orientation_selectivity')}</tr><tr><td>preferred "
               f"orientation (°)</td>{_cell(t['preferred_orientation'][i], 'preferred_orientation')}</tr>"
               f"<tr><td>rotation sharpness (vector strength)</td>"
               f"{_cell(t['rotation_sharpness'][i], 'rotation_sharpness')}</tr></tbody></table>")
        sections.append(("Tuning", f"<div class='row'>{''.join(tune)}</div>{sel}"))
    if "in_idx" in a:
        up, down = summ["upstream"], summ["downstream"]
        names = summ.get("class_names")
        w_in = "".join(_neighbour(up, int(j), v, here, counts) for j, v in zip(a["in_idx"][i], a["in_val"][i]))
        w_out = "".join(_neighbour(down, int(j), v, here, counts, names)
                        for j, v in zip(a["out_idx"][i], a["out_val"][i]))
        how = ("" if s == "neurons" else " A direction's are its neurons' projected on it (weighted by its "
               "components).")
        sections.append(("Weights", f"<h3>in, from {escape(up)}</h3><div>{w_in}</div><h3>out, to "
                                    f"{escape(down)}</h3><div>{w_out}</div><p class='note'>Expanded weights "
                                    f"through the linearised network, strongest first (summed over positions).{how}"
                                    "</p>"))
    if "synergy_partner" in a:
        partners = "".join(_neighbour(layer, int(j), v, here, counts, s=s)
                           for j, v in zip(a["synergy_partner"][i], a["synergy_value"][i]) if np.isfinite(v))
        sections.append(("Synergy partners", f"<div>{partners}</div><p class='note'>The strongest synergy "
                                             f"of this unit with another of the layer's {escape(SET_WORDS.get(s, s))} "
                                             "(the II of the pair above the better single one).</p>"))
    if "match_unit" in a:
        c = summ[s]["compare"]
        figs = "".join(f"<figure>{_img('img/' + files[key], width=width, alt=key)}<figcaption>{what}</figcaption>"
                       "</figure>" for key, width, what in
                       (("match_featvis", 96, "its feature visualisation"),
                        ("match", None, "its most activating dataset images")) if key in files)
        sections.append(("Compared model", f"<p>Best-matched unit: <b>{escape(c['partner'])} "
                                           f"{int(a['match_unit'][i])}</b>, correlation "
                                           f"{_cell(t['match_corr'][i], 'match_corr').replace('td', 'span')}"
                                           f"</p><div class='row'>{figs}</div>"))
    missing = [what for key, what in (("linearity_r2", "role measures"), ("tuning_curve", "tuning"),
                                      ("in_idx", "weights"), ("synergy_partner", "synergy partners"))
               if key not in t and key not in a]
    if missing:
        sections.append(("Not measured", f"<p class='note'>Not measured in this run for the "
                                         f"{escape(SET_WORDS.get(s, s))} of {escape(layer)}: "
                                         f"{escape(', '.join(missing))}.</p>"))
    body = "".join(f"<section><h2>{escape(h)}</h2>{inner}</section>" for h, inner in sections)
    title = f"{layer} · {word} {i}"
    _page(out / layer / _dir(s) / f"{i}.html", title, body, here, counts, layer, s, nav)


def _layer_page(out: Path, result, files: dict, counts: dict, compare: dict | None) -> None:
    layer, summ = result.summary["layer"], result.summary
    table = layer_table(result)
    atomic.write_json(out / layer / "table.json", table)
    toggle = "".join(f"<button type='button' data-set='{escape(s)}'>{escape(SET_WORDS.get(s, s))} "
                     f"({summ[s]['units']})</button>" for s in summ["sets"])
    roles = sorted({r for s in summ["sets"] for r in summ[s].get("roles") or []})
    role_opts = "<option value=''>any role</option>" + "".join(
        f"<option value='{escape(r)}'>{escape(r)}</option>" for r in roles)
    controls = (f"<div class='controls'><span class='toggle'>{toggle}</span><label>sort by <select id='sort'>"
                "</select></label><select id='order' aria-label='order'><option value='desc'>highest first</option>"
                "<option value='asc'>lowest first</option></select><label>role <select id='role'>"
                f"{role_opts}</select></label><label>from <input id='min' size='6'></label><label>to "
                "<input id='max' size='6'></label><span id='shown' class='note'></span></div>")
    sections = []
    for s in summ["sets"]:
        cards = "".join(f"<a class='card' href='{_dir(s)}/{i}.html' data-unit='{i}'>"
                        f"{_img(f'{_dir(s)}/img/{files[s][i]}', cls='', alt=f'{s} {i}')}<span>{i}</span> "
                        "<span class='val'></span></a>" for i in range(summ[s]["units"]))
        sections.append(f"<section class='set' data-set='{escape(s)}'><div class='grid'>{cards}</div></section>")
    data = json.dumps(table, sort_keys=True).replace("</", "<\\/")
    extra = ""
    if compare:
        extra = (f"<p>Compared model: best partner {escape(compare['partner'])}, linear CKA "
                 f"{_num(compare['cka'])}; median best-unit correlation {_num(compare['median_best_corr'])}.</p>")
    body = (f"<p>{escape(str(summ['neurons']['units']))} units shown; upstream {escape(str(summ['upstream']))}, "
            f"downstream {escape(str(summ['downstream']))}. Sort and filter below (the state is in the address: "
            "copy it to share the view); the range filter applies to the sort column.</p>" + extra + controls
            + "".join(sections) + f"<script type='application/json' id='atlas-data'>{data}</script>")
    _page(out / layer / "index.html", f"{layer}", body, "../", counts, layer, "neurons")


def _index(out: Path, results: list, counts: dict, facts: dict) -> None:
    sims = results[0].summary["similarities"]
    sets = list(dict.fromkeys(s for r in results for s in r.summary["sets"]))
    head = (["layer", "width shown"] + (["CKA (compared)"] if "compare" in results[0].summary else [])
            + [f"mean II {sim} · {SET_WORDS.get(s, s)}" for s in sets for sim in sims] + ["roles"])
    rows = []
    for r in results:
        sm, layer = r.summary, r.summary["layer"]
        cells = [f"<td><a href='{escape(layer)}/index.html'>{escape(layer)}</a></td>", f"<td>{sm['neurons']['units']}</td>"]
        if "compare" in sm:
            cells.append(f"<td>{_num(sm['compare']['cka'])} ({escape(sm['compare']['partner'])})</td>")
        for s in sets:
            for sim in sims:
                cells.append(_cell(sm[s][f"mean_ii_{sim}"], f"mean_ii_{s}_{sim}") if s in sm else "<td>–</td>")
        fr = sm["neurons"].get("role_fractions") or {}
        cells.append("<td>" + ", ".join(f"{escape(k)} {v:.0%}" for k, v in fr.items()) + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    facts_html = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in facts.items())
    body = ("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table><p class='note'>Search: LAYER/ID (e.g. "
            + escape(results[0].summary["layer"]) + "/3) opens that unit's page; on a unit page ← and → step "
            "through the layer.</p><h2>Run</h2><table><tbody>" + facts_html + "</tbody></table>")
    _page(out / "index.html", f"Atlas of {facts.get('model', '')}", body, "", counts)


def _drop_stale(folder: Path, n: int) -> None:
    """Remove the pages and images of units ``n`` and above from a set's folder: a rerun with a
    smaller ``--units`` leaves no page that the site no longer links (and search would find)."""
    import re

    for path in [*folder.glob("*.html"), *folder.glob("img/*.png")]:
        m = re.fullmatch(r"(\d+)(_\w+)?\.(html|png)", path.name)
        if m and int(m.group(1)) >= n:
            path.unlink()


def write_site(out, results: list, facts: dict) -> Path:
    """Draw the whole site into ``out`` from the ``atlas_layer`` results (in layer order)."""
    out = Path(out)
    atomic.write_text(out / "atlas.css", CSS)
    atomic.write_text(out / "atlas.js", JS)
    counts = {r.summary["layer"]: {s: r.summary[s]["units"] for s in r.summary["sets"]} for r in results}
    for r in results:
        layer = r.summary["layer"]
        files = {}
        for s in r.summary["sets"]:
            folder = out / layer / _dir(s) / "img"
            per = [_write_images(folder, r.arrays[s], i) for i in range(r.summary[s]["units"])]
            files[s] = [p["main"] for p in per]
            for i, p in enumerate(per):
                _unit_page(out, r, s, i, p, counts)
            _drop_stale(out / layer / _dir(s), r.summary[s]["units"])
        _layer_page(out, r, files, counts, r.summary.get("compare"))
    _index(out, results, counts, facts)
    return out / "index.html"
