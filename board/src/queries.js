// The GraphQL documents the board page sends, one per panel, and the helpers that build
// their variables. No dependencies: the browser test imports this module as it is.
//
// Each panel puts the variables it actually sent on its section as `data-variables`, so
// that a test can send `QUERIES[panel]` with them and compare every `[data-figure]`.

const FIGURE = '{ value suppressed }';

const SCORECARD_FIGURES = `fragment BoardScorecardFigures on ScorecardFigures {
  authority { id code name }
  suppressionApplied
  cohort ${FIGURE}
  a1 { days ${FIGURE} cohort ${FIGURE} thresholdDays met }
  a10 { days ${FIGURE} cohort ${FIGURE} thresholdDays met }
  a2 { days ${FIGURE} cohort ${FIGURE} thresholdDays met }
  a3 { count ${FIGURE} percent ${FIGURE} cohort ${FIGURE} thresholdDays }
}`;

/** Who is signed in, and the authorities of the consortium. */
export const VIEWER_QUERY = `query BoardViewer {
  viewer {
    subject
    name
    consortium { code name }
    memberships { authority { id code name } roles }
    consortiumRoles
  }
  authorities { id code name kind }
}`;

/**
 * Which quarter ends a board analyst may ask for: the consortium's kept quarterly
 * publications, latest first (empty before the first one is made).
 */
export const PUBLISHED_QUARTERS_QUERY = `query BoardPublishedQuarters {
  publishedQuarterEnds
}`;

/**
 * The scorecard over the chosen period (`scorecard`), and the three-year window year by
 * year for the trend (`trend`). Variables: `asOf`, `period`, `window`, `authorityIds`
 * (left out for the default set).
 */
export const SCORECARD_QUERY = `query BoardScorecard($asOf: Date, $period: PeriodInput, $window: PeriodInput, $authorityIds: [ID!]) {
  scorecard(asOf: $asOf, period: $period, authorityIds: $authorityIds) {
    asOf
    period {
      from
      to
      total { ...BoardScorecardFigures }
      authorities { ...BoardScorecardFigures }
    }
  }
  trend: scorecard(asOf: $asOf, period: $window, authorityIds: $authorityIds) {
    asOf
    years {
      from
      to
      total { ...BoardScorecardFigures }
      authorities { ...BoardScorecardFigures }
    }
  }
}
${SCORECARD_FIGURES}`;

const FUNNEL_GROUP = `fragment BoardFunnelGroup on FunnelGroup {
  authority { id code name }
  channel
  stageCounts { stage count ${FIGURE} }
  cohort {
    size ${FIGURE}
    fastTrack ${FIGURE}
    stages { stage reached ${FIGURE} eligible ${FIGURE} fromPrevious ${FIGURE} fromEnquiry ${FIGURE} }
    approved ${FIGURE}
    leftBeforeApproval ${FIGURE}
    inProgress ${FIGURE}
    onHold ${FIGURE}
  }
  timeliness { step targetMonths count ${FIGURE} meanDays ${FIGURE} medianDays ${FIGURE} withinTarget ${FIGURE} }
}`;

/**
 * The recruitment funnel by authority (`recruitmentFunnel`, whose `total` is the whole)
 * and by channel (`byChannel`, left out when `byChannel` is false: a board analyst's
 * funnel by channel is published for the whole consortium only). Variables: `period`,
 * `asOf`, `authorityIds`, `byChannel`.
 */
export const FUNNEL_QUERY = `query BoardFunnel($period: PeriodInput!, $asOf: Date, $authorityIds: [ID!], $byChannel: Boolean! = true) {
  recruitmentFunnel(period: $period, asOf: $asOf, authorityIds: $authorityIds, groupBy: [AUTHORITY]) {
    from
    to
    asOf
    suppressionApplied
    total { ...BoardFunnelGroup }
    groups { ...BoardFunnelGroup }
  }
  byChannel: recruitmentFunnel(period: $period, asOf: $asOf, authorityIds: $authorityIds, groupBy: [CHANNEL]) @include(if: $byChannel) {
    from
    to
    asOf
    suppressionApplied
    groups { ...BoardFunnelGroup }
  }
}
${FUNNEL_GROUP}`;

/** The cross-boundary flows matrix with fees. Variables: `period`, `authorityIds`. */
export const FLOWS_QUERY = `query BoardFlows($period: PeriodInput!, $authorityIds: [ID!]) {
  crossBoundaryFlows(period: $period, authorityIds: $authorityIds) {
    from
    to
    suppressionApplied
    cells {
      childAuthority { id code name }
      householdAuthority { id code name }
      children ${FIGURE}
      feesPence ${FIGURE}
    }
    byChildAuthority { authority { id code name } children ${FIGURE} feesPence ${FIGURE} }
    byHouseholdAuthority { authority { id code name } children ${FIGURE} feesPence ${FIGURE} }
    total { children ${FIGURE} feesPence ${FIGURE} }
    crossBoundaryChildren ${FIGURE}
    crossBoundaryPercent ${FIGURE}
    crossBoundaryFeesPence ${FIGURE}
  }
}`;

/** Sufficiency by characteristic. Variables: `asOf`, `authorityIds`. */
export const SUFFICIENCY_QUERY = `query BoardSufficiency($asOf: Date, $authorityIds: [ID!]) {
  sufficiency(asOf: $asOf, authorityIds: $authorityIds) {
    asOf
    suppressionApplied
    authorities { id code name }
    rows {
      characteristic
      children ${FIGURE}
      units ${FIGURE}
      households ${FIGURE}
      gap
    }
  }
}`;

/** The child tracking alert kinds, in the order the panel shows them. */
export const CHILD_ALERT_KINDS = [
  'PLACEMENT_ORDER_NO_MATCH_90_DAYS',
  'PLACEMENT_ORDER_NO_MATCH_121_DAYS',
  'IN_CARE_OVER_426_DAYS_NOT_PLACED',
  'EIGHTEEN_MONTHS_SINCE_ENTERING_CARE',
];

/** The adopter alert kinds, in the order the panel shows them. */
export const ADOPTER_ALERT_KINDS = [
  'STAGE_ONE_OVER_TWO_MONTHS',
  'GAP_OVER_SIX_MONTHS',
  'STAGE_TWO_OVER_FOUR_MONTHS',
  'APPROVED_UNMATCHED_OVER_THREE_MONTHS',
];

/**
 * Alert counts only (`first: 0`: no record is read): every tracking alert
 * (`trackingAlerts`) and every adopter alert (`adopterAlerts`), then one alias per kind,
 * `tracking_<KIND>` and `adopters_<KIND>`. Variables: `asOf`, `authorityIds`.
 */
export const ALERTS_QUERY = `query BoardAlerts($asOf: Date, $authorityIds: [ID!]) {
  trackingAlerts(asOf: $asOf, authorityIds: $authorityIds, first: 0) { totalCount }
${CHILD_ALERT_KINDS.map(
  (k) => `  tracking_${k}: trackingAlerts(asOf: $asOf, authorityIds: $authorityIds, kinds: [${k}], first: 0) { totalCount }`,
).join('\n')}
  adopterAlerts(asOf: $asOf, authorityIds: $authorityIds, first: 0) { totalCount }
${ADOPTER_ALERT_KINDS.map(
  (k) => `  adopters_${k}: adopterAlerts(asOf: $asOf, authorityIds: $authorityIds, kinds: [${k}], first: 0) { totalCount }`,
).join('\n')}
}`;

/** Every panel's query, by the panel's `data-panel` name. */
export const QUERIES = {
  scorecard: SCORECARD_QUERY,
  funnel: FUNNEL_QUERY,
  flows: FLOWS_QUERY,
  sufficiency: SUFFICIENCY_QUERY,
  alerts: ALERTS_QUERY,
};

/** The CSV export of each panel (`/export/<file>`). */
export const EXPORTS = {
  scorecard: 'scorecard.csv',
  funnel: 'funnel.csv',
  flows: 'flows.csv',
  sufficiency: 'sufficiency.csv',
  alerts: 'tracking.csv',
};

// Dates: `YYYY-MM-DD` strings, computed in UTC so that no time zone moves a day.

function parseDate(s) {
  const [y, m, d] = s.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

function formatDate(date) {
  return date.toISOString().slice(0, 10);
}

function addDays(s, days) {
  const d = parseDate(s);
  d.setUTCDate(d.getUTCDate() + days);
  return formatDate(d);
}

/** Whether `s` ends a quarter (31 March, 30 June, 30 September, 31 December). */
export function isQuarterEnd(s) {
  return ['03-31', '06-30', '09-30', '12-31'].includes(s.slice(5));
}

/** The latest quarter end strictly before `today` (the latest completed quarter). */
export function latestQuarterEnd(today) {
  let d = addDays(today, -1);
  while (!isQuarterEnd(d)) d = addDays(d, -1);
  return d;
}

/** The `count` quarter ends up to and including `quarterEnd`, latest first. */
export function quarterEndsBack(quarterEnd, count) {
  const out = [quarterEnd];
  let d = quarterEnd;
  while (out.length < count) {
    // The day before the quarter starts.
    d = addDays(quarterStart(d), -1);
    out.push(d);
  }
  return out;
}

function quarterStart(quarterEnd) {
  const [y, m] = quarterEnd.split('-').map(Number);
  const start = new Date(Date.UTC(y, m - 3, 1));
  return formatDate(start);
}

/** The years of `years` (1 April to 31 March) ending on the latest 31 March on or before `date`. */
export function yearsToMarch(date, years) {
  const y = Number(date.slice(0, 4));
  const endYear = date.slice(5) >= '03-31' ? y : y - 1;
  return { from: `${endYear - years}-04-01`, to: `${endYear}-03-31` };
}

/**
 * The periods published at a quarter end, as the service computes them
 * (`domain::publication::Periods::at`): the quarter, the financial year it closes or
 * follows, the scorecard's three-year window and that window's years (oldest first).
 */
export function periodsAt(quarterEnd) {
  const window = yearsToMarch(quarterEnd, 3);
  const first = Number(window.from.slice(0, 4));
  return {
    quarter: { from: quarterStart(quarterEnd), to: quarterEnd },
    year: yearsToMarch(quarterEnd, 1),
    window,
    windowYears: [0, 1, 2].map((i) => ({ from: `${first + i}-04-01`, to: `${first + i + 1}-03-31` })),
  };
}

/**
 * The variables of every panel for a choice of the controls:
 * `asOf` (a quarter end), `period` (`quarter` or `year`: the funnel's and the flows'),
 * `scorecardPeriod` (`window`, or the `from` of one of the window's years),
 * `authorityIds` (the ids to name, or null for the default set) and
 * `flowsAuthorityIds` (the flows' own, since a board analyst's flows are always the
 * whole consortium's) and `funnelByChannel` (false leaves the funnel by channel out).
 */
export function panelVariables({ asOf, period, scorecardPeriod, authorityIds, flowsAuthorityIds, funnelByChannel = true }) {
  const p = periodsAt(asOf);
  const chosen = period === 'year' ? p.year : p.quarter;
  const scorecard =
    scorecardPeriod && scorecardPeriod !== 'window'
      ? p.windowYears.find((y) => y.from === scorecardPeriod) || p.window
      : p.window;
  const ids = authorityIds && authorityIds.length ? { authorityIds } : {};
  const flowIds = flowsAuthorityIds && flowsAuthorityIds.length ? { authorityIds: flowsAuthorityIds } : {};
  return {
    scorecard: { asOf, period: scorecard, window: p.window, ...ids },
    funnel: { period: chosen, asOf, ...ids, byChannel: funnelByChannel },
    flows: { period: chosen, ...flowIds },
    sufficiency: { asOf, ...ids },
    alerts: { asOf, ...ids },
  };
}
