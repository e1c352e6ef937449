//! The ASGLB return: the Adoption and Special Guardianship Leadership Board's quarterly data
//! collection, child-level "Adoptions" and "Adopters" tabs, as at a quarter end.
//!
//! **Which quarter.** A return is of a completed quarter (30 June, 30 September, 31 December
//! or 31 March before today) and, as the collection is, cumulative over its financial year:
//! it covers 1 April to the quarter end.
//!
//! **Who is in it.** The *Adoptions* tab has a row per child of the authorities covered with
//! a decision that they should be placed for adoption (SHOBPA) on or before the quarter end,
//! whose adoption journey was still open on the first day of the year: no adoption order,
//! no change of plan away from adoption and no revoked placement order before it. The
//! *Adopters* tab has a row per adopter household of those authorities that entered
//! assessment (stage one started, or stage two for a fast-tracked household) on or before
//! the quarter end and had not left the process (withdrawn, ended by the agency) or
//! adopted before the first day of the year. Enquiries that never reached assessment are
//! counted in the recruitment funnel, not listed here.
//!
//! **As at the quarter end.** Every date is shown only when it is on or before the quarter
//! end ([`ReturnQuarter::as_at`]): a match recorded in the next quarter is not in this
//! quarter's return, so a return made again later says what it said.
//!
//! [`ADOPTIONS_COLUMNS`] and [`ADOPTERS_COLUMNS`] are the columns the service fills, with
//! what each holds; [`NOT_HELD`] lists the collection's items the registers do not hold,
//! which the agency adds from its case system.
use chrono::{Datelike, NaiveDate};

use super::publication::{is_quarter_end, latest_quarter_end};

/// The quarter a return is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReturnQuarter {
    end: NaiveDate,
}

/// Why a quarter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuarterError {
    /// The date is not 30 June, 30 September, 31 December or 31 March.
    NotAQuarterEnd,
    /// The quarter has not ended before today.
    NotCompleted,
}

impl QuarterError {
    /// What is wrong, for the `quarter` parameter.
    pub fn message(self) -> &'static str {
        match self {
            QuarterError::NotAQuarterEnd => {
                "quarter must be a quarter's last day: 30 June, 30 September, 31 December or 31 March"
            }
            QuarterError::NotCompleted => "quarter must have ended before today",
        }
    }
}

impl ReturnQuarter {
    /// The quarter ending on `end`: a quarter end before `today`.
    pub fn parse(end: NaiveDate, today: NaiveDate) -> Result<ReturnQuarter, QuarterError> {
        if !is_quarter_end(end) {
            return Err(QuarterError::NotAQuarterEnd);
        }
        if end >= today {
            return Err(QuarterError::NotCompleted);
        }
        Ok(ReturnQuarter { end })
    }

    /// The latest quarter completed before `today`.
    pub fn latest(today: NaiveDate) -> ReturnQuarter {
        ReturnQuarter {
            end: latest_quarter_end(today),
        }
    }

    /// The quarter's last day.
    pub fn end(self) -> NaiveDate {
        self.end
    }

    /// 1 April of the financial year the quarter is in: the first day the return covers.
    pub fn year_start(self) -> NaiveDate {
        let year = if self.end.month() >= 4 {
            self.end.year()
        } else {
            self.end.year() - 1
        };
        NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or(self.end)
    }

    /// The quarter as the collection names it: `2026-27 Q2` (Q1 ends 30 June).
    pub fn label(self) -> String {
        let start = self.year_start().year();
        let q = match self.end.month() {
            6 => 1,
            9 => 2,
            12 => 3,
            _ => 4,
        };
        format!("{start}-{:02} Q{q}", (start + 1) % 100)
    }

    /// `date` as the return shows it: only when it is on or before the quarter end.
    pub fn as_at(self, date: Option<NaiveDate>) -> Option<NaiveDate> {
        date.filter(|d| *d <= self.end)
    }
}

/// A column of a tab: its header, and what it holds.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub header: &'static str,
    pub meaning: &'static str,
}

const fn column(header: &'static str, meaning: &'static str) -> Column {
    Column { header, meaning }
}

/// The Adoptions tab, a row per child, in this order.
pub const ADOPTIONS_COLUMNS: &[Column] = &[
    column("authority", "The child's local authority (code)."),
    column(
        "child_id",
        "The child's id in Permanence (as the API names it).",
    ),
    column("gender", "MALE, FEMALE or OTHER."),
    column("date_of_birth", "Date of birth."),
    column("ethnicity", "Ethnicity (Permanence's codes)."),
    column(
        "disabled",
        "Y when the child's disability need is recorded as above none.",
    ),
    column("entered_care_on", "Start of the current period of care."),
    column(
        "shobpa_decision_on",
        "The agency decision maker's decision that the child should be placed for adoption.",
    ),
    column("placement_order_on", "Placement order granted."),
    column("matched_on", "Match agreed by the agency decision maker."),
    column(
        "placed_on",
        "Placed for adoption (moved in with the adopters).",
    ),
    column("adoption_order_on", "Adoption order granted."),
    column(
        "early_permanence",
        "Y when the child's plan requires an early permanence (fostering for adoption or concurrent) placement.",
    ),
    column(
        "foster_placement_started_on",
        "Start of the placement with the carers who adopted the child, for a foster carer adoption.",
    ),
    column(
        "adopted_by_foster_carers",
        "Y when the child was adopted (or is placed for adoption) by their foster carers.",
    ),
    column(
        "sibling_group_size",
        "Children in the child's sibling group (1 when none).",
    ),
    column(
        "adopter_household_id",
        "The household matched with the child at the quarter end, if any (its row in the Adopters tab when of an authority covered).",
    ),
    column(
        "adopter_authority",
        "The matched household's authority (code).",
    ),
    column(
        "interagency",
        "Y when the matched household is of another authority or agency.",
    ),
    column(
        "interagency_fee",
        "The inter-agency fee agreed, in pounds, if recorded.",
    ),
    column(
        "decision_reversed_on",
        "The plan changed away from adoption (the decision was reversed).",
    ),
    column(
        "decision_reversed_reason",
        "Why: RD1 needs changed, RD2 no placement order, RD3 no adopters found, RD4 other.",
    ),
    column("placement_order_revoked_on", "Placement order revoked."),
];

/// The Adopters tab, a row per adopter household, in this order.
pub const ADOPTERS_COLUMNS: &[Column] = &[
    column("authority", "The household's agency (code)."),
    column(
        "household_id",
        "The household's id in Permanence (as the API names it).",
    ),
    column(
        "adopter_type",
        "COUPLE when a second applicant is recorded, otherwise SINGLE.",
    ),
    column("ethnicity", "Ethnicity (Permanence's codes)."),
    column(
        "enquiry_channel",
        "Where the enquiry came from (WEBSITE, INFORMATION_EVENT, …).",
    ),
    column("enquiry_on", "First enquiry."),
    column(
        "fast_track",
        "Y for a fast-tracked household (previous adopters, foster carers): assessment starts at stage two.",
    ),
    column(
        "stage_one_started_on",
        "Stage one started (registration of interest accepted).",
    ),
    column("stage_one_completed_on", "Stage one completed."),
    column("stage_two_started_on", "Stage two started."),
    column("stage_two_completed_on", "Stage two completed."),
    column("panel_on", "Adoption panel."),
    column("approved_on", "Approved by the agency decision maker."),
    column(
        "early_permanence_approved",
        "Y when approved for early permanence (fostering for adoption or concurrent planning).",
    ),
    column(
        "approved_for_children",
        "How many children the household is approved for.",
    ),
    column(
        "approved_for_siblings",
        "Y when it accepts a sibling group.",
    ),
    column("age_min_months", "Youngest age accepted, in months."),
    column("age_max_months", "Oldest age accepted, in months."),
    column("matched_on", "First matched with a child."),
    column("placed_on", "First child placed."),
    column("adoption_order_on", "First adoption order."),
    column(
        "left_on",
        "Left the process (withdrew, or ended by the agency).",
    ),
    column("left_how", "WITHDRAWN or ENDED_BY_AGENCY."),
    column("left_reason", "Why (Permanence's reason codes)."),
];

/// Items of the collection the registers do not hold: (item, why), in the workbook's notes
/// and the README.
pub const NOT_HELD: &[(&str, &str)] = &[
    (
        "Unique pupil number (UPN) and the case system's child reference",
        "Permanence does not record them; the child_id joins to the case system's record.",
    ),
    (
        "Legal status and placement type codes (SSDA903)",
        "not recorded; the dates of the placement order and the placement stand for them.",
    ),
    (
        "Date of the best-interest decision for a relinquished baby, and the agency decision maker's name",
        "not recorded.",
    ),
    (
        "Adopters' sex, sexual orientation, age, disability and religion",
        "not recorded for applicants (only the household's ethnicity and whether it is a couple).",
    ),
    (
        "Registration of interest received (as distinct from accepted)",
        "stage one starts when it is accepted; the receipt date is not recorded.",
    ),
    (
        "Children placed with adopters from outside the consortium",
        "only households registered in the consortium are known; such a child shows no adopter.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_return_is_of_a_completed_quarter() {
        let today = d("2026-12-07");
        assert_eq!(
            ReturnQuarter::parse(d("2026-09-30"), today).map(|q| q.end()),
            Ok(d("2026-09-30"))
        );
        assert_eq!(
            ReturnQuarter::parse(d("2026-09-29"), today),
            Err(QuarterError::NotAQuarterEnd)
        );
        assert_eq!(
            ReturnQuarter::parse(d("2026-12-31"), today),
            Err(QuarterError::NotCompleted)
        );
        assert_eq!(ReturnQuarter::latest(today).end(), d("2026-09-30"));
        assert_eq!(
            ReturnQuarter::latest(d("2026-10-01")).end(),
            d("2026-09-30")
        );
    }

    #[test]
    fn a_return_covers_its_financial_year_to_date() {
        let today = d("2027-12-01");
        let q = |s| ReturnQuarter::parse(d(s), today).unwrap();
        assert_eq!(q("2026-06-30").year_start(), d("2026-04-01"));
        assert_eq!(q("2026-12-31").year_start(), d("2026-04-01"));
        assert_eq!(q("2027-03-31").year_start(), d("2026-04-01"));
        assert_eq!(q("2026-06-30").label(), "2026-27 Q1");
        assert_eq!(q("2026-09-30").label(), "2026-27 Q2");
        assert_eq!(q("2026-12-31").label(), "2026-27 Q3");
        assert_eq!(q("2027-03-31").label(), "2026-27 Q4");
        assert_eq!(q("2000-03-31").label(), "1999-00 Q4");
    }

    #[test]
    fn dates_after_the_quarter_end_are_not_shown() {
        let q = ReturnQuarter::parse(d("2026-09-30"), d("2026-12-07")).unwrap();
        assert_eq!(q.as_at(Some(d("2026-09-30"))), Some(d("2026-09-30")));
        assert_eq!(q.as_at(Some(d("2026-10-01"))), None);
        assert_eq!(q.as_at(None), None);
    }

    #[test]
    fn headers_are_unique_per_tab() {
        for columns in [ADOPTIONS_COLUMNS, ADOPTERS_COLUMNS] {
            let mut headers: Vec<&str> = columns.iter().map(|c| c.header).collect();
            headers.sort_unstable();
            let before = headers.len();
            headers.dedup();
            assert_eq!(headers.len(), before);
        }
    }
}
