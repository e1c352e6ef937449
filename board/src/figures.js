// Figures as the page shows them. Every figure is an element with `data-figure` (its
// path in the panel's GraphQL `data`) and, when there is a value, `data-value` (the raw
// number as the API gave it). A withheld figure (`{ value: null, suppressed: true }`)
// shows `c`, never a blank or a zero, with a `title` saying why; a figure that does not
// exist (`value: null`, not suppressed) shows an en dash.
import { h } from './dom.js';

export const WITHHELD_TITLE =
  'Withheld under disclosure control (c): a small number (1 to 5) or a figure resting on too few cases, ' +
  'or a figure withheld so that a small one cannot be worked out from the others by differencing.';

export const MISSING_TITLE = 'No figure (–): there is nothing to compute it from, such as no cases in the period.';

const COUNT = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 0 });
const ONE_DECIMAL = new Intl.NumberFormat('en-GB', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const MONEY = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'GBP' });

/** How a value is written. */
export const formats = {
  count: (v) => COUNT.format(v),
  days: (v) => COUNT.format(v),
  percent: (v) => `${ONE_DECIMAL.format(v)}%`,
  /** Pence as pounds. */
  pence: (v) => MONEY.format(v / 100),
  /** A signed count (a gap). */
  signed: (v) => (v > 0 ? `+${COUNT.format(v)}` : COUNT.format(v)),
};

/**
 * The element of one figure: `f` is the API's `{ value, suppressed }` (or null/undefined
 * when the answer has no such figure), `format` one of `formats`.
 * `withheldTitle` overrides the reason a withheld figure gives.
 */
export function figure(path, f, format = formats.count, withheldTitle = WITHHELD_TITLE) {
  if (f && f.suppressed) {
    return h('abbr', { class: 'figure withheld', 'data-figure': path, 'data-withheld': 'true', title: withheldTitle }, 'c');
  }
  if (!f || f.value === null || f.value === undefined) {
    return h('span', { class: 'figure missing', 'data-figure': path, 'data-missing': 'true', title: MISSING_TITLE }, '–');
  }
  return h('span', { class: 'figure', 'data-figure': path, 'data-value': String(f.value) }, format(f.value));
}

/** A plain number of the API (an `Int` that is never withheld itself), as a figure. */
export function plain(path, value, format = formats.count) {
  return figure(path, { value, suppressed: false }, format);
}

/** The mark of a scorecard mean against its threshold: words and a symbol, not colour alone. */
export function met(value, threshold) {
  if (value === null || value === undefined) return null;
  return value
    ? h('span', { class: 'met yes' }, h('span', { 'aria-hidden': 'true' }, '✓ '), `within ${threshold}`)
    : h('span', { class: 'met no' }, h('span', { 'aria-hidden': 'true' }, '✗ '), `over ${threshold}`);
}

/** The key of a list element holding an authority (`_` when the API names none). */
export function authorityKey(authority) {
  return authority ? authority.code : '_';
}
