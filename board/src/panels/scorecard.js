// The scorecard panel: A1, A10, A2 and A3 per authority and in total over the chosen
// period against their thresholds, and the three-year window year by year (a chart, with
// the table as its text alternative).
import { h, row, table } from '../dom.js';
import { authorityKey, figure, formats, met, plain } from '../figures.js';
import * as words from '../labels.js';

/** The columns of a scorecard row; `t` the figures of the total (for the thresholds). */
function head(t, base) {
  const threshold = (m) => [' (threshold ', plain(`${base}.total.${m}.thresholdDays`, t[m].thresholdDays, formats.days), ' days)'];
  return [
    h('th', { scope: 'col' }, 'Authority'),
    h('th', { scope: 'col' }, 'Children adopted'),
    h('th', { scope: 'col' }, 'A1: mean days from entering care to moving in', threshold('a1')),
    h('th', { scope: 'col' }, 'A10: as A1, foster carers from the foster placement', threshold('a10')),
    h('th', { scope: 'col' }, 'A2: mean days from placement order to match', threshold('a2')),
    h('th', { scope: 'col' }, 'A2: children counted'),
    h('th', { scope: 'col' }, 'A3: moved in within ', plain(`${base}.total.a3.thresholdDays`, t.a3.thresholdDays, formats.days), ' days'),
    h('th', { scope: 'col' }, 'A3: % of the children adopted'),
  ];
}

function mean(path, m) {
  return h('td', { class: 'num' }, figure(`${path}.days`, m.days, formats.days), ' ', met(m.met, m.thresholdDays));
}

function figuresRow(heading, path, f, attrs) {
  return row(
    heading,
    [
      figure(`${path}.cohort`, f.cohort),
      mean(`${path}.a1`, f.a1),
      mean(`${path}.a10`, f.a10),
      mean(`${path}.a2`, f.a2),
      figure(`${path}.a2.cohort`, f.a2.cohort),
      figure(`${path}.a3.count`, f.a3.count),
      figure(`${path}.a3.percent`, f.a3.percent, formats.percent),
    ],
    attrs,
  );
}

function rowsOf(p, base, ctx) {
  return [
    figuresRow(ctx.totalLabel, `${base}.total`, p.total, { class: 'total' }),
    ...p.authorities.map((a) =>
      figuresRow(ctx.authorityName(a.authority), `${base}.authorities[${authorityKey(a.authority)}]`, a, {
        'data-authority': authorityKey(a.authority),
      }),
    ),
  ];
}

/** The measures the trend chart can show. */
export const TREND_MEASURES = {
  a1: { label: 'A1: mean days from entering care to moving in', value: (f) => f.a1.days, threshold: (f) => f.a1.thresholdDays },
  a10: { label: 'A10: mean days, foster carers from the foster placement', value: (f) => f.a10.days, threshold: (f) => f.a10.thresholdDays },
  a2: { label: 'A2: mean days from placement order to match', value: (f) => f.a2.days, threshold: (f) => f.a2.thresholdDays },
  a3: { label: 'A3: % moved in within 426 days', value: (f) => f.a3.percent, threshold: () => null },
};

/** The series of the trend chart for `measure`: the total and each authority, by year. */
export function trendSeries(trend, measure, ctx) {
  const m = TREND_MEASURES[measure];
  const years = trend.years;
  const labels = years.map((y) => words.financialYear(y));
  const value = (f) => {
    const v = m.value(f);
    return v && !v.suppressed && v.value !== null ? v.value : null;
  };
  const series = [{ label: ctx.totalLabel, values: years.map((y) => value(y.total)) }];
  const codes = years.length ? years[0].authorities.map((a) => a.authority) : [];
  for (const authority of codes) {
    series.push({
      label: ctx.authorityName(authority),
      values: years.map((y) => {
        const f = y.authorities.find((a) => authorityKey(a.authority) === authorityKey(authority));
        return f ? value(f) : null;
      }),
    });
  }
  const threshold = years.length ? m.threshold(years[0].total) : null;
  return { labels, series, threshold, title: m.label };
}

export function render(data, ctx) {
  const s = data.scorecard;
  const trend = data.trend;
  const p = s.period;
  const out = [];
  out.push(
    table({
      caption: `Scorecard, ${words.period(p)}, ${ctx.scopeLabel}, as at ${words.date(s.asOf)}`,
      className: 'figures scorecard',
      head: head(p.total, 'scorecard.period'),
      body: rowsOf(p, 'scorecard.period', ctx),
    }),
  );
  const measureSelect = h(
    'select',
    { id: 'trend-measure', class: 'no-print' },
    Object.entries(TREND_MEASURES).map(([value, m]) => h('option', { value, selected: value === ctx.trendMeasure }, m.label)),
  );
  out.push(
    h(
      'div',
      { class: 'trend' },
      h('h3', {}, `Year by year: ${words.period({ from: trend.years[0]?.from || p.from, to: trend.years.at(-1)?.to || p.to })}`),
      h('p', { class: 'control no-print' }, h('label', { for: 'trend-measure' }, 'Measure in the chart '), measureSelect),
      h(
        'figure',
        { class: 'chart' },
        h(
          'div',
          { class: 'chart-box' },
          h('canvas', {
            id: 'trend-chart',
            role: 'img',
            'aria-label': 'Chart of the measure chosen, by year, for the total and each authority. The figures are in the table that follows.',
          }),
        ),
        h('figcaption', { id: 'trend-caption' }, ''),
      ),
    ),
  );
  const bodies = trend.years.map((y) =>
    h(
      'tbody',
      {},
      h('tr', { class: 'group' }, h('th', { scope: 'rowgroup', colspan: 8 }, `${words.financialYear(y)}: ${words.period(y)}`)),
      rowsOf(y, `trend.years[${y.from}]`, ctx),
    ),
  );
  out.push(
    table({
      caption: `Scorecard year by year, ${ctx.scopeLabel}`,
      className: 'figures scorecard-years',
      head: trend.years.length ? head(trend.years[0].total, `trend.years[${trend.years[0].from}]`) : head(p.total, 'scorecard.period'),
      body: bodies.length ? bodies : [h('tr', {}, h('td', { colspan: 8 }, 'The window is not made of whole years.'))],
    }),
  );
  return out;
}
