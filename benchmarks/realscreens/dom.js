// Word boxes from the live DOM, evaluated in the page by generate.py
// (page.evaluate(<this file>)).  Returns
//   {dpr, scale, vw, vh, words: [...], fulltext}
// where every word is
//   {text, box: [x0,y0,x1,y1] (screenshot pixels), kind, block, seq, state,
//    piece}
// state: "ok"       fully visible (inside the viewport, not clipped, not covered)
//        "partial"  rendered but partly outside the viewport / clipped / covered;
//                   such words are not labelled, but they count when the
//                   generator checks that a phrase is unambiguous on the screen.
// piece: true when a word wraps across lines and this entry is one line's piece.
// Screenshot pixel = (client CSS px - visualViewport offset) * visualViewport.scale
//                    * devicePixelRatio.
(() => {
  const vvp = window.visualViewport;
  const dpr = window.devicePixelRatio || 1;
  const scale = vvp ? vvp.scale : 1;
  const offL = vvp ? vvp.offsetLeft : 0;
  const offT = vvp ? vvp.offsetTop : 0;
  const vw = vvp ? vvp.width : window.innerWidth;    // CSS px of the visual viewport
  const vh = vvp ? vvp.height : window.innerHeight;
  const VIEW = [offL, offT, offL + vw, offT + vh];    // in client (layout) coordinates
  const f = dpr * scale;
  const px = (r) => [(r[0] - offL) * f, (r[1] - offT) * f, (r[2] - offL) * f, (r[3] - offT) * f];

  const SKIP_TAGS = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TEXTAREA", "SELECT",
    "OPTION", "OPTGROUP", "TITLE", "HEAD", "IFRAME", "OBJECT", "CANVAS"]);
  const CODE = new Set(["CODE", "PRE", "KBD", "SAMP", "TT"]);
  const LABEL = new Set(["LABEL", "LEGEND", "DT"]);

  const kindCache = new Map();
  function kindOf(el) {
    if (kindCache.has(el)) return kindCache.get(el);
    let k = null;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const t = e.tagName.toUpperCase();
      if (t === "BUTTON" || (e.getAttribute("role") || "").toLowerCase() === "button") { k = "button"; break; }
      if (k) continue;
      if (/^H[1-6]$/.test(t)) k = "heading";
      else if (t === "A" && e.hasAttribute("href")) k = "link";
      else if (CODE.has(t)) k = "code";
      else if (t === "TD" || t === "TH") k = "table";
      else if (LABEL.has(t)) k = "label";
    }
    k = k || "prose";
    kindCache.set(el, k);
    return k;
  }

  const styleCache = new Map();
  const cs = (el) => { let s = styleCache.get(el); if (!s) { s = getComputedStyle(el); styleCache.set(el, s); } return s; };

  const blockIds = new Map();
  const blockEls = [];
  function blockElOf(el) {
    let e = el;
    while (e && e.parentElement) {
      const d = cs(e).display;
      if (d !== "inline" && d !== "contents") break;
      e = e.parentElement;
    }
    return e;
  }
  function blockOf(el) {
    const e = blockElOf(el);
    if (!blockIds.has(e)) { blockIds.set(e, blockIds.size); blockEls.push(e); }
    return blockIds.get(e);
  }

  // Visible per CSS (display, visibility, opacity of element and ancestors,
  // content-visibility), no clip/clip-path, text colour not transparent.
  const visCache = new Map();
  function elVisible(el) {
    if (visCache.has(el)) return visCache.get(el);
    let v = true;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      if (SKIP_TAGS.has(e.tagName.toUpperCase())) { v = false; break; }
      if (e.hidden) { v = false; break; }
    }
    if (v && el.checkVisibility) {
      v = el.checkVisibility({opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true});
    }
    if (v) {
      for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
        const s = cs(e);
        if ((s.clip && s.clip !== "auto") || (s.clipPath && s.clipPath !== "none")) { v = false; break; }
        if (e === document.body) break;
      }
    }
    if (v) {
      const s = cs(el);
      const m = /rgba?\(([^)]*)\)/.exec(s.color);
      if (m) { const p = m[1].split(/[ ,/]+/).filter(Boolean); if (p.length === 4 && parseFloat(p[3]) === 0) v = false; }
      if (parseFloat(s.fontSize) === 0) v = false;
    }
    visCache.set(el, v);
    return v;
  }

  // Clip box (client coordinates) from overflow-clipping ancestors and the viewport.
  const clipCache = new Map();
  const inter = (a, b) => [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  function containingBlock(el) {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const s = cs(e);
      if (s.position !== "static" || s.transform !== "none") return e;
    }
    return null;
  }
  function clipOf(el) {
    if (!el || el.nodeType !== 1) return VIEW;
    if (clipCache.has(el)) return clipCache.get(el);
    const s = cs(el);
    let base;
    if (s.position === "fixed") base = VIEW;
    else if (s.position === "absolute") base = clipOf(containingBlock(el));
    else base = clipOf(el.parentElement);
    let c = base;
    if (el !== document.documentElement && el !== document.body &&
        (s.overflowX !== "visible" || s.overflowY !== "visible")) {
      const r = el.getBoundingClientRect();
      const x0 = r.left + el.clientLeft, y0 = r.top + el.clientTop;
      const own = [
        s.overflowX !== "visible" ? x0 : -1e9, s.overflowY !== "visible" ? y0 : -1e9,
        s.overflowX !== "visible" ? x0 + el.clientWidth : 1e9, s.overflowY !== "visible" ? y0 + el.clientHeight : 1e9];
      c = inter(base, own);
    }
    clipCache.set(el, c);
    return c;
  }

  function covered(el, r, scope) {
    // true when an element outside the text's block (scope) is painted over the centre of
    // rect r (a word made of several inline elements may hit any of them).
    const cx = (r[0] + r[2]) / 2, cy = (r[1] + r[3]) / 2;
    const hit = document.elementFromPoint(cx, cy);
    if (!hit) return true;
    const s = scope || el;
    return !(hit === s || s.contains(hit) || hit.contains(el));
  }

  // Rect state: "out" (nothing inside the visible area), "partial", "ok".
  function rectState(el, r, scope) {
    const c = clipOf(el);
    const w = r[2] - r[0], h = r[3] - r[1];
    if (w <= 0.5 || h <= 0.5) return "out";
    const i = inter(c, r);
    if (i[2] - i[0] <= 0.5 || i[3] - i[1] <= 0.5) return "out";
    const eps = 0.5;
    if (r[0] < c[0] - eps || r[1] < c[1] - eps || r[2] > c[2] + eps || r[3] > c[3] + eps) return "partial";
    if (covered(el, r, scope)) return "partial";
    return "ok";
  }

  // Group rects (client coords) into lines: rects whose vertical centres fall in
  // each other's span are one line piece; returns the union per line.
  function lineUnion(rects) {
    const out = [];
    for (const r of rects) {
      if (r[2] - r[0] <= 0.01 || r[3] - r[1] <= 0.01) continue;
      const cy = (r[1] + r[3]) / 2;
      let g = out.find((o) => cy >= o[1] && cy <= o[3]);
      if (!g) { const o = r.slice(); out.push(o); continue; }
      g[0] = Math.min(g[0], r[0]); g[1] = Math.min(g[1], r[1]);
      g[2] = Math.max(g[2], r[2]); g[3] = Math.max(g[3], r[3]);
    }
    return out;
  }
  const rl = (rs) => Array.from(rs, (q) => [q.left, q.top, q.right, q.bottom]);

  const range = document.createRange();
  function fragRects(fr) {
    range.setStart(fr.node, fr.start); range.setEnd(fr.node, fr.end);
    return rl(range.getClientRects());
  }

  // Two fragments from different text nodes form one word only when nothing
  // separates them on screen (no <br>, no gap): last rect of a meets first of b.
  function adjacent(a, b) {
    const ra = fragRects(a), rb = fragRects(b);
    if (!ra.length || !rb.length) return false;
    const p = ra[ra.length - 1], q = rb[0];
    const cy = (q[1] + q[3]) / 2;
    return Math.abs(q[0] - p[2]) < 1.0 && cy >= p[1] - 1 && cy <= p[3] + 1;
  }

  // ---- collect word fragments in document order -------------------------------
  const words = [];   // {frags: [{node,start,end,el}], block}
  let cur = null;     // current open word (for merging across text nodes)
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const VIEWPAD = 4;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.data || !elVisible(el)) { cur = null; continue; }
    const data = n.data;
    if (!/\S/.test(data)) { if (data.length) cur = null; continue; }
    // cheap reject: whole text node far outside the viewport
    range.selectNodeContents(n);
    const br = range.getBoundingClientRect();
    if (br.bottom < VIEW[1] - VIEWPAD || br.top > VIEW[3] + VIEWPAD ||
        br.right < VIEW[0] - VIEWPAD || br.left > VIEW[2] + VIEWPAD || (br.width === 0 && br.height === 0)) {
      cur = null; continue;
    }
    const block = blockOf(el);
    const re = /\S+/g;
    let m;
    let first = true;
    while ((m = re.exec(data)) !== null) {
      const fr = {node: n, start: m.index, end: m.index + m[0].length, el};
      if (first && m.index === 0 && cur && cur.block === block && adjacent(cur.frags[cur.frags.length - 1], fr)) {
        cur.frags.push(fr);              // glued to the previous text node's last word
      } else {
        cur = {frags: [fr], block};
        words.push(cur);
      }
      first = false;
    }
    if (/\s$/.test(data)) cur = null;
  }

  const out = [];
  const outEls = [];  // element of each out entry (same index; read by queries.js)
  let seq = 0;
  const isAlnum = (ch) => /[\p{L}\p{N}]/u.test(ch);
  for (const w of words) {
    const text = w.frags.map((fr) => fr.node.data.slice(fr.start, fr.end)).join("");
    // kind: the kind of the fragment holding most letters/digits
    const tally = new Map();
    for (const fr of w.frags) {
      const k = kindOf(fr.el);
      const s = fr.node.data.slice(fr.start, fr.end);
      let c = 0; for (const ch of s) if (isAlnum(ch)) c++;
      tally.set(k, (tally.get(k) || 0) + c + 0.001);
    }
    let kind = "prose", best = -1;
    for (const [k, c] of tally) if (c > best) { best = c; kind = k; }
    let rects = [];
    for (const fr of w.frags) rects = rects.concat(fragRects(fr).map((r) => ({r, el: fr.el})));
    const lines = lineUnion(rects.map((o) => o.r));
    if (lines.length === 0) continue;
    let pieces;  // [{text, rect, el}]
    if (lines.length === 1) {
      pieces = [{text, rect: lines[0], el: w.frags[0].el}];
    } else {
      // wraps: split the word per line at character level
      const groups = lines.map((g) => ({text: "", rect: null, el: null, g}));
      for (const fr of w.frags) {
        for (let i = fr.start; i < fr.end; i++) {
          range.setStart(fr.node, i); range.setEnd(fr.node, i + 1);
          const rs = rl(range.getClientRects()).filter((r) => r[2] - r[0] > 0.01);
          if (!rs.length) continue;
          const r = rs[0];
          const cy = (r[1] + r[3]) / 2;
          let gi = groups.findIndex((q) => cy >= q.g[1] && cy <= q.g[3]);
          if (gi < 0) gi = 0;
          const q = groups[gi];
          q.text += fr.node.data[i];
          q.el = q.el || fr.el;
          q.rect = q.rect ? [Math.min(q.rect[0], r[0]), Math.min(q.rect[1], r[1]), Math.max(q.rect[2], r[2]), Math.max(q.rect[3], r[3])] : r.slice();
        }
      }
      pieces = groups.filter((q) => q.rect && q.text.trim());
    }
    const inSvg = !!w.frags[0].el.closest("svg, math");
    for (const p of pieces) {
      // the piece's element decides clipping and covering
      let st = rectState(p.el, p.rect, blockEls[w.block]);
      if (st === "ok" && inSvg) st = "partial";   // SVG/MathML text: counted, not labelled
      if (st === "out") continue;
      outEls.push(p.el);
      out.push({text: p.text, box: px(p.rect), kind, block: w.block, seq: seq++, state: st,
                piece: pieces.length > 1});
    }
  }

  // ---- form fields: input values/placeholders, select text, submit buttons ------
  // Text inside form controls is not in text nodes: it is measured with a hidden probe
  // <span> (same computed font) inserted right after the control, so that layout (and
  // mobile text autosizing) measure it as they render it.  Text areas and list boxes
  // are recorded as "partial" (they count for unambiguity, they are not labelled), and so
  // is all control text on phones (window.__realscreensMobile), where Chromium's text
  // autosizing enlarges it by a factor the DOM does not expose.
  const TEXTY = new Set(["", "text", "search", "email", "url", "tel", "number"]);
  const BTN = new Set(["submit", "button", "reset"]);
  let fieldBlock = 1000000;
  function probe(el, s, text) {
    const sp = document.createElement("span");
    sp.textContent = text;
    sp.style.cssText = "all:initial;white-space:pre;visibility:hidden;display:inline;";
    sp.style.font = s.font;
    sp.style.letterSpacing = s.letterSpacing;
    sp.style.textTransform = s.textTransform;
    el.insertAdjacentElement("afterend", sp);
    const r0 = sp.getBoundingClientRect();
    const tn = sp.firstChild;
    const spans = [];
    const re = /\S+/g; let m;
    while ((m = re.exec(text)) !== null) {
      range.setStart(tn, m.index); range.setEnd(tn, m.index + m[0].length);
      const q = range.getBoundingClientRect();
      spans.push([m[0], q.left - r0.left, q.right - r0.left]);
    }
    const res = {w: r0.width, h: r0.height, spans};
    sp.remove();
    return res;
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    const tag = el.tagName.toUpperCase();
    const type = (el.getAttribute("type") || "").toLowerCase();
    let texts = [], kind = "field", centred = false, partial = false;
    if (tag === "INPUT") {
      if (BTN.has(type)) { texts = [el.value || (type === "reset" ? "Reset" : type === "submit" ? "Submit" : "")]; kind = "button"; centred = true; }
      else if (TEXTY.has(type)) texts = [el.value || el.placeholder || ""];
      else continue;
    } else if (tag === "SELECT") {
      if (el.multiple || (el.size && el.size > 1)) { texts = Array.from(el.options, (o) => o.text); partial = true; }
      else { const o = el.options[el.selectedIndex]; texts = [o ? o.text : ""]; }
    } else {
      texts = (el.value || el.placeholder || "").split("\n"); partial = true;
    }
    texts = texts.map((t) => t.replace(/\s+/g, " ").trim());
    if (!texts.some(Boolean)) continue;
    let vis = true;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) if (e.hidden) vis = false;
    if (!vis || (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true}))) continue;
    const s = cs(el);
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    if (r.bottom < VIEW[1] || r.top > VIEW[3] || r.right < VIEW[0] || r.left > VIEW[2]) continue;
    const pl = parseFloat(s.paddingLeft) + parseFloat(s.borderLeftWidth);
    const pr = parseFloat(s.paddingRight) + parseFloat(s.borderRightWidth);
    const pt = parseFloat(s.paddingTop) + parseFloat(s.borderTopWidth);
    // Chromium's menu-list select draws its text 4 CSS px inside the padding box
    const inner = tag === "SELECT" && !partial && s.appearance !== "none" ? 4 : 0;
    const cl = r.left + pl + inner, cr = r.right - pr;
    const block = fieldBlock++;
    let yTop = r.top + pt;
    for (const text of texts) {
      if (!text) continue;
      const pm = probe(el, s, text);
      const x = centred ? (cl + cr) / 2 - pm.w / 2 : cl;
      let y0, y1;
      if (partial) { y0 = yTop; y1 = yTop + pm.h; yTop = y1; }
      else { const cy = (r.top + r.bottom) / 2; y0 = Math.max(r.top, cy - pm.h / 2); y1 = Math.min(r.bottom, cy + pm.h / 2); }
      if (partial && y0 > r.bottom) break;
      for (const [wt, a, b] of pm.spans) {
        const rr = [x + a, y0, x + b, y1];
        let st = rectState(el, rr);
        if (st === "out") continue;
        if (partial || rr[2] > cr + 1 || rr[0] < cl - 1) st = "partial";   // cut off by the control
        // phones: text autosizing enlarges control text beyond what the probe measures
        if (window.__realscreensMobile) st = "partial";
        outEls.push(el);
        out.push({text: wt, box: px(rr), kind, block, seq: seq++, state: st, piece: false});
      }
    }
  }

  // ---- whole-DOM text (for the absent-phrase check) ------------------------------
  const parts = [document.title, document.body.innerText, document.body.textContent];
  for (const el of document.querySelectorAll("input, textarea")) parts.push(el.value || "", el.placeholder || "");
  for (const el of document.querySelectorAll("option")) parts.push(el.text);
  for (const el of document.querySelectorAll("img[alt], area[alt]")) parts.push(el.getAttribute("alt"));
  for (const el of document.querySelectorAll("[title]")) parts.push(el.getAttribute("title"));
  // for queries.js (evaluated next in the same page): the element of every word (by seq)
  // and the visibility helpers; the returned object is unaffected
  window.__realscreensDom = {els: outEls, rectState, px, clipOf, VIEW};
  return {dpr, scale, vw, vh, words: out, fulltext: parts.join("\n")};
})()
