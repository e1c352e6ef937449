// The recruitment funnel panel: households reaching each stage, cohort conversion and
// timeliness against the statutory targets, in total, by authority and by channel.
import { h, row, table } from '../dom.js';
import { authorityKey, figure, formats, plain } from '../figures.js';
import * as words from '../labels.js';

const AUTHORITY = 'recruitmentFunnel';
const CHANNEL = 'byChannel';

/** The groups of both breakdowns: heading, path and figures. */
function groups(data, ctx) {
  const byAuthority = data.recruitmentFunnel.groups.map((g) => ({
    heading: ctx.authorityName(g.authority),
    path: `${AUTHORITY}.groups[${authorityKey(g.authority)}]`,
    group: g,
  }));
  const byChannel = (data.byChannel ? data.byChannel.groups : []).map((g) => ({
    heading: words.label(words.CHANNELS, g.channel),
    path: `${CHANNEL}.groups[${g.channel}]`,
    group: g,
  }));
  return { byAuthority, byChannel };
}

function byKey(list, key, value) {
  return list.find((x) => x[key] === value);
}

function stageCounts(title, columns, stages) {
  return table({
    caption: title,
    className: 'figures',
    head: ['Stage', ...columns.map((c) => c.heading)],
    body: stages.map((stage) =>
      row(
        words.label(words.STAGES, stage),
        columns.map((c) => figure(`${c.path}.stageCounts[${stage}].count`, byKey(c.group.stageCounts, 'stage', stage)?.count)),
      ),
    ),
  });
}

function cohortRows(columns) {
  return columns.map((c) => {
    const k = c.group.cohort;
    const approved = byKey(k.stages, 'stage', 'APPROVED');
    return row(c.heading, [
      figure(`${c.path}.cohort.size`, k.size),
      figure(`${c.path}.cohort.approved`, k.approved),
      figure(`${c.path}.cohort.stages[APPROVED].fromEnquiry`, approved?.fromEnquiry, formats.percent),
      figure(`${c.path}.cohort.leftBeforeApproval`, k.leftBeforeApproval),
      figure(`${c.path}.cohort.inProgress`, k.inProgress),
      figure(`${c.path}.cohort.onHold`, k.onHold),
    ]);
  });
}

function rowGroup(heading, rows) {
  return h('tbody', {}, h('tr', { class: 'group' }, h('th', { scope: 'rowgroup', colspan: 7 }, heading)), rows);
}

export function render(data, ctx) {
  const f = data.recruitmentFunnel;
  const total = { heading: ctx.totalLabel, path: `${AUTHORITY}.total`, group: f.total };
  const { byAuthority, byChannel } = groups(data, ctx);
  const stages = f.total.stageCounts.map((s) => s.stage);
  const when = `${words.period(f)}, ${ctx.scopeLabel}`;
  const out = [];

  out.push(h('h3', {}, 'Households reaching each stage'));
  out.push(stageCounts(`Households first reaching each stage by authority, ${when}`, [total, ...byAuthority], stages));
  if (data.byChannel) {
    out.push(stageCounts(`Households first reaching each stage by channel of enquiry, ${when}`, [total, ...byChannel], stages));
  } else {
    out.push(h('p', { class: 'note' }, 'The funnel by channel of enquiry is published for the whole consortium only: choose the whole consortium to see it.'));
  }

  out.push(h('h3', {}, `Cohort conversion: enquiries in the period, followed to ${words.date(f.asOf)}`));
  const cohortStages = f.total.cohort.stages;
  out.push(
    table({
      caption: `Conversion of the enquiries of ${when}, as at ${words.date(f.asOf)}`,
      className: 'figures',
      head: ['Stage', 'Reached', 'Could reach it', '% of those who could', '% of enquiries'],
      body: cohortStages.map((s) =>
        row(words.label(words.STAGES, s.stage), [
          figure(`${total.path}.cohort.stages[${s.stage}].reached`, s.reached),
          figure(`${total.path}.cohort.stages[${s.stage}].eligible`, s.eligible),
          figure(`${total.path}.cohort.stages[${s.stage}].fromPrevious`, s.fromPrevious, formats.percent),
          figure(`${total.path}.cohort.stages[${s.stage}].fromEnquiry`, s.fromEnquiry, formats.percent),
        ]),
      ),
    }),
  );
  out.push(
    table({
      caption: `Where the enquiries of ${when} are as at ${words.date(f.asOf)}`,
      className: 'figures',
      head: ['', 'Enquiries', 'Approved', '% approved', 'Left before approval', 'In progress', 'Of whom on hold'],
      body: [
        h('tbody', {}, cohortRows([total])),
        rowGroup('By authority', cohortRows(byAuthority)),
        byChannel.length ? rowGroup('By channel of enquiry', cohortRows(byChannel)) : null,
      ],
    }),
  );

  out.push(h('h3', {}, 'Timeliness against the targets'));
  const steps = f.total.timeliness;
  out.push(
    table({
      caption: `Steps completed in ${when}: days taken and share within target`,
      className: 'figures',
      head: ['Step', 'Target (months)', 'Households', 'Mean days', 'Median days', '% within target'],
      body: steps.map((s) =>
        row(words.label(words.STEPS, s.step), [
          s.targetMonths === null ? figure(`${total.path}.timeliness[${s.step}].targetMonths`, null) : plain(`${total.path}.timeliness[${s.step}].targetMonths`, s.targetMonths),
          figure(`${total.path}.timeliness[${s.step}].count`, s.count),
          figure(`${total.path}.timeliness[${s.step}].meanDays`, s.meanDays, formats.days),
          figure(`${total.path}.timeliness[${s.step}].medianDays`, s.medianDays, formats.days),
          figure(`${total.path}.timeliness[${s.step}].withinTarget`, s.withinTarget, formats.percent),
        ]),
      ),
    }),
  );
  const targeted = steps.filter((s) => s.targetMonths !== null).map((s) => s.step);
  const withinRows = (columns) =>
    columns.map((c) =>
      row(
        c.heading,
        targeted.map((step) =>
          figure(`${c.path}.timeliness[${step}].withinTarget`, byKey(c.group.timeliness, 'step', step)?.withinTarget, formats.percent),
        ),
      ),
    );
  out.push(
    table({
      caption: `% of steps within target, ${when}`,
      className: 'figures',
      head: ['', ...targeted.map((step) => `${words.label(words.STEPS, step)} (${byKey(steps, 'step', step).targetMonths} months)`)],
      body: [
        h('tbody', {}, withinRows([total])),
        h('tbody', {}, h('tr', { class: 'group' }, h('th', { scope: 'rowgroup', colspan: targeted.length + 1 }, 'By authority')), withinRows(byAuthority)),
        byChannel.length
          ? h('tbody', {}, h('tr', { class: 'group' }, h('th', { scope: 'rowgroup', colspan: targeted.length + 1 }, 'By channel of enquiry')), withinRows(byChannel))
          : null,
      ],
    }),
  );
  return out;
}
