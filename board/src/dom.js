// A small element builder: `h('td', { class: 'num' }, 'text', child)`. Attributes whose
// value is null, undefined or false are left out; `true` gives an empty attribute.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * A table: its caption, heading rows (each a list of cells: text becomes
 * `<th scope="col">`, an element is taken as it is) and body (`<tr>` or `<tbody>`
 * elements; rows are wrapped in one `<tbody>`).
 */
export function table({ caption, className, head, body }) {
  const heads = Array.isArray(head[0]) ? head : [head];
  const thead = h(
    'thead',
    {},
    heads.map((cells) => h('tr', {}, cells.map((c) => (c instanceof Node ? c : h('th', { scope: 'col' }, c))))),
  );
  const bodies = body.length && body[0].tagName === 'TBODY' ? body : [h('tbody', {}, body)];
  return h('div', { class: 'table-wrap' }, h('table', { class: className || null }, h('caption', {}, caption), thead, bodies));
}

/** A body row: its heading (`<th scope="row">`) and cells (each a `<td class="num">`
 * around it, unless it is a `<td>` already). */
export function row(heading, cells, attrs) {
  return h(
    'tr',
    attrs || {},
    heading instanceof Node && heading.tagName === 'TH' ? heading : h('th', { scope: 'row' }, heading),
    cells.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', { class: 'num' }, c))),
  );
}
