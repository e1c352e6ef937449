// The alerts panel: how many children are past a tracking timescale and how many
// households past a recruitment timescale, as of the date (counts only; no record is
// read).
import { row, table } from '../dom.js';
import { plain } from '../figures.js';
import * as words from '../labels.js';
import { ADOPTER_ALERT_KINDS, CHILD_ALERT_KINDS } from '../queries.js';

export function render(data, ctx) {
  return [
    table({
      caption: `Children past a tracking timescale, ${ctx.scopeLabel}, as at ${words.date(ctx.asOf)}`,
      className: 'figures',
      head: ['Alert', 'Alerts (a child may have several)'],
      body: [
        ...CHILD_ALERT_KINDS.map((k) => row(words.label(words.CHILD_ALERTS, k), [plain(`tracking_${k}.totalCount`, data[`tracking_${k}`].totalCount)])),
        row('All tracking alerts', [plain('trackingAlerts.totalCount', data.trackingAlerts.totalCount)], { class: 'total' }),
      ],
    }),
    table({
      caption: `Households past a recruitment timescale, ${ctx.scopeLabel}, as at ${words.date(ctx.asOf)}`,
      className: 'figures',
      head: ['Alert', 'Alerts (a household may have several)'],
      body: [
        ...ADOPTER_ALERT_KINDS.map((k) => row(words.label(words.ADOPTER_ALERTS, k), [plain(`adopters_${k}.totalCount`, data[`adopters_${k}`].totalCount)])),
        row('All adopter alerts', [plain('adopterAlerts.totalCount', data.adopterAlerts.totalCount)], { class: 'total' }),
      ],
    }),
  ];
}
