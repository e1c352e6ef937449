// The cross-boundary flows panel: placements in the period as a matrix of the child's
// authority (rows) by the household's authority (columns), with the margins, the
// cross-boundary share, and the inter-agency fees in the same shape.
import { h, row, table } from '../dom.js';
import { authorityKey, figure, formats } from '../figures.js';
import * as words from '../labels.js';

const BASE = 'crossBoundaryFlows';

const NOT_IN_REPORT_TITLE = 'No figure (–): not part of this report (figures between other authorities are not shown).';

/** The mark of a figure the report does not hold (no `data-figure`: it is not in `data`). */
function notInReport() {
  return h('span', { class: 'figure missing', title: NOT_IN_REPORT_TITLE }, '–');
}

function axis(flows, side, totals) {
  const seen = new Map();
  for (const t of flows[totals]) seen.set(authorityKey(t.authority), t.authority);
  for (const c of flows.cells) {
    const a = c[side];
    if (!seen.has(authorityKey(a))) seen.set(authorityKey(a), a);
  }
  return [...seen.values()];
}

function matrix(flows, ctx, field, format, caption) {
  const rows = axis(flows, 'childAuthority', 'byChildAuthority');
  const columns = axis(flows, 'householdAuthority', 'byHouseholdAuthority');
  const cell = (r, c) => flows.cells.find((x) => authorityKey(x.childAuthority) === authorityKey(r) && authorityKey(x.householdAuthority) === authorityKey(c));
  const marked = (a) => (ctx.highlight && authorityKey(a) === ctx.highlight ? 'highlight' : null);
  const body = rows.map((r) => {
    const rowTotal = flows.byChildAuthority.find((t) => authorityKey(t.authority) === authorityKey(r));
    return row(
      h('th', { scope: 'row', class: marked(r) }, ctx.authorityName(r)),
      [
        ...columns.map((c) => {
          const x = cell(r, c);
          const key = `${authorityKey(r)}>${authorityKey(c)}`;
          const td = h('td', { class: ['num', authorityKey(r) === authorityKey(c) ? 'diagonal' : null, marked(r) || marked(c)].filter(Boolean).join(' ') });
          if (x) td.append(figure(`${BASE}.cells[${key}].${field}`, x[field], format));
          else td.append(notInReport());
          return td;
        }),
        h('td', { class: 'num margin' }, rowTotal ? figure(`${BASE}.byChildAuthority[${authorityKey(r)}].${field}`, rowTotal[field], format) : notInReport()),
      ],
    );
  });
  body.push(
    row(
      'All placements with the household’s authority',
      [
        ...columns.map((c) => {
          const t = flows.byHouseholdAuthority.find((x) => authorityKey(x.authority) === authorityKey(c));
          return h('td', { class: 'num margin' }, t ? figure(`${BASE}.byHouseholdAuthority[${authorityKey(c)}].${field}`, t[field], format) : notInReport());
        }),
        h('td', { class: 'num margin' }, figure(`${BASE}.total.${field}`, flows.total[field], format)),
      ],
      { class: 'total' },
    ),
  );
  return table({
    caption,
    className: 'figures matrix',
    head: [
      [
        h('td', { class: 'corner' }),
        h('th', { scope: 'colgroup', colspan: columns.length }, 'Household’s authority'),
        h('td', { class: 'corner' }),
      ],
      [
        h('th', { scope: 'col' }, 'Child’s authority'),
        ...columns.map((c) => h('th', { scope: 'col', class: marked(c) }, ctx.authorityName(c))),
        h('th', { scope: 'col' }, 'All placements of the child’s authority'),
      ],
    ],
    body,
  });
}

export function render(data, ctx) {
  const flows = data.crossBoundaryFlows;
  const when = words.period(flows);
  const out = [];
  if (ctx.flowsNote) out.push(h('p', { class: 'note' }, ctx.flowsNote));
  out.push(matrix(flows, ctx, 'children', formats.count, `Children placed, ${when}: child’s authority by household’s authority`));
  out.push(
    table({
      caption: `Across authority boundaries, ${when}`,
      className: 'figures',
      head: ['Measure', 'Value'],
      body: [
        row('Children placed with another authority’s household', [figure(`${BASE}.crossBoundaryChildren`, flows.crossBoundaryChildren)]),
        row('% of the children placed', [figure(`${BASE}.crossBoundaryPercent`, flows.crossBoundaryPercent, formats.percent)]),
        row('Inter-agency fees of those placements', [figure(`${BASE}.crossBoundaryFeesPence`, flows.crossBoundaryFeesPence, formats.pence)]),
      ],
    }),
  );
  out.push(matrix(flows, ctx, 'feesPence', formats.pence, `Inter-agency fees, ${when}: child’s authority by household’s authority`));
  return out;
}
