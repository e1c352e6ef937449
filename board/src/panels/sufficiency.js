// The sufficiency panel: children waiting (and placement units: a sibling group placed
// together counts once) by characteristic, against approved households waiting that
// accept each.
import { h, row, table } from '../dom.js';
import { figure, formats } from '../figures.js';
import * as words from '../labels.js';

const BASE = 'sufficiency';

const GAP_WITHHELD =
  'Withheld (c): the gap is worked out from the units and the households, and one of them is withheld under disclosure control.';

function gap(r) {
  const path = `${BASE}.rows[${r.characteristic}].gap`;
  const withheld = r.gap === null && (r.units.suppressed || r.households.suppressed);
  const f = { value: r.gap, suppressed: withheld };
  const td = h('td', { class: 'num' }, figure(path, f, formats.signed, GAP_WITHHELD));
  if (r.gap !== null && r.gap < 0) td.append(' ', h('span', { class: 'met no' }, 'short'));
  return td;
}

export function render(data, ctx) {
  const s = data.sufficiency;
  return [
    table({
      caption: `Children waiting and households waiting by characteristic, ${ctx.scopeLabel}, as at ${words.date(s.asOf)}`,
      className: 'figures',
      head: ['Characteristic', 'Children waiting', 'Placement units', 'Approved households waiting that accept it', 'Gap (households less units)'],
      body: s.rows.map((r) =>
        row(words.label(words.CHARACTERISTICS, r.characteristic), [
          figure(`${BASE}.rows[${r.characteristic}].children`, r.children),
          figure(`${BASE}.rows[${r.characteristic}].units`, r.units),
          figure(`${BASE}.rows[${r.characteristic}].households`, r.households),
          gap(r),
        ]),
      ),
    }),
    h(
      'p',
      { class: 'note' },
      'A negative gap means fewer households than placement units. For ethnic minority children the households counted are those of a minority ethnicity: ethnicity is never a matching rule, so this row measures the adopters’ diversity.',
    ),
  ];
}
