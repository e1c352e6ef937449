// Words for the API's enum values and dates.

const DATE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** `2026-09-30` as `30 Sep 2026`. */
export function date(s) {
  const [y, m, d] = s.split('-').map(Number);
  return DATE.format(new Date(Date.UTC(y, m - 1, d)));
}

/** A period as `1 Jul 2026 – 30 Sep 2026`. */
export function period(p) {
  return `${date(p.from)} – ${date(p.to)}`;
}

/** A financial year as `2025–26`. */
export function financialYear(p) {
  const y = Number(p.from.slice(0, 4));
  return `${y}–${String(y + 1).slice(2)}`;
}

export const STAGES = {
  ENQUIRY: 'Enquiry',
  INFORMATION_EVENT: 'Information event',
  STAGE_ONE_STARTED: 'Stage One started',
  STAGE_ONE_COMPLETED: 'Stage One completed',
  STAGE_TWO_STARTED: 'Stage Two started',
  STAGE_TWO_COMPLETED: 'Stage Two completed',
  PANEL: 'Panel',
  APPROVED: 'Approved',
  MATCHED: 'Matched',
  PLACED: 'Placed',
  ADOPTION_ORDER: 'Adoption order',
  WITHDRAWN: 'Withdrawn',
  ENDED_BY_AGENCY: 'Ended by the agency',
  ON_HOLD: 'On hold',
  RESUMED: 'Resumed',
};

export const STEPS = {
  ENQUIRY_TO_STAGE_ONE: 'Enquiry to Stage One',
  STAGE_ONE: 'Stage One',
  GAP_BETWEEN_STAGES: 'Gap between the stages',
  STAGE_TWO: 'Stage Two',
  STAGE_TWO_TO_APPROVAL: 'Stage Two to approval',
  APPROVAL_TO_MATCH: 'Approval to match',
};

export const CHANNELS = {
  WEBSITE: 'Website',
  INFORMATION_EVENT: 'Information event',
  ACTIVITY_DAY: 'Activity day',
  CAMPAIGN: 'Campaign',
  REFERRAL: 'Referral',
  OTHER: 'Other',
};

export const CHARACTERISTICS = {
  ALL: 'All',
  AGED_FIVE_PLUS: 'Aged five or over',
  SIBLING_GROUP: 'Sibling group',
  ETHNIC_MINORITY: 'Ethnic minority',
  DISABILITY: 'Disability',
};

export const CHILD_ALERTS = {
  PLACEMENT_ORDER_NO_MATCH_90_DAYS: 'Placement order, no match after 90 days (refer wider)',
  PLACEMENT_ORDER_NO_MATCH_121_DAYS: 'Placement order, no match after 121 days',
  IN_CARE_OVER_426_DAYS_NOT_PLACED: 'In care over 426 days and not placed',
  EIGHTEEN_MONTHS_SINCE_ENTERING_CARE: '18 months since entering care',
};

export const ADOPTER_ALERTS = {
  STAGE_ONE_OVER_TWO_MONTHS: 'Stage One over 2 months',
  GAP_OVER_SIX_MONTHS: 'Over 6 months between the stages',
  STAGE_TWO_OVER_FOUR_MONTHS: 'Stage Two over 4 months',
  APPROVED_UNMATCHED_OVER_THREE_MONTHS: 'Approved and unmatched over 3 months',
};

/** The words of an enum value, or the value itself when it is new to the page. */
export function label(map, value) {
  return map[value] || String(value).toLowerCase().replaceAll('_', ' ');
}
