// DOM facts for the language-layer queries, evaluated by generate.py in the page right after
// dom.js (and the screenshot), reading the word -> element map dom.js leaves in
// window.__realscreensDom.  Changes nothing in the page.  Returns
//   {elements: [...], pairs: [...]}
// elements (document order; every rendered heading / button / link / text field / menu /
// checkbox / radio / tab, on screen or not):
//   {kind: "heading"|"button"|"link"|"field"|"menu"|"checkbox"|"radio"|"tab",
//    level (headings), box (screenshot px, getBoundingClientRect x DPR, visual-viewport
//    corrected like the words), state ("ok"|"partial"|"out", as dom.js decides for words),
//    seqs (seq of the words inside the element: its visible text; for input buttons and text
//    fields the control text dom.js measured), label_seqs (form controls: the words of its
//    <label>, or of the row-header <th> of the table cell that holds only this control),
//    label_via ("label"|"th"), has_value (text field/menu shows a value, not a placeholder),
//    placeholder (text field shows its placeholder)}
// pairs (label -> value, document order):
//   {source: "dt-dd"|"th-td"|"label-input", layout_hint: "cell-right"|"cell-below"|null,
//    label_seqs, value_seqs, label_box, value_box (element boxes, px), from_control}
(() => {
  const D = window.__realscreensDom;
  if (!D) return null;
  const {els, px, clipOf} = D;

  // element -> seqs of the words inside it (the word's own element and its ancestors)
  const inside = new Map();
  for (let i = 0; i < els.length; i++) {
    for (let e = els[i]; e && e.nodeType === 1; e = e.parentElement) {
      let a = inside.get(e);
      if (!a) { a = []; inside.set(e, a); }
      a.push(i);
    }
  }
  const CONTROL_TAGS = new Set(["INPUT", "SELECT", "TEXTAREA", "BUTTON"]);
  // words of E, leaving out text that form controls inside E draw (a wrapping <label>)
  const textSeqs = (E, keepControls) => (inside.get(E) || []).filter((i) =>
    keepControls || els[i] === E || !CONTROL_TAGS.has(els[i].tagName.toUpperCase()));
  const ownSeqs = (E) => (inside.get(E) || []).filter((i) => els[i] === E);

  const rendered = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) if (e.hidden) return false;
    if (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width >= 1 && r.height >= 1;
  };
  const rectOf = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const boxOf = (el) => px(rectOf(el));
  // an element's box state, as dom.js's rectState for words, but clipped by the element's
  // ancestors only (a control clips its own content, not its border box)
  function stateOf(el) {
    const r = rectOf(el), c = clipOf(el.parentElement);
    if (r[2] - r[0] <= 0.5 || r[3] - r[1] <= 0.5) return "out";
    const i = [Math.max(c[0], r[0]), Math.max(c[1], r[1]), Math.min(c[2], r[2]), Math.min(c[3], r[3])];
    if (i[2] - i[0] <= 0.5 || i[3] - i[1] <= 0.5) return "out";
    const eps = 0.5;
    if (r[0] < c[0] - eps || r[1] < c[1] - eps || r[2] > c[2] + eps || r[3] > c[3] + eps) return "partial";
    const hit = document.elementFromPoint((r[0] + r[2]) / 2, (r[1] + r[3]) / 2);
    if (!hit || !(hit === el || el.contains(hit) || hit.contains(el))) return "partial";
    return "ok";
  }

  const TEXTY = new Set(["", "text", "search", "email", "url", "tel", "number", "password"]);
  const BTN = new Set(["submit", "button", "reset"]);
  function kindOf(el) {
    const t = el.tagName.toUpperCase();
    const role = (el.getAttribute("role") || "").toLowerCase();
    if (role === "tab") return "tab";
    if (/^H[1-6]$/.test(t)) return "heading";
    if (t === "BUTTON" || role === "button") return "button";
    if (t === "INPUT") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (BTN.has(type)) return "button";
      if (type === "checkbox") return "checkbox";
      if (type === "radio") return "radio";
      if (TEXTY.has(type)) return "field";
      return null;
    }
    if (t === "TEXTAREA") return "field";
    if (t === "SELECT") return (el.multiple || (el.size && el.size > 1)) ? null : "menu";
    if (t === "A" && el.hasAttribute("href")) return "link";
    return null;
  }

  // the row-header <th> of the cell that holds exactly one form control (CUPS forms label
  // their inputs this way)
  function thLabelOf(el) {
    const td = el.closest("td");
    if (!td) return null;
    const ctrls = td.querySelectorAll("input:not([type=hidden]), select, textarea");
    if (ctrls.length !== 1 || ctrls[0] !== el) return null;
    const th = td.previousElementSibling;
    if (!th || th.tagName.toUpperCase() !== "TH" || td.parentElement !== th.parentElement) return null;
    return th;
  }

  const SEL = "h1,h2,h3,h4,h5,h6,a[href],button,[role=button],[role=tab],input,select,textarea";
  const elements = [];
  const index = new Map();
  for (const el of document.body.querySelectorAll(SEL)) {
    const kind = kindOf(el);
    if (!kind || !rendered(el)) continue;
    const t = el.tagName.toUpperCase();
    const rec = {kind, box: boxOf(el), state: stateOf(el), seqs: []};
    if (/^H[1-6]$/.test(t)) rec.level = +t[1];
    else if (el.closest("h1,h2,h3,h4,h5,h6")) rec.in_heading = true;   // not part of its section
    if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA") {
      rec.seqs = ownSeqs(el);
      if (kind !== "button") {
        let lab = null, via = null;
        for (const l of (el.labels || [])) { if (textSeqs(l).length) { lab = l; via = "label"; break; } }
        if (!lab) { const th = thLabelOf(el); if (th) { lab = th; via = "th"; } }
        if (lab) { rec.label_seqs = textSeqs(lab); rec.label_via = via; rec.label_box = boxOf(lab); }
        if (t === "SELECT") rec.has_value = !!(el.options[el.selectedIndex] && el.options[el.selectedIndex].text.trim());
        else if (kind === "field") {
          rec.has_value = !!(el.value && el.value.trim());
          rec.placeholder = !rec.has_value && !!(el.placeholder && el.placeholder.trim());
        }
      }
    } else {
      rec.seqs = textSeqs(el);
    }
    index.set(el, elements.length);
    elements.push(rec);
  }

  // ---- label -> value pairs ------------------------------------------------------
  const pairs = [];
  const controlValue = (cell) => {
    // a cell whose value is the text of the one text field / menu it holds
    const ctrls = cell.querySelectorAll("input:not([type=hidden]), select, textarea");
    if (ctrls.length !== 1) return null;
    const c = ctrls[0];
    const k = kindOf(c);
    if (k !== "field" && k !== "menu") return null;
    if (c.tagName.toUpperCase() === "TEXTAREA") return {skip: true};
    const has = c.tagName.toUpperCase() === "SELECT"
      ? !!(c.options[c.selectedIndex] && c.options[c.selectedIndex].text.trim())
      : !!(c.value && c.value.trim());
    if (!has) return {skip: true};     // empty (or only a placeholder): no value to read
    return {el: c, seqs: ownSeqs(c)};
  };
  function addPair(source, layout, labEl, valEl) {
    if (!rendered(labEl) || !rendered(valEl)) return;
    const ls = textSeqs(labEl);
    if (!ls.length) return;
    let vs, vbox = boxOf(valEl), fromControl = false;
    const cv = (valEl.tagName.toUpperCase() === "TD" || valEl.tagName.toUpperCase() === "DD") ? controlValue(valEl) : null;
    if (cv && cv.skip) return;
    // a cell of radio buttons / checkboxes / several controls has no single value to read
    if (!cv && valEl.querySelector("input:not([type=hidden]), select, textarea, button")) return;
    if (cv) { vs = cv.seqs; vbox = boxOf(cv.el); fromControl = true; }
    else vs = textSeqs(valEl);
    if (!vs.length) return;
    pairs.push({source, layout_hint: layout, label_seqs: ls, value_seqs: vs,
                label_box: boxOf(labEl), value_box: vbox, from_control: fromControl});
  }
  for (const dt of document.body.querySelectorAll("dt")) {
    const dd = dt.nextElementSibling;
    const prev = dt.previousElementSibling;
    if (!dd || dd.tagName.toUpperCase() !== "DD") continue;
    if (prev && prev.tagName.toUpperCase() === "DT") continue;     // several terms share the dd
    addPair("dt-dd", null, dt, dd);
  }
  for (const table of document.body.querySelectorAll("table")) {
    const rows = Array.from(table.rows);
    const spanned = rows.some((tr) => Array.from(tr.cells).some((c) => c.rowSpan > 1));
    for (let ri = 0; ri < rows.length; ri++) {
      const cells = Array.from(rows[ri].cells);
      // row headers: <th> then <td> in the same row
      for (let ci = 0; ci + 1 < cells.length; ci++) {
        const a = cells[ci], b = cells[ci + 1];
        if (a.tagName.toUpperCase() === "TH" && b.tagName.toUpperCase() === "TD") addPair("th-td", "cell-right", a, b);
      }
      // column headers: a row of <th> only, the first data row below, same column
      if (spanned || !cells.length || !cells.every((c) => c.tagName.toUpperCase() === "TH")) continue;
      const rj = ri + 1;                 // a second header row: no "first data cell below"
      if (rj >= rows.length) continue;
      const data = Array.from(rows[rj].cells);
      if (data.some((c) => c.tagName.toUpperCase() !== "TD")) continue;
      const cols = (cs) => { const o = []; let x = 0; for (const c of cs) { o.push([x, x + c.colSpan]); x += c.colSpan; } return o; };
      const hc = cols(cells), dc = cols(data);
      for (let ci = 0; ci < cells.length; ci++) {
        const j = dc.findIndex((s) => s[0] === hc[ci][0] && s[1] === hc[ci][1]);
        if (j >= 0) addPair("th-td", "cell-below", cells[ci], data[j]);
      }
    }
  }
  for (const lab of document.body.querySelectorAll("label")) {
    const c = lab.control;
    if (!c) continue;
    const k = kindOf(c);
    if (k !== "field" && k !== "menu") continue;
    if (c.tagName.toUpperCase() === "TEXTAREA") continue;
    const has = c.tagName.toUpperCase() === "SELECT"
      ? !!(c.options[c.selectedIndex] && c.options[c.selectedIndex].text.trim())
      : !!(c.value && c.value.trim());
    if (!has || !rendered(lab) || !rendered(c)) continue;
    const ls = textSeqs(lab), vs = ownSeqs(c);
    if (!ls.length || !vs.length) continue;
    pairs.push({source: "label-input", layout_hint: null, label_seqs: ls, value_seqs: vs,
                label_box: boxOf(lab), value_box: boxOf(c), from_control: true});
  }
  return {elements, pairs};
})()
