//! The recruitment funnel and the adopter tracking alerts, against fixtures whose figures
//! are worked out by hand below (DESIGN §2 the adopter's journey, §5 figures and disclosure
//! control; the definitions are those of the header of `src/domain/funnel.rs`).
//!
//! Every date is fixed and `asOf` is always passed, so nothing depends on today's date.
//! `MATCHED`, `PLACED` and `ADOPTION_ORDER` are written by the link workflow only and
//! cannot be recorded through `recordRecruitmentEvent`, so no fixture household is matched:
//! the approval → match step always has a count of 0 here.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{CREATE_HOUSEHOLD, TestApp, assert_refusal, error_code, strings_of};

both_backends!(
    funnel_figures_match_the_hand_computed_fixture,
    funnel_breakdowns_add_up_to_the_total,
    board_analysts_see_the_funnel_with_disclosure_control,
    a_breakdown_by_authority_suppresses_cells_in_pairs,
    a_breakdown_by_authority_gives_no_withheld_count_back,
    funnel_access_and_audit,
    adopter_alerts_fire_the_day_after_each_timescale,
    funnel_and_adopter_alert_dates_are_within_the_report_years,
    the_funnel_csv_holds_every_figure_of_the_answer,
);

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A household of a fixture: (label, authority, channel, enquiry date, fast track, its
/// recorded events as (stage, date, reason or "")).
type Fx = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [(&'static str, &'static str, &'static str)],
);

const S1S: &str = "STAGE_ONE_STARTED";
const S1C: &str = "STAGE_ONE_COMPLETED";
const S2S: &str = "STAGE_TWO_STARTED";
const S2C: &str = "STAGE_TWO_COMPLETED";
const PANEL: &str = "PANEL";
const APPROVED: &str = "APPROVED";
const INFO: &str = "INFORMATION_EVENT";
const WITHDRAWN: &str = "WITHDRAWN";
const ENDED: &str = "ENDED_BY_AGENCY";
const ON_HOLD: &str = "ON_HOLD";
const RESUMED: &str = "RESUMED";

/// The funnel fixture. Period 2024-01-01..2024-12-31, asOf 2025-03-31.
///
/// - A01–A05: enquiries in 2023 (not in the cohort) whose later stages fall in the period;
/// - C01–C25: the cohort (enquiries in 2024), through every stage up to approval, with
///   exits at different stages, holds, fast track, and stages after asOf;
/// - D01–D02: enquiries after the period (D02 even after asOf): nothing of theirs counts;
/// - B1–B4: birch, for the breakdown by authority.
#[rustfmt::skip]
const FIXTURE: &[Fx] = &[
    // Gap ends on the first day of the period (61 days); Stage Two exactly 4 months
    // (2024-01-01 → 2024-05-01, 121 days): within.
    ("A01", "alder", "WEBSITE", "2023-06-01", false, &[(S1S, "2023-09-01", ""), (S1C, "2023-11-01", ""), (S2S, "2024-01-01", ""), (S2C, "2024-05-01", ""), (PANEL, "2024-05-20", ""), (APPROVED, "2024-06-01", "")]),
    // Stage One exactly 2 months, clamped (2023-12-31 → 2024-02-29, 60 days): within.
    // Gap exactly 6 months (2024-02-29 → 2024-08-29, 182 days): within.
    // Stage Two ends on the last day of the period, 2 days over (limit 2024-12-29, 124 days).
    // Panel and approval after the period, before asOf.
    ("A02", "alder", "CAMPAIGN", "2023-10-15", false, &[(S1S, "2023-12-31", ""), (S1C, "2024-02-29", ""), (S2S, "2024-08-29", ""), (S2C, "2024-12-31", ""), (PANEL, "2025-01-20", ""), (APPROVED, "2025-02-10", "")]),
    // Stage One one day over (2024-01-15 → 2024-03-16, limit 2024-03-15, 61 days); withdraws
    // in the period (counted in the WITHDRAWN stage count, not in the cohort).
    ("A03", "alder", "REFERRAL", "2023-11-20", false, &[(S1S, "2024-01-15", ""), (S1C, "2024-03-16", ""), (WITHDRAWN, "2024-05-01", "FINANCIAL")]),
    // Stage Two one day over (2023-12-01 → 2024-04-02, limit 2024-04-01, 123 days); its gap
    // ends before the period (not counted).
    ("A04", "alder", "WEBSITE", "2023-03-01", false, &[(S1S, "2023-04-01", ""), (S1C, "2023-05-31", ""), (S2S, "2023-12-01", ""), (S2C, "2024-04-02", ""), (PANEL, "2024-04-20", ""), (APPROVED, "2024-05-01", "")]),
    // Stage One exactly 2 months (60 days); gap 6 months + 1 day (2024-03-10 → 2024-09-11,
    // limit 2024-09-10, 185 days); Stage Two completed after the period.
    ("A05", "alder", "OTHER", "2023-12-10", false, &[(S1S, "2024-01-10", ""), (S1C, "2024-03-10", ""), (S2S, "2024-09-11", ""), (S2C, "2025-01-05", "")]),
    // Enquiry on the first day of the period.
    ("C01", "alder", "WEBSITE", "2024-01-01", false, &[(INFO, "2024-01-20", ""), (S1S, "2024-02-01", ""), (S1C, "2024-03-28", ""), (S2S, "2024-04-15", ""), (S2C, "2024-08-10", ""), (PANEL, "2024-09-01", ""), (APPROVED, "2024-09-15", "")]),
    // Stage Two exactly 4 months (2024-05-01 → 2024-09-01, 123 days): within.
    ("C02", "alder", "WEBSITE", "2024-01-10", false, &[(S1S, "2024-02-10", ""), (S1C, "2024-04-05", ""), (S2S, "2024-05-01", ""), (S2C, "2024-09-01", ""), (PANEL, "2024-09-20", ""), (APPROVED, "2024-10-01", "")]),
    // Approved on the last day of the period; Stage Two over (limit 2024-10-01).
    ("C03", "alder", "INFORMATION_EVENT", "2024-01-15", false, &[(INFO, "2024-01-25", ""), (S1S, "2024-02-15", ""), (S1C, "2024-04-10", ""), (S2S, "2024-06-01", ""), (S2C, "2024-10-15", ""), (PANEL, "2024-11-01", ""), (APPROVED, "2024-12-31", "")]),
    // Fast track, approved.
    ("C04", "alder", "REFERRAL", "2024-02-01", true, &[(S2S, "2024-02-20", ""), (S2C, "2024-06-10", ""), (PANEL, "2024-07-01", ""), (APPROVED, "2024-07-15", "")]),
    // Fast track, withdraws in Stage Two.
    ("C05", "alder", "REFERRAL", "2024-02-05", true, &[(S2S, "2024-03-01", ""), (WITHDRAWN, "2024-05-15", "RELATIONSHIP")]),
    // Withdraws in Stage One.
    ("C06", "alder", "CAMPAIGN", "2024-02-10", false, &[(S1S, "2024-03-01", ""), (WITHDRAWN, "2024-03-20", "NOT_READY")]),
    // Withdraws at enquiry.
    ("C07", "alder", "CAMPAIGN", "2024-02-12", false, &[(WITHDRAWN, "2024-02-28", "NOT_READY")]),
    // Ended by the agency after Stage One.
    ("C08", "alder", "WEBSITE", "2024-03-01", false, &[(S1S, "2024-03-15", ""), (S1C, "2024-05-10", ""), (ENDED, "2024-06-01", "SUITABILITY_CONCERNS")]),
    // Ended by the agency in Stage Two.
    ("C09", "alder", "WEBSITE", "2024-03-05", false, &[(S1S, "2024-04-01", ""), (S1C, "2024-06-01", ""), (S2S, "2024-07-01", ""), (ENDED, "2024-09-01", "SAFEGUARDING")]),
    // On hold since 2024-05-01, still at asOf.
    ("C10", "alder", "ACTIVITY_DAY", "2024-03-20", false, &[(INFO, "2024-04-01", ""), (S1S, "2024-04-20", ""), (ON_HOLD, "2024-05-01", "HEALTH")]),
    // On hold, resumed: Stage One of 108 days, over.
    ("C11", "alder", "ACTIVITY_DAY", "2024-04-02", false, &[(S1S, "2024-04-15", ""), (ON_HOLD, "2024-05-01", ""), (RESUMED, "2024-07-01", ""), (S1C, "2024-08-01", ""), (S2S, "2024-09-01", "")]),
    // Panel and approval after the period, before asOf.
    ("C12", "alder", "WEBSITE", "2024-04-10", false, &[(S1S, "2024-05-01", ""), (S1C, "2024-07-01", ""), (S2S, "2024-08-01", ""), (S2C, "2024-11-30", ""), (PANEL, "2025-01-10", ""), (APPROVED, "2025-02-01", "")]),
    // On hold at asOf: resumed only after asOf.
    ("C13", "alder", "WEBSITE", "2024-05-05", false, &[(S1S, "2024-06-01", ""), (S1C, "2024-08-01", ""), (S2S, "2024-10-01", ""), (ON_HOLD, "2025-01-15", "CHANGE_OF_CIRCUMSTANCES"), (RESUMED, "2025-05-01", "")]),
    // Withdraws after Stage One.
    ("C14", "alder", "OTHER", "2024-05-20", false, &[(S1S, "2024-06-10", ""), (S1C, "2024-08-10", ""), (WITHDRAWN, "2024-10-01", "HEALTH")]),
    // Stage One one day over (2024-07-01 → 2024-09-02, limit 2024-09-01, 63 days).
    ("C15", "alder", "INFORMATION_EVENT", "2024-06-03", false, &[(INFO, "2024-06-15", ""), (S1S, "2024-07-01", ""), (S1C, "2024-09-02", ""), (S2S, "2024-10-01", "")]),
    // Stage One exactly 2 months (2024-07-15 → 2024-09-15, 62 days): within.
    ("C16", "alder", "WEBSITE", "2024-06-15", false, &[(S1S, "2024-07-15", ""), (S1C, "2024-09-15", "")]),
    // Withdraws after the period, before asOf.
    ("C17", "alder", "CAMPAIGN", "2024-07-01", false, &[(S1S, "2024-08-01", ""), (S1C, "2024-09-20", ""), (WITHDRAWN, "2025-01-10", "ANOTHER_AGENCY")]),
    // Stage One started after asOf: not reached.
    ("C18", "alder", "CAMPAIGN", "2024-07-15", false, &[(S1S, "2025-04-10", "")]),
    // Stage Two started after asOf: not reached.
    ("C19", "alder", "WEBSITE", "2024-08-01", false, &[(S1S, "2024-09-01", ""), (S1C, "2024-11-01", ""), (S2S, "2025-05-01", "")]),
    // Fast track; Stage Two completed before asOf, panel after asOf.
    ("C20", "alder", "REFERRAL", "2024-09-01", true, &[(S2S, "2024-10-01", ""), (S2C, "2025-02-01", ""), (PANEL, "2025-04-15", "")]),
    // Withdraws after asOf: still in progress at asOf.
    ("C21", "alder", "WEBSITE", "2024-10-01", false, &[(S1S, "2024-11-01", ""), (WITHDRAWN, "2025-06-01", "OTHER")]),
    // Ended by the agency at enquiry.
    ("C22", "alder", "WEBSITE", "2024-11-15", false, &[(ENDED, "2024-12-01", "NO_CONTACT")]),
    // Enquiry on the last day of the period; Stage One started after it, before asOf.
    ("C23", "alder", "ACTIVITY_DAY", "2024-12-31", false, &[(S1S, "2025-01-15", "")]),
    // Enquiry only.
    ("C24", "alder", "WEBSITE", "2024-12-01", false, &[]),
    // Approved, then withdraws after the period (still approved in the cohort).
    ("C25", "alder", "INFORMATION_EVENT", "2024-04-20", false, &[(INFO, "2024-05-01", ""), (S1S, "2024-05-20", ""), (S1C, "2024-07-10", ""), (S2S, "2024-07-20", ""), (S2C, "2024-11-10", ""), (PANEL, "2024-12-01", ""), (APPROVED, "2024-12-15", ""), (WITHDRAWN, "2025-02-01", "CHANGE_OF_CIRCUMSTANCES")]),
    ("D01", "alder", "WEBSITE", "2025-01-10", false, &[(S1S, "2025-02-01", "")]),
    ("D02", "alder", "WEBSITE", "2025-06-01", false, &[]),
    // birch
    ("B1", "birch", "WEBSITE", "2024-02-01", false, &[(S1S, "2024-03-01", ""), (S1C, "2024-05-01", ""), (S2S, "2024-06-01", "")]),
    ("B2", "birch", "WEBSITE", "2024-03-01", false, &[(S1S, "2024-04-01", ""), (WITHDRAWN, "2024-06-01", "HEALTH")]),
    ("B3", "birch", "CAMPAIGN", "2024-05-01", false, &[]),
    ("B4", "birch", "REFERRAL", "2023-12-01", false, &[(S1S, "2024-01-10", "")]),
];

const FROM: &str = "2024-01-01";
const TO: &str = "2024-12-31";
const AS_OF: &str = "2025-03-31";

const RECORD_WITH_REASON: &str = r#"
mutation($input: RecordRecruitmentEventInput!) {
  recordRecruitmentEvent(input: $input) { household { id version } }
}"#;

/// Creates the households of `fixture` through the API; returns their ids by label.
async fn build(app: &TestApp, fixture: &[Fx]) -> BTreeMap<&'static str, String> {
    let mut ids = BTreeMap::new();
    for &(label, authority, channel, enquiry, fast_track, events) in fixture {
        let ro = app.role(authority, "RECRUITMENT_OFFICER");
        let dm = app.role(authority, "DECISION_MAKER");
        let data = app
            .ok(
                &ro,
                CREATE_HOUSEHOLD,
                json!({ "input": {
                    "applicantOneName": format!("Ada {label} Fixture"),
                    "applicantTwoName": format!("Bo {label} Fixture"),
                    "address": format!("{label} Fixture Lane"),
                    "profileName": format!("Profile {label} Fixture"),
                    "channel": channel,
                    "enquiryOn": enquiry,
                    "fastTrack": fast_track,
                }}),
            )
            .await;
        let hh = &data["createHousehold"]["household"];
        let id = hh["id"].as_str().expect("id").to_owned();
        let mut version = hh["version"].as_i64().expect("version");
        for (stage, on, reason) in events {
            let token = if *stage == APPROVED { &dm } else { &ro };
            let mut input = json!({ "householdId": id, "expectedVersion": version, "stage": stage, "occurredOn": on });
            if !reason.is_empty() {
                input["reason"] = json!(reason);
            }
            let data = app
                .ok(token, RECORD_WITH_REASON, json!({ "input": input }))
                .await;
            version = data["recordRecruitmentEvent"]["household"]["version"]
                .as_i64()
                .expect("version");
        }
        ids.insert(label, id);
    }
    ids
}

// ---------------------------------------------------------------------------------------
// The expected figures for alder, period 2024-01-01..2024-12-31, asOf 2025-03-31
// ---------------------------------------------------------------------------------------

/// Households first reaching each stage within the period (exits under their exit).
const STAGE_COUNTS: [(&str, u64); 13] = [
    // C01–C25 (A01–A05 enquired in 2023, D01–D02 in 2025).
    ("ENQUIRY", 25),
    // C01 C03 C10 C15 C25.
    ("INFORMATION_EVENT", 5),
    // A03 A05 (2023 enquiries) + C01 C02 C03 C06 C08 C09 C10 C11 C12 C13 C14 C15 C16 C17
    // C19 C21 C25 (17) = 19; not A02 (2023-12-31), C23 (2025-01-15), C18 (after asOf).
    ("STAGE_ONE_STARTED", 19),
    // A02 A03 A05 + C01 C02 C03 C08 C09 C11 C12 C13 C14 C15 C16 C17 C19 C25 (14) = 17.
    ("STAGE_ONE_COMPLETED", 17),
    // A01 (on 2024-01-01) A02 A05 + C01 C02 C03 C04 C05 C09 C11 C12 C13 C15 C20 C25 (12)
    // = 15; not C19 (after asOf).
    ("STAGE_TWO_STARTED", 15),
    // A01 A02 (on 2024-12-31) A04 + C01 C02 C03 C04 C12 C25 = 9; not A05, C20 (2025).
    ("STAGE_TWO_COMPLETED", 9),
    // A01 A04 C01 C02 C03 C04 C25 = 7; not A02, C12 (2025), C20 (after asOf).
    ("PANEL", 7),
    // A01 A04 C01 C02 C03 (on 2024-12-31) C04 C25 = 7; not A02, C12 (2025).
    ("APPROVED", 7),
    // Matches are written by the link workflow only: none in this fixture.
    ("MATCHED", 0),
    ("PLACED", 0),
    ("ADOPTION_ORDER", 0),
    // A03 C05 C06 C07 C14 = 5; not C17, C25 (2025), C21 (after asOf).
    ("WITHDRAWN", 5),
    // C08 C09 C22.
    ("ENDED_BY_AGENCY", 3),
];

const COHORT_SIZE: u64 = 25; // C01–C25
const FAST_TRACK: u64 = 3; // C04 C05 C20

/// (stage, reached by asOf, eligible, fromPrevious %, fromEnquiry %).
type CohortStageRow = (&'static str, u64, u64, Option<f64>, Option<f64>);

const COHORT_STAGES: [CohortStageRow; 11] = [
    // 25/25.
    ("ENQUIRY", 25, 25, Some(100.0), Some(100.0)),
    // 5/25 = 20.0 %.
    ("INFORMATION_EVENT", 5, 25, Some(20.0), Some(20.0)),
    // The 17 cohort households of the stage count + C23 (2025-01-15, before asOf) = 18; not
    // C18 (after asOf). Eligible 25 − 3 fast track = 22. 18/22 = 81.818 → 81.8;
    // 18/25 = 72.0.
    ("STAGE_ONE_STARTED", 18, 22, Some(81.8), Some(72.0)),
    // C01 C02 C03 C08 C09 C11 C12 C13 C14 C15 C16 C17 C19 C25 = 14, of 18.
    // 14/18 = 77.78 → 77.8; 14/25 = 56.0.
    ("STAGE_ONE_COMPLETED", 14, 18, Some(77.8), Some(56.0)),
    // C01 C02 C03 C09 C11 C12 C13 C15 C25 + fast track C04 C05 C20 = 12; not C19 (after
    // asOf). Eligible 14 + 3 = 17. 12/17 = 70.59 → 70.6; 12/25 = 48.0.
    ("STAGE_TWO_STARTED", 12, 17, Some(70.6), Some(48.0)),
    // C01 C02 C03 C04 C12 C25 + C20 (2025-02-01) = 7, of 12. 7/12 = 58.33 → 58.3;
    // 7/25 = 28.0.
    ("STAGE_TWO_COMPLETED", 7, 12, Some(58.3), Some(28.0)),
    // C01 C02 C03 C04 C12 (2025-01-10) C25 = 6, of 7; not C20 (after asOf).
    // 6/7 = 85.71 → 85.7; 6/25 = 24.0.
    ("PANEL", 6, 7, Some(85.7), Some(24.0)),
    // The same 6 (C12 on 2025-02-01), of 6: 100.0; 6/25 = 24.0.
    ("APPROVED", 6, 6, Some(100.0), Some(24.0)),
    // None matched (not recordable through the API): 0/6 = 0.0; 0/25 = 0.0.
    ("MATCHED", 0, 6, Some(0.0), Some(0.0)),
    // 0 of 0: no rate at all (null, not suppressed); 0/25 = 0.0.
    ("PLACED", 0, 0, None, Some(0.0)),
    ("ADOPTION_ORDER", 0, 0, None, Some(0.0)),
];

/// C01 C02 C03 C04 C12 C25 (C25 withdrew after approval: still approved).
const APPROVED_N: u64 = 6;
/// C05 C06 C07 C08 C09 C14 C17 C22 (not C21: it withdraws after asOf).
const LEFT_BEFORE_APPROVAL: u64 = 8;
/// C10 C11 C13 C15 C16 C18 C19 C20 C21 C23 C24; 6 + 8 + 11 = 25.
const IN_PROGRESS: u64 = 11;
/// C10 (held 2024-05-01) and C13 (held 2025-01-15, resumed after asOf); C11 resumed.
const ON_HOLD_N: u64 = 2;

/// Cohort households that left by asOf, by (exit, reason): 8 before approval + C25 after.
const EXITS: [(&str, &str, u64); 8] = [
    ("WITHDRAWN", "NOT_READY", 2),                  // C06 C07
    ("WITHDRAWN", "RELATIONSHIP", 1),               // C05
    ("WITHDRAWN", "HEALTH", 1),                     // C14
    ("WITHDRAWN", "ANOTHER_AGENCY", 1),             // C17
    ("WITHDRAWN", "CHANGE_OF_CIRCUMSTANCES", 1),    // C25, after approval
    ("ENDED_BY_AGENCY", "SUITABILITY_CONCERNS", 1), // C08
    ("ENDED_BY_AGENCY", "SAFEGUARDING", 1),         // C09
    ("ENDED_BY_AGENCY", "NO_CONTACT", 1),           // C22
];

/// Households that left before approval, by the last stage reached: 2 + 1 + 3 + 2 = 8.
const LEFT_AFTER: [(&str, u64); 4] = [
    ("ENQUIRY", 2),             // C07 C22
    ("STAGE_ONE_STARTED", 1),   // C06
    ("STAGE_ONE_COMPLETED", 3), // C08 C14 C17
    ("STAGE_TWO_STARTED", 2),   // C05 (fast track) C09
];

/// A step's expected figures.
struct StepX {
    step: &'static str,
    target: Option<u64>,
    count: u64,
    within: u64,
    mean: Option<f64>,
    median: Option<f64>,
    within_pct: Option<f64>,
}

const STEPS: [StepX; 6] = [
    // Ending in 2024 (the 19 of the STAGE_ONE_STARTED stage count), days:
    // A03 56, A05 31, C01 31, C02 31, C03 31, C06 20, C08 14, C09 27, C10 31, C11 13,
    // C12 21, C13 27, C14 21, C15 28, C16 30, C17 31, C19 31, C21 31, C25 30.
    // Sum 535, mean 535/19 = 28.157 → 28.2. Sorted: 13 14 20 21 21 27 27 28 30 [30] 31 31 31
    // 31 31 31 31 31 56: median the 10th = 30. No target.
    StepX {
        step: "ENQUIRY_TO_STAGE_ONE",
        target: None,
        count: 19,
        within: 0,
        mean: Some(28.2),
        median: Some(30.0),
        within_pct: None,
    },
    // The 17 of the STAGE_ONE_COMPLETED stage count: A02 60 (exactly 2 months, clamped),
    // A03 61 (1 day over), A05 60, C01 56, C02 55, C03 55, C08 56, C09 61, C11 108 (over),
    // C12 61, C13 61, C14 61, C15 63 (1 day over), C16 62 (exactly 2 months), C17 50,
    // C19 61, C25 51. Sum 1042, mean 61.29 → 61.3. Sorted: 50 51 55 55 56 56 60 60 [61] 61
    // 61 61 61 61 62 63 108: median 61. Within 17 − 3 = 14: 14/17 = 82.35 → 82.4.
    StepX {
        step: "STAGE_ONE",
        target: Some(2),
        count: 17,
        within: 14,
        mean: Some(61.3),
        median: Some(61.0),
        within_pct: Some(82.4),
    },
    // Ending in 2024: A01 61 (ends 2024-01-01), A02 182 (exactly 6 months), A05 185 (6 months
    // + 1 day: over), C01 18, C02 26, C03 52, C09 30, C11 31, C12 31, C13 61, C15 29, C25 10.
    // (A04's gap ended in 2023; C19's starts after asOf; fast track has no gap.)
    // Sum 716, mean 59.67 → 59.7. Sorted: 10 18 26 29 30 [31 31] 52 61 61 182 185: median
    // 31.0. Within 11/12 = 91.67 → 91.7.
    StepX {
        step: "GAP_BETWEEN_STAGES",
        target: Some(6),
        count: 12,
        within: 11,
        mean: Some(59.7),
        median: Some(31.0),
        within_pct: Some(91.7),
    },
    // Ending in 2024: A01 121 (exactly 4 months), A02 124 (over; ends 2024-12-31), A04 123
    // (1 day over), C01 117, C02 123 (exactly 4 months), C03 136 (over), C04 111, C12 121,
    // C25 113. Sum 1089, mean 121.0. Sorted: 111 113 117 121 [121] 123 123 124 136: median
    // 121. Within 9 − 3 = 6: 6/9 = 66.67 → 66.7.
    StepX {
        step: "STAGE_TWO",
        target: Some(4),
        count: 9,
        within: 6,
        mean: Some(121.0),
        median: Some(121.0),
        within_pct: Some(66.7),
    },
    // Approvals in 2024: A01 31, A04 29, C01 36, C02 30, C03 77, C04 35, C25 35. Sum 273,
    // mean 39.0. Sorted 29 30 31 [35] 35 36 77: median 35. No target.
    StepX {
        step: "STAGE_TWO_TO_APPROVAL",
        target: None,
        count: 7,
        within: 0,
        mean: Some(39.0),
        median: Some(35.0),
        within_pct: None,
    },
    // No match can be recorded through the API: 0, and no mean, median or rate.
    StepX {
        step: "APPROVAL_TO_MATCH",
        target: Some(3),
        count: 0,
        within: 0,
        mean: None,
        median: None,
        within_pct: None,
    },
];

/// Every count of the alder total as a column name → value (see [`cells`]).
fn alder_counts() -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for (stage, n) in STAGE_COUNTS {
        m.insert(format!("stage/{stage}"), n);
    }
    for (stage, reached, eligible, _, _) in COHORT_STAGES {
        m.insert(format!("reached/{stage}"), reached);
        m.insert(format!("eligible/{stage}"), eligible);
    }
    m.insert("size".into(), COHORT_SIZE);
    m.insert("fastTrack".into(), FAST_TRACK);
    m.insert("approved".into(), APPROVED_N);
    m.insert("leftBeforeApproval".into(), LEFT_BEFORE_APPROVAL);
    m.insert("inProgress".into(), IN_PROGRESS);
    m.insert("onHold".into(), ON_HOLD_N);
    for (stage, reason, n) in EXITS {
        m.insert(format!("exit/{stage}/{reason}"), n);
    }
    for (stage, n) in LEFT_AFTER {
        m.insert(format!("leftAfter/{stage}"), n);
    }
    for s in &STEPS {
        m.insert(format!("step/{}", s.step), s.count);
    }
    m
}

// ---------------------------------------------------------------------------------------
// Reading the funnel
// ---------------------------------------------------------------------------------------

const FUNNEL: &str = r#"
fragment N on SuppressedCount { value suppressed }
fragment F on SuppressedNumber { value suppressed }
fragment G on FunnelGroup {
  __typename
  authority { __typename id code }
  channel
  enquiryMonth
  stageCounts { stage count { ...N } }
  cohort {
    size { ...N } fastTrack { ...N }
    stages { stage reached { ...N } eligible { ...N } fromPrevious { ...F } fromEnquiry { ...F } }
    approved { ...N } leftBeforeApproval { ...N } inProgress { ...N } onHold { ...N }
    exits { stage reason count { ...N } }
    leftAfter { stage count { ...N } }
  }
  timeliness {
    step targetMonths count { ...N } meanDays { ...F } medianDays { ...F } withinTarget { ...F }
  }
}
query($period: PeriodInput!, $asOf: Date, $ids: [ID!], $groupBy: [FunnelGroupBy!]!) {
  recruitmentFunnel(period: $period, asOf: $asOf, authorityIds: $ids, groupBy: $groupBy) {
    __typename from to asOf groupBy suppressionApplied
    authorities { __typename id code }
    total { ...G }
    groups { ...G }
  }
}"#;

fn funnel_vars(ids: Option<Vec<String>>, group_by: &[&str]) -> Value {
    json!({
        "period": { "from": FROM, "to": TO },
        "asOf": AS_OF,
        "ids": ids,
        "groupBy": group_by,
    })
}

/// Runs the funnel; panics on errors.
async fn funnel(app: &TestApp, token: &str, codes: &[&str], group_by: &[&str]) -> Value {
    let ids = codes.iter().map(|c| app.authority_id(c)).collect();
    app.ok(token, FUNNEL, funnel_vars(Some(ids), group_by))
        .await["recruitmentFunnel"]
        .clone()
}

/// Every count figure of a group (`{ value suppressed }`), by column name: `stage/S` (stage
/// counts), `reached/S` and `eligible/S` (cohort stages), the cohort's totals by field name,
/// `exit/S/R`, `leftAfter/S` and `step/S` (timeliness counts).
fn cells(group: &Value) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for s in group["stageCounts"].as_array().expect("stageCounts") {
        m.insert(
            format!("stage/{}", s["stage"].as_str().unwrap()),
            s["count"].clone(),
        );
    }
    let cohort = &group["cohort"];
    for s in cohort["stages"].as_array().expect("stages") {
        let stage = s["stage"].as_str().unwrap();
        m.insert(format!("reached/{stage}"), s["reached"].clone());
        m.insert(format!("eligible/{stage}"), s["eligible"].clone());
    }
    for field in [
        "size",
        "fastTrack",
        "approved",
        "leftBeforeApproval",
        "inProgress",
        "onHold",
    ] {
        m.insert(field.to_owned(), cohort[field].clone());
    }
    for e in cohort["exits"].as_array().expect("exits") {
        let reason = e["reason"].as_str().unwrap_or("none");
        m.insert(
            format!("exit/{}/{reason}", e["stage"].as_str().unwrap()),
            e["count"].clone(),
        );
    }
    for e in cohort["leftAfter"].as_array().expect("leftAfter") {
        m.insert(
            format!("leftAfter/{}", e["stage"].as_str().unwrap()),
            e["count"].clone(),
        );
    }
    for s in group["timeliness"].as_array().expect("timeliness") {
        m.insert(
            format!("step/{}", s["step"].as_str().unwrap()),
            s["count"].clone(),
        );
    }
    m
}

/// The shown value of an unsuppressed count.
fn shown_count(v: &Value, what: &str) -> u64 {
    assert_eq!(v["suppressed"], json!(false), "{what} suppressed: {v}");
    v["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what} has no value: {v}"))
}

/// Checks an unsuppressed number against `expected` (None: null, not suppressed).
fn assert_number(v: &Value, expected: Option<f64>, what: &str) {
    assert_eq!(v["suppressed"], json!(false), "{what} suppressed: {v}");
    match expected {
        None => assert!(v["value"].is_null(), "{what}: expected null, got {v}"),
        Some(x) => {
            let got = v["value"]
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: expected {x}, got {v}"));
            assert!((got - x).abs() < 1e-9, "{what}: expected {x}, got {got}");
        }
    }
}

fn cohort_stage<'a>(group: &'a Value, stage: &str) -> &'a Value {
    group["cohort"]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == json!(stage))
        .unwrap_or_else(|| panic!("no cohort stage {stage}"))
}

fn step<'a>(group: &'a Value, name: &str) -> &'a Value {
    group["timeliness"]
        .as_array()
        .expect("timeliness")
        .iter()
        .find(|s| s["step"] == json!(name))
        .unwrap_or_else(|| panic!("no step {name}"))
}

/// The group whose `field` is `value`.
fn group<'a>(funnel: &'a Value, field: &str, value: &str) -> &'a Value {
    funnel["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g[field] == json!(value) || g[field]["code"] == json!(value))
        .unwrap_or_else(|| panic!("no group {field} = {value}"))
}

/// The column names of `cells` under `prefix` (`exit/`, `leftAfter/`).
fn columns(cells: &BTreeMap<String, Value>, prefix: &str) -> BTreeSet<String> {
    cells
        .keys()
        .filter(|k| k.starts_with(prefix))
        .cloned()
        .collect()
}

/// Checks every figure of the alder total, as it is (no disclosure control).
fn assert_alder_total(total: &Value) {
    // Every count, including zeros; nothing else is listed.
    let expected = alder_counts();
    let got = cells(total);
    for (key, v) in &got {
        let want = expected.get(key).copied().unwrap_or(0);
        assert_eq!(shown_count(v, key), want, "{key}");
    }
    for key in expected.keys() {
        assert!(got.contains_key(key), "{key} missing from {total:#}");
    }
    // Stage counts come in funnel order, then the exits.
    let order = strings_of(&total["stageCounts"], "stage");
    let want: Vec<&str> = STAGE_COUNTS.iter().map(|(s, _)| *s).collect();
    assert_eq!(order, want);
    // Exactly the exits and left-after stages of the fixture.
    let exits = EXITS.iter().map(|(s, r, _)| format!("exit/{s}/{r}"));
    assert_eq!(columns(&got, "exit/"), exits.collect());
    let left = LEFT_AFTER.iter().map(|(s, _)| format!("leftAfter/{s}"));
    assert_eq!(columns(&got, "leftAfter/"), left.collect());
    // The partition of the cohort.
    assert_eq!(APPROVED_N + LEFT_BEFORE_APPROVAL + IN_PROGRESS, COHORT_SIZE);
    // Rates.
    for (stage, _, _, from_previous, from_enquiry) in COHORT_STAGES {
        let s = cohort_stage(total, stage);
        assert_number(
            &s["fromPrevious"],
            from_previous,
            &format!("{stage} fromPrevious"),
        );
        assert_number(
            &s["fromEnquiry"],
            from_enquiry,
            &format!("{stage} fromEnquiry"),
        );
    }
    // Timeliness.
    for x in &STEPS {
        let s = step(total, x.step);
        assert_eq!(s["targetMonths"], json!(x.target), "{} target", x.step);
        assert_eq!(
            shown_count(&s["count"], x.step),
            x.count,
            "{} count",
            x.step
        );
        assert_number(&s["meanDays"], x.mean, &format!("{} mean", x.step));
        assert_number(&s["medianDays"], x.median, &format!("{} median", x.step));
        assert_number(
            &s["withinTarget"],
            x.within_pct,
            &format!("{} within", x.step),
        );
        assert_eq!(within_count(s), x.within, "{} within", x.step);
    }
}

// ---------------------------------------------------------------------------------------
// 1. The hand-computed fixture
// ---------------------------------------------------------------------------------------

async fn funnel_figures_match_the_hand_computed_fixture(app: TestApp) {
    build(&app, FIXTURE).await;
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let f = funnel(&app, &ro, &["alder"], &[]).await;
    assert_eq!(f["__typename"], json!("RecruitmentFunnel"));
    assert_eq!(f["from"], json!(FROM));
    assert_eq!(f["to"], json!(TO));
    assert_eq!(f["asOf"], json!(AS_OF));
    assert_eq!(f["suppressionApplied"], json!(false));
    assert_eq!(f["authorities"][0]["code"], json!("alder"));
    assert_eq!(f["authorities"].as_array().unwrap().len(), 1);
    assert_eq!(f["groups"], json!([]));
    assert!(f["total"]["authority"].is_null());
    assert_alder_total(&f["total"]);

    // Left out, the authorities default to the officer's own: the same figures.
    let body = app.ok(&ro, FUNNEL, funnel_vars(None, &[])).await;
    assert_eq!(body["recruitmentFunnel"]["total"], f["total"]);
}

async fn funnel_breakdowns_add_up_to_the_total(app: TestApp) {
    build(&app, FIXTURE).await;
    let ro = app.role("alder", "RECRUITMENT_OFFICER");

    for by in ["CHANNEL", "ENQUIRY_MONTH"] {
        let f = funnel(&app, &ro, &["alder"], &[by]).await;
        assert_eq!(f["groupBy"], json!([by]));
        assert_eq!(f["suppressionApplied"], json!(false));
        // The total is the same as without a breakdown.
        assert_alder_total(&f["total"]);
        // Every count (and every eligible population) of the groups adds up to the total.
        let total = cells(&f["total"]);
        let groups: Vec<BTreeMap<String, Value>> =
            f["groups"].as_array().unwrap().iter().map(cells).collect();
        for (key, v) in &total {
            let sum: u64 = groups.iter().map(|g| shown_count(&g[key], key)).sum();
            assert_eq!(sum, shown_count(v, key), "{by}: {key} over the groups");
        }
    }

    // By channel: the groups are the channels of the households with anything in the
    // period (A01–A05 and C01–C25; D01 and D02 have nothing in it).
    let f = funnel(&app, &ro, &["alder"], &["CHANNEL"]).await;
    let channels: BTreeSet<&str> = strings_of(&f["groups"], "channel").into_iter().collect();
    assert_eq!(
        channels,
        BTreeSet::from([
            "WEBSITE",
            "INFORMATION_EVENT",
            "ACTIVITY_DAY",
            "CAMPAIGN",
            "REFERRAL",
            "OTHER"
        ])
    );
    // WEBSITE: cohort C01 C02 C08 C09 C12 C13 C16 C19 C21 C22 C24 = 11; Stage One started
    // by asOf: all but C22 C24 = 9 of 11 eligible (no fast track): 81.8 %.
    let web = group(&f, "channel", "WEBSITE");
    assert_eq!(shown_count(&web["cohort"]["size"], "size"), 11);
    let s1 = cohort_stage(web, "STAGE_ONE_STARTED");
    assert_eq!(shown_count(&s1["reached"], "reached"), 9);
    assert_eq!(shown_count(&s1["eligible"], "eligible"), 11);
    assert_number(&s1["fromPrevious"], Some(81.8), "WEBSITE S1 fromPrevious");
    // WEBSITE Stage Two ending in 2024: A01 121, A04 123 (over), C01 117, C02 123, C12 121:
    // mean 605/5 = 121.0, median 121, within 4/5 = 80.0.
    let s2 = step(web, "STAGE_TWO");
    assert_eq!(shown_count(&s2["count"], "count"), 5);
    assert_number(&s2["meanDays"], Some(121.0), "WEBSITE S2 mean");
    assert_number(&s2["medianDays"], Some(121.0), "WEBSITE S2 median");
    assert_number(&s2["withinTarget"], Some(80.0), "WEBSITE S2 within");
    // REFERRAL: C04 C05 C20, all fast track: Stage One has no eligible population (no rate,
    // not suppressed); Stage Two started 3 of 0 + 3 = 100 %. Withdrawals in 2024: A03, C05.
    let referral = group(&f, "channel", "REFERRAL");
    assert_eq!(shown_count(&referral["cohort"]["size"], "size"), 3);
    assert_eq!(shown_count(&referral["cohort"]["fastTrack"], "fast"), 3);
    let s1 = cohort_stage(referral, "STAGE_ONE_STARTED");
    assert_eq!(shown_count(&s1["eligible"], "eligible"), 0);
    assert_number(&s1["fromPrevious"], None, "REFERRAL S1 fromPrevious");
    let s2 = cohort_stage(referral, "STAGE_TWO_STARTED");
    assert_number(&s2["fromPrevious"], Some(100.0), "REFERRAL S2 fromPrevious");
    let referral_cells = cells(referral);
    assert_eq!(shown_count(&referral_cells["stage/WITHDRAWN"], "w"), 2);
    // CAMPAIGN: A02's gap of exactly 6 months is within (100 %), its Stage Two over (0 %).
    let campaign = group(&f, "channel", "CAMPAIGN");
    let gap = step(campaign, "GAP_BETWEEN_STAGES");
    assert_number(&gap["withinTarget"], Some(100.0), "CAMPAIGN gap within");
    assert_number(&gap["meanDays"], Some(182.0), "CAMPAIGN gap mean");
    let s2 = step(campaign, "STAGE_TWO");
    assert_number(&s2["withinTarget"], Some(0.0), "CAMPAIGN S2 within");

    // By month of enquiry: the 2023 months of A04 (03), A01 (06), A02 (10), A03 (11),
    // A05 (12) have events in the period but no cohort; then every month of 2024.
    let f = funnel(&app, &ro, &["alder"], &["ENQUIRY_MONTH"]).await;
    let sizes: Vec<(String, u64)> = f["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["enquiryMonth"].as_str().unwrap().to_owned(),
                shown_count(&g["cohort"]["size"], "size"),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = [
        ("2023-03", 0),
        ("2023-06", 0),
        ("2023-10", 0),
        ("2023-11", 0),
        ("2023-12", 0),
        ("2024-01", 3), // C01 C02 C03
        ("2024-02", 4), // C04 C05 C06 C07
        ("2024-03", 3), // C08 C09 C10
        ("2024-04", 3), // C11 C12 C25
        ("2024-05", 2), // C13 C14
        ("2024-06", 2), // C15 C16
        ("2024-07", 2), // C17 C18
        ("2024-08", 1), // C19
        ("2024-09", 1), // C20
        ("2024-10", 1), // C21
        ("2024-11", 1), // C22
        ("2024-12", 2), // C23 C24
    ]
    .into_iter()
    .map(|(m, n)| (m.to_owned(), n))
    .collect();
    let mut got = sizes.clone();
    got.sort();
    assert_eq!(got, want, "3+4+3+3+2+2+2+1+1+1+1+2 = 25");
    // 2024-02: C04 (fast, approved), C05 (fast, withdrew), C06, C07 (withdrew).
    let feb = group(&f, "enquiryMonth", "2024-02");
    assert_eq!(shown_count(&feb["cohort"]["fastTrack"], "fast"), 2);
    assert_eq!(shown_count(&feb["cohort"]["approved"], "approved"), 1);
    assert_eq!(shown_count(&feb["cohort"]["leftBeforeApproval"], "left"), 3);
    assert_eq!(shown_count(&feb["cohort"]["inProgress"], "in progress"), 0);
    // 2023-11: A03 only — no cohort, but its Stage One start (56 days after its enquiry)
    // and its withdrawal are in the period.
    let nov = group(&f, "enquiryMonth", "2023-11");
    let nov_cells = cells(nov);
    assert_eq!(shown_count(&nov_cells["stage/STAGE_ONE_STARTED"], "s1"), 1);
    assert_eq!(shown_count(&nov_cells["stage/WITHDRAWN"], "w"), 1);
    let to_stage_one = step(nov, "ENQUIRY_TO_STAGE_ONE");
    assert_number(
        &to_stage_one["meanDays"],
        Some(56.0),
        "2023-11 enquiry to Stage One",
    );
    let enquiry = cohort_stage(nov, "ENQUIRY");
    assert_number(&enquiry["fromPrevious"], None, "no cohort: no rate");
}

// ---------------------------------------------------------------------------------------
// 2. Disclosure control: protected audiences read the consortium's publication
// ---------------------------------------------------------------------------------------

/// The periods the publication at `AS_OF` (a quarter end) offers: the financial year it
/// ends, and its quarter.
const YEAR: Span = ("2024-04-01", "2025-03-31");
const QUARTER: Span = ("2025-01-01", "2025-03-31");

/// A period, as (from, to).
type Span = (&'static str, &'static str);

/// A funnel asked for: its period, `asOf` (left out when `None`), the authorities named
/// (none when `None`) and the breakdowns.
type Asked = (
    Span,
    Option<&'static str>,
    Option<&'static [&'static str]>,
    &'static [&'static str],
);

/// The count figures of a group by name ([`cells`]).
type Cells = BTreeMap<String, Value>;

/// The authorities of `demo`, in the order they were made (and are published in).
const DEMO: [&str; 5] = ["alder", "birch", "cedar", "damson", "elm"];

fn board_analyst(app: &TestApp) -> String {
    app.token_with("ba", "demo", &[], &["BOARD_ANALYST"])
}

/// A manager of every authority of `demo`: the whole consortium as it is.
fn manager_of_all(app: &TestApp) -> String {
    let roles: &[&str] = &["MANAGER"];
    let memberships: Vec<(&str, &[&str])> = DEMO.iter().map(|c| (*c, roles)).collect();
    app.token("manager-all", &memberships)
}

/// Builds `fixture`, then makes the consortium's publication at `AS_OF` from it.
async fn build_and_publish(app: &TestApp, fixture: &[Fx]) -> BTreeMap<&'static str, String> {
    let ids = build(app, fixture).await;
    app.publish("demo", AS_OF).await;
    ids
}

/// The variables of a funnel over `period`, as at `as_of` (left out when `None`), of the
/// authorities `codes` (not named when `None`), by `group_by`.
fn vars_of(
    app: &TestApp,
    period: (&str, &str),
    as_of: Option<&str>,
    codes: Option<&[&str]>,
    group_by: &[&str],
) -> Value {
    let ids: Option<Vec<String>> =
        codes.map(|codes| codes.iter().map(|c| app.authority_id(c)).collect());
    let mut vars = json!({ "period": { "from": period.0, "to": period.1 }, "ids": ids,
                           "groupBy": group_by });
    if let Some(as_of) = as_of {
        vars["asOf"] = json!(as_of);
    }
    vars
}

/// How `extensions.reportCache` says the report of a response was answered.
fn cache_status(body: &Value) -> Option<&str> {
    body["extensions"]["reportCache"][0]["status"].as_str()
}

/// A board analyst's funnel as at `AS_OF`: answered from the publication, with disclosure
/// control, for the period and breakdown asked.
async fn analyst_funnel(
    app: &TestApp,
    token: &str,
    period: (&str, &str),
    codes: Option<&[&str]>,
    group_by: &[&str],
) -> Value {
    let vars = vars_of(app, period, Some(AS_OF), codes, group_by);
    let body = app.gql(Some(token), FUNNEL, vars).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    assert_eq!(cache_status(&body), Some("PUBLISHED"), "{body:#}");
    let f = body["data"]["recruitmentFunnel"].clone();
    assert_eq!(f["__typename"], json!("RecruitmentFunnel"));
    assert_eq!((&f["from"], &f["to"]), (&json!(period.0), &json!(period.1)));
    assert_eq!(f["asOf"], json!(AS_OF));
    assert_eq!(f["groupBy"], json!(group_by));
    assert_eq!(f["suppressionApplied"], json!(true));
    f
}

/// The same funnel as it is, computed live for a reader of every authority it names.
async fn live_funnel(
    app: &TestApp,
    token: &str,
    period: (&str, &str),
    codes: &[&str],
    group_by: &[&str],
) -> Value {
    let vars = vars_of(app, period, Some(AS_OF), Some(codes), group_by);
    let body = app.gql(Some(token), FUNNEL, vars).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    assert_ne!(cache_status(&body), Some("PUBLISHED"), "{body:#}");
    let f = body["data"]["recruitmentFunnel"].clone();
    assert_eq!(f["suppressionApplied"], json!(false));
    f
}

/// The values of a GraphQL enum, in the order the schema lists them.
async fn enum_values(app: &TestApp, token: &str, name: &str) -> Vec<String> {
    let data = app
        .ok(
            token,
            "query($n: String!) { __type(name: $n) { enumValues { name } } }",
            json!({ "n": name }),
        )
        .await;
    let values = strings_of(&data["__type"]["enumValues"], "name");
    assert!(!values.is_empty(), "{name}: {data}");
    values.into_iter().map(str::to_owned).collect()
}

/// A figure withheld by disclosure control.
fn withheld_figure() -> Value {
    json!({ "value": null, "suppressed": true })
}

/// No figure at all (a rate or mean of nobody), not withheld.
fn no_figure() -> Value {
    json!({ "value": null, "suppressed": false })
}

/// A count shown as it is.
fn shown(n: u64) -> Value {
    json!({ "value": n, "suppressed": false })
}

/// Whether a figure is withheld.
fn withheld(v: &Value) -> bool {
    v["suppressed"] == json!(true)
}

/// A count small enough to be withheld: 1–5.
fn small(n: u64) -> bool {
    (1..=5).contains(&n)
}

/// A count of a group's cells as they are: a figure the live answer does not list is 0.
fn live_count(live: &BTreeMap<String, Value>, key: &str) -> u64 {
    live.get(key).map_or(0, |v| shown_count(v, key))
}

/// A step's count within its target, from its count and rounded percentage as they are
/// (exact for counts under 1000).
fn within_count(step: &Value) -> u64 {
    let n = shown_count(&step["count"], "step count");
    match step["withinTarget"]["value"].as_f64() {
        Some(percent) => (percent * n as f64 / 100.0).round() as u64,
        None => 0,
    }
}

/// Every figure of a group by name: its counts ([`cells`]), its rates, means, medians and
/// targets.
fn figures(group: &Value) -> BTreeMap<String, Value> {
    let mut m = cells(group);
    for s in group["cohort"]["stages"].as_array().expect("stages") {
        let stage = s["stage"].as_str().unwrap();
        for field in ["fromPrevious", "fromEnquiry"] {
            m.insert(format!("{field}/{stage}"), s[field].clone());
        }
    }
    for t in group["timeliness"].as_array().expect("timeliness") {
        let name = t["step"].as_str().unwrap();
        for field in ["targetMonths", "meanDays", "medianDays", "withinTarget"] {
            m.insert(format!("{field}/{name}"), t[field].clone());
        }
    }
    m
}

/// What the board analyst was shown, tallied: the checks below are about something.
#[derive(Debug, Default)]
struct Tally {
    withheld_small: usize,
    withheld_other: usize,
    shown_zero: usize,
    shown_other: usize,
    rates_shown: usize,
    rates_withheld: usize,
    means_shown: usize,
}

/// A published group lists every stage, every exit stage with no reason and with each
/// reason, every "left after" stage and every step, in a fixed order, whatever the data.
fn assert_published_layout(g: &Value, reasons: &[String], what: &str) {
    let stages: Vec<&str> = STAGE_COUNTS.iter().map(|(s, _)| *s).collect();
    assert_eq!(strings_of(&g["stageCounts"], "stage"), stages, "{what}");
    let cohort_stages: Vec<&str> = COHORT_STAGES.iter().map(|s| s.0).collect();
    assert_eq!(
        strings_of(&g["cohort"]["stages"], "stage"),
        cohort_stages,
        "{what}"
    );
    assert_eq!(
        strings_of(&g["cohort"]["leftAfter"], "stage"),
        cohort_stages,
        "{what}"
    );
    let exits: Vec<(String, Value)> = g["cohort"]["exits"]
        .as_array()
        .expect("exits")
        .iter()
        .map(|e| (e["stage"].as_str().unwrap().to_owned(), e["reason"].clone()))
        .collect();
    let want: Vec<(String, Value)> = [WITHDRAWN, ENDED]
        .iter()
        .flat_map(|stage| {
            std::iter::once(Value::Null)
                .chain(reasons.iter().map(|r| json!(r)))
                .map(move |r| (stage.to_string(), r))
        })
        .collect();
    assert_eq!(exits, want, "{what}");
    let steps: Vec<&str> = STEPS.iter().map(|s| s.step).collect();
    assert_eq!(strings_of(&g["timeliness"], "step"), steps, "{what}");
}

/// A published rate of `num` over `base` (as the analyst sees them): no figure over a base
/// shown as 0; withheld unless both are shown, and then by the rate rule (base ≤ 10, or
/// numerator or rest 1–5); else the rate as it is (`live`).
fn assert_published_rate(
    v: &Value,
    (num, base): (&Value, &Value),
    live: &Value,
    what: &str,
    tally: &mut Tally,
) {
    match (num["value"].as_u64(), base["value"].as_u64()) {
        (_, Some(0)) => assert_eq!(v, &no_figure(), "{what}"),
        (Some(n), Some(d)) if d <= 10 || small(n) || small(d.saturating_sub(n)) => {
            assert_eq!(v, &withheld_figure(), "{what}: {n} of {d}");
        }
        (Some(_), Some(_)) => {
            assert_eq!(v, live, "{what}: as it is");
            tally.rates_shown += 1;
            return;
        }
        _ => assert_eq!(v, &withheld_figure(), "{what}: of a withheld count"),
    }
    if withheld(v) {
        tally.rates_withheld += 1;
    }
}

/// A board analyst's published group against the same group as it is (`live`; `None`
/// when the live answer has no such group, nothing being in it):
/// - every count is the true one or withheld, and every count of 1–5 is withheld;
/// - a rate is shown only when its numerator and base are, and then by the rate rule;
/// - a mean or median only over more than 10 cases shown (withheld with its count, or
///   with its sum of days), and then as it is; a within-target rate by the rate rule.
fn assert_published_group(g: &Value, live: Option<&Value>, what: &str, tally: &mut Tally) {
    let got = cells(g);
    let live_cells = live.map(cells).unwrap_or_default();
    for key in live_cells.keys() {
        assert!(got.contains_key(key), "{what}: {key} is not published");
    }
    for (key, v) in &got {
        let n = live_count(&live_cells, key);
        if withheld(v) {
            assert_eq!(v, &withheld_figure(), "{what}: {key}");
            if small(n) {
                tally.withheld_small += 1;
            } else {
                tally.withheld_other += 1;
            }
        } else {
            assert!(!small(n), "{what}: {key} = {n} is shown");
            assert_eq!(v, &shown(n), "{what}: {key} is {n}");
            if n == 0 {
                tally.shown_zero += 1;
            } else {
                tally.shown_other += 1;
            }
        }
    }
    // Conversion rates.
    for s in g["cohort"]["stages"].as_array().expect("stages") {
        let stage = s["stage"].as_str().unwrap();
        let reached = &got[&format!("reached/{stage}")];
        for (field, base) in [
            ("fromPrevious", &got[&format!("eligible/{stage}")]),
            ("fromEnquiry", &got["size"]),
        ] {
            let as_it_is = live.map_or(Value::Null, |l| cohort_stage(l, stage)[field].clone());
            let what = format!("{what}: {stage} {field}");
            assert_published_rate(&s[field], (reached, base), &as_it_is, &what, tally);
        }
    }
    // Timeliness.
    for t in g["timeliness"].as_array().expect("timeliness") {
        let name = t["step"].as_str().unwrap();
        let x = STEPS.iter().find(|x| x.step == name).expect("a step");
        assert_eq!(t["targetMonths"], json!(x.target), "{what}: {name} target");
        let as_it_is = live.map(|l| step(l, name));
        let (mean, median) = (&t["meanDays"], &t["medianDays"]);
        let n = t["count"]["value"].as_u64();
        match n {
            Some(0) => {
                assert_eq!(mean, &no_figure(), "{what}: {name} mean");
                assert_eq!(median, &no_figure(), "{what}: {name} median");
            }
            Some(n) if n > 10 => {
                let l = as_it_is.expect("a step of more than 10 cases");
                if withheld(mean) {
                    // Its sum of days is withheld (to protect another one).
                    assert_eq!(mean, &withheld_figure(), "{what}: {name} mean");
                    assert_eq!(median, &withheld_figure(), "{what}: {name} median");
                } else {
                    assert_eq!(mean, &l["meanDays"], "{what}: {name} mean");
                    assert_eq!(median, &l["medianDays"], "{what}: {name} median");
                    tally.means_shown += 1;
                }
            }
            _ => {
                assert_eq!(mean, &withheld_figure(), "{what}: {name} mean");
                assert_eq!(median, &withheld_figure(), "{what}: {name} median");
            }
        }
        let within = &t["withinTarget"];
        match (x.target, n) {
            (None, _) | (Some(_), Some(0)) => {
                assert_eq!(within, &no_figure(), "{what}: {name} within")
            }
            (Some(_), Some(n)) => {
                let l = as_it_is.expect("a step with cases");
                let w = within_count(l);
                if n <= 10 || small(w) || small(n - w) {
                    assert_eq!(within, &withheld_figure(), "{what}: {name} {w} of {n}");
                } else if !withheld(within) {
                    assert_eq!(within, &l["withinTarget"], "{what}: {name} within");
                }
            }
            (Some(_), None) => {
                assert_eq!(within, &withheld_figure(), "{what}: {name} within")
            }
        }
    }
}

/// Walks every string of `v`.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

/// The response holds nothing about a household: no id, no `Household` type, no name.
fn assert_no_personal_data(v: &Value, ids: &BTreeMap<&str, String>) {
    let text = v.to_string();
    for id in ids.values() {
        assert!(!text.contains(id.as_str()), "household id {id} in {text}");
    }
    assert!(!text.contains("Household"), "a Household in {text}");
    assert!(!text.contains("Fixture"), "a name or address in {text}");
    let mut all = Vec::new();
    strings(v, &mut all);
    for s in all {
        use base64::Engine;
        if let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s) {
            let decoded = String::from_utf8_lossy(&bytes);
            assert!(
                !decoded.starts_with("Household"),
                "{s} decodes to {decoded}"
            );
        }
    }
}

/// The group of a published answer that is `code`'s authority or the channel `code`,
/// if the answer has one.
fn group_of<'a>(funnel: &'a Value, code: &str) -> Option<&'a Value> {
    funnel["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["authority"]["code"] == json!(code) || g["channel"] == json!(code))
}

/// Where a group's figures sit in the publication: `all`, `authority:CODE` or
/// `channel:CHANNEL`.
fn scope_of(group: &Value, named: &[&str]) -> String {
    if let Some(code) = group["authority"]["code"].as_str() {
        format!("authority:{code}")
    } else if let Some(channel) = group["channel"].as_str() {
        format!("channel:{channel}")
    } else if let [one] = named {
        format!("authority:{one}")
    } else {
        "all".to_owned()
    }
}

/// Twelve cedar households enquiring in June 2024 (in the financial year), all starting
/// Stage One, six completing it: larger figures beside the funnel fixture's, so that some
/// rates are shown to a board analyst.
#[rustfmt::skip]
const CEDAR: &[Fx] = &[
    ("E01", "cedar", "WEBSITE", "2024-06-03", false, &[(S1S, "2024-06-24", ""), (S1C, "2024-08-19", "")]),
    ("E02", "cedar", "WEBSITE", "2024-06-04", false, &[(S1S, "2024-06-25", ""), (S1C, "2024-08-20", "")]),
    ("E03", "cedar", "WEBSITE", "2024-06-05", false, &[(S1S, "2024-06-26", ""), (S1C, "2024-08-21", "")]),
    ("E04", "cedar", "WEBSITE", "2024-06-06", false, &[(S1S, "2024-06-27", ""), (S1C, "2024-08-22", "")]),
    ("E05", "cedar", "WEBSITE", "2024-06-07", false, &[(S1S, "2024-06-28", ""), (S1C, "2024-08-23", "")]),
    ("E06", "cedar", "WEBSITE", "2024-06-10", false, &[(S1S, "2024-07-01", ""), (S1C, "2024-08-26", "")]),
    ("E07", "cedar", "WEBSITE", "2024-06-11", false, &[(S1S, "2024-07-02", "")]),
    ("E08", "cedar", "WEBSITE", "2024-06-12", false, &[(S1S, "2024-07-03", "")]),
    ("E09", "cedar", "WEBSITE", "2024-06-13", false, &[(S1S, "2024-07-04", "")]),
    ("E10", "cedar", "WEBSITE", "2024-06-14", false, &[(S1S, "2024-07-05", "")]),
    ("E11", "cedar", "WEBSITE", "2024-06-17", false, &[(S1S, "2024-07-08", "")]),
    ("E12", "cedar", "WEBSITE", "2024-06-18", false, &[(S1S, "2024-07-09", "")]),
];

/// The breakdowns a board analyst can ask for, over the consortium or one authority.
const ASKED: [(Option<&[&str]>, &[&str]); 9] = [
    (None, &[]),
    (None, &["AUTHORITY"]),
    (None, &["CHANNEL"]),
    (Some(&DEMO), &[]),
    (Some(&DEMO), &["AUTHORITY"]),
    (Some(&["alder"]), &[]),
    (Some(&["alder"]), &["AUTHORITY"]),
    (Some(&["birch"]), &[]),
    (Some(&["elm"]), &[]),
];

/// Every answer a board analyst can have of the published funnel at `AS_OF`, against the
/// same answer as it is, and the same figure alike in every answer.
async fn board_analysts_see_the_funnel_with_disclosure_control(app: TestApp) {
    let mut ids = build(&app, CEDAR).await;
    ids.extend(build_and_publish(&app, FIXTURE).await);
    let ba = board_analyst(&app);
    let manager = manager_of_all(&app);
    let reasons = enum_values(&app, &ba, "RecruitmentReason").await;
    let channels = enum_values(&app, &ba, "EnquiryChannel").await;

    // The live figures the checks rest on, by hand. The year's cohort: alder's C11–C25
    // and D01 (16), birch's B3 (1), cedar's 12; the quarter's: D01 alone. Withdrawals in
    // the year: alder's A03 C05 C14 C17 C25 (5), birch's B2 (1).
    let live = live_funnel(&app, &manager, YEAR, &DEMO, &["AUTHORITY"]).await;
    let size = |g: &Value| shown_count(&g["cohort"]["size"], "size");
    assert_eq!(size(&live["total"]), 29);
    assert_eq!(size(group(&live, "authority", "alder")), 16);
    assert_eq!(size(group(&live, "authority", "birch")), 1);
    assert_eq!(size(group(&live, "authority", "cedar")), 12);
    let withdrawn = |g: &Value| shown_count(&cells(g)["stage/WITHDRAWN"], "withdrawn");
    assert_eq!(withdrawn(group(&live, "authority", "alder")), 5);
    assert_eq!(withdrawn(&live["total"]), 6);
    let live = live_funnel(&app, &manager, QUARTER, &DEMO, &[]).await;
    assert_eq!(size(&live["total"]), 1);

    let mut tally = Tally::default();
    // Every figure by `period scope figure`, with the answer it was first seen in.
    let mut seen: BTreeMap<String, (Value, String)> = BTreeMap::new();
    let mut compared = 0;
    for period in [YEAR, QUARTER] {
        for (codes, group_by) in ASKED {
            let what = format!("{}..{} {codes:?} by {group_by:?}", period.0, period.1);
            let f = analyst_funnel(&app, &ba, period, codes, group_by).await;
            assert_no_personal_data(&f, &ids);
            let named = codes.unwrap_or(&DEMO);
            assert_eq!(strings_of(&f["authorities"], "code"), named, "{what}");
            let live = live_funnel(&app, &manager, period, named, group_by).await;
            assert!(f["total"]["authority"].is_null() && f["total"]["channel"].is_null());
            // The CSV export of the same holds the same figures.
            let csv = funnel_csv(&app, &ba, (period, Some(AS_OF), codes, group_by)).await;
            assert_eq!(
                csv,
                csv_of_answer(&f),
                "{what}: the CSV and the answer differ"
            );
            // The groups: each authority named, or every channel, whatever the data.
            let want: Vec<String> = match group_by {
                [] => Vec::new(),
                ["AUTHORITY"] => named.iter().map(|c| c.to_string()).collect(),
                _ => channels.clone(),
            };
            let got: Vec<String> = f["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .map(|g| {
                    let key = g["authority"]["code"].as_str().or(g["channel"].as_str());
                    key.expect("a group's authority or channel").to_owned()
                })
                .collect();
            assert_eq!(got, want, "{what}");

            let mut groups = vec![(&f["total"], Some(&live["total"]), "total".to_owned())];
            for (g, key) in f["groups"].as_array().unwrap().iter().zip(&got) {
                groups.push((g, group_of(&live, key), key.clone()));
            }
            for (g, as_it_is, name) in groups {
                let what = format!("{what}, {name}");
                assert_published_layout(g, &reasons, &what);
                assert_published_group(g, as_it_is, &what, &mut tally);
                let scope = scope_of(g, named);
                for (figure, v) in figures(g) {
                    let key = format!("{}..{} {scope} {figure}", period.0, period.1);
                    if let Some((before, first)) = seen.get(&key) {
                        assert_eq!(&v, before, "{key}: {first} and {what} differ");
                        compared += 1;
                    } else {
                        seen.insert(key, (v, what.clone()));
                    }
                }
            }
        }
    }
    // The same cell is shown or withheld alike in every answer: alder's group of the
    // consortium by authority is alder alone, figure for figure.
    assert!(compared > 0);
    for period in [YEAR, QUARTER] {
        let by_authority = analyst_funnel(&app, &ba, period, None, &["AUTHORITY"]).await;
        let alone = analyst_funnel(&app, &ba, period, Some(&["alder"]), &[]).await;
        assert_eq!(
            figures(group(&by_authority, "authority", "alder")),
            figures(&alone["total"])
        );
    }

    // Small counts by hand: birch's one cohort household of the year, the quarter's one
    // (D01) for the consortium and for alder, alder's 5 withdrawals of the year.
    for (period, scope, figure) in [
        (YEAR, "authority:birch", "size"),
        (YEAR, "authority:alder", "stage/WITHDRAWN"),
        (QUARTER, "all", "size"),
        (QUARTER, "authority:alder", "size"),
    ] {
        let key = format!("{}..{} {scope} {figure}", period.0, period.1);
        assert_eq!(seen[&key].0, withheld_figure(), "{key}");
    }
    // Not vacuous: small counts were withheld, and counts (zeros and others), rates and
    // means shown.
    assert!(tally.withheld_small > 0, "{tally:?}");
    assert!(tally.shown_zero > 0 && tally.shown_other > 0, "{tally:?}");
    assert!(
        tally.rates_shown > 0 && tally.rates_withheld > 0,
        "{tally:?}"
    );
    assert!(tally.means_shown > 0, "{tally:?}");
}

/// The tables by authority and by channel, in the year and in the quarter: every figure of
/// a group or of the whole is the true one or withheld (1–5 always), the groups add up to
/// the whole as they are, and along every such column a withheld figure never stands alone
/// beside shown ones (it would be the whole less the others).
async fn a_breakdown_by_authority_suppresses_cells_in_pairs(app: TestApp) {
    let ids = build_and_publish(&app, FIXTURE).await;
    let ba = board_analyst(&app);
    let manager = manager_of_all(&app);
    let mut problems = Vec::new();
    let (mut columns, mut with_withheld) = (0, 0);
    for period in [YEAR, QUARTER] {
        for by in ["AUTHORITY", "CHANNEL"] {
            let what = format!("{}..{} by {by}", period.0, period.1);
            let f = analyst_funnel(&app, &ba, period, None, &[by]).await;
            assert_no_personal_data(&f, &ids);
            let live = live_funnel(&app, &manager, period, &DEMO, &[by]).await;
            // (name, the analyst's cells, the cells as they are), the whole last.
            let mut rows: Vec<(String, Cells, Cells)> = Vec::new();
            for g in f["groups"].as_array().expect("groups") {
                let key = g["authority"]["code"].as_str().or(g["channel"].as_str());
                let key = key.expect("an authority or a channel");
                let as_it_is = group_of(&live, key).map(cells).unwrap_or_default();
                rows.push((key.to_owned(), cells(g), as_it_is));
            }
            assert!(rows.len() >= DEMO.len(), "{what}: {rows:?}");
            rows.push(("whole".into(), cells(&f["total"]), cells(&live["total"])));
            for key in rows[rows.len() - 1].1.keys() {
                let mut withheld_here = Vec::new();
                let mut sum = 0;
                for (i, (name, got, as_it_is)) in rows.iter().enumerate() {
                    let v = &got[key];
                    let n = live_count(as_it_is, key);
                    if i + 1 < rows.len() {
                        sum += n;
                    } else {
                        assert_eq!(sum, n, "{what}: {key} of the groups as they are");
                    }
                    if withheld(v) {
                        assert_eq!(v, &withheld_figure(), "{what}: {name} {key}");
                        withheld_here.push((name.clone(), n));
                    } else {
                        assert!(!small(n), "{what}: {name} {key} = {n} is shown");
                        assert_eq!(v, &shown(n), "{what}: {name} {key} is {n}");
                    }
                }
                columns += 1;
                if !withheld_here.is_empty() {
                    with_withheld += 1;
                }
                // A count of 0 or over 5 given back this way discloses nothing the rule
                // protects (a secondary suppression that is of no use); a small one would.
                if let [(alone, n)] = &withheld_here[..]
                    && small(*n)
                {
                    problems.push(format!("{what}: {key}: {alone} ({n}) alone is withheld"));
                }
            }
        }
    }
    // By hand: birch's one household of the year's cohort (B3) beside alder's 16 (17 in
    // all) is withheld, and alder's or the consortium's with it; the quarter's only one
    // (D01) is withheld for alder and for the consortium.
    let f = analyst_funnel(&app, &ba, YEAR, None, &["AUTHORITY"]).await;
    let size = |g: &Value| g["cohort"]["size"].clone();
    assert_eq!(size(group(&f, "authority", "birch")), withheld_figure());
    assert!(
        withheld(&size(group(&f, "authority", "alder"))) || withheld(&size(&f["total"])),
        "birch's 1 is the whole less alder's: {f:#}"
    );
    let f = analyst_funnel(&app, &ba, QUARTER, None, &["AUTHORITY"]).await;
    assert_eq!(size(group(&f, "authority", "alder")), withheld_figure());
    assert_eq!(size(&f["total"]), withheld_figure());

    assert!(
        with_withheld > 0 && columns > with_withheld,
        "{columns} {with_withheld}"
    );
    assert!(
        problems.is_empty(),
        "withheld figures can be worked out:\n{}",
        problems.join("\n")
    );
}

/// The counts of published answers by `period scope figure`: as the board analyst sees
/// each, and as it is. A step's count within its target is in too (`step/S/within`), shown
/// where its rate is (the rate and the step's count give it back).
type Book = BTreeMap<String, (Value, u64)>;

fn period_key(period: (&str, &str)) -> String {
    format!("{}..{}", period.0, period.1)
}

/// Enters a published group (`scope`) and the same group as it is in the book.
fn enter(book: &mut Book, period: (&str, &str), scope: &str, g: &Value, live: Option<&Value>) {
    let live_cells = live.map(cells).unwrap_or_default();
    let mut entries: Vec<(String, Value, u64)> = cells(g)
        .into_iter()
        .map(|(figure, v)| {
            let n = live_count(&live_cells, &figure);
            (figure, v, n)
        })
        .collect();
    for t in g["timeliness"].as_array().expect("timeliness") {
        if t["targetMonths"].is_null() {
            continue;
        }
        let name = t["step"].as_str().unwrap();
        let v = match (
            t["count"]["value"].as_u64(),
            t["withinTarget"]["value"].as_f64(),
        ) {
            (Some(0), _) => shown(0),
            (Some(n), Some(percent)) => shown((percent * n as f64 / 100.0).round() as u64),
            _ => withheld_figure(),
        };
        let n = live.map_or(0, |l| within_count(step(l, name)));
        entries.push((format!("step/{name}/within"), v, n));
    }
    for (figure, v, n) in entries {
        let key = format!("{} {scope} {figure}", period_key(period));
        if let Some(before) = book.insert(key.clone(), (v.clone(), n)) {
            assert_eq!(before, (v, n), "{key} differs between answers");
        }
    }
}

/// A line along which published counts add up: Σ coefficient × count is 0, or (`hidden`)
/// a count that no table shows but the line implies.
struct Line {
    name: String,
    terms: Vec<(String, i64)>,
    hidden: bool,
}

/// The lines of the publication's funnel over the counts of `book`: within each group of
/// each period, the groups of each breakdown to the whole, and the year to its quarter.
fn funnel_lines(book: &Book, scopes: &[String]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut line = |name: String, terms: Vec<(String, i64)>, hidden: bool| {
        lines.push(Line {
            name,
            terms,
            hidden,
        })
    };
    let stages: Vec<&str> = COHORT_STAGES.iter().map(|s| s.0).collect();
    let in_group = |prefix: &str| -> Vec<String> {
        book.keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    };
    for period in [YEAR, QUARTER] {
        let p = period_key(period);
        for scope in scopes {
            let at = |figure: &str| format!("{p} {scope} {figure}");
            let name = |what: &str| format!("{p} {scope}: {what}");
            // The cohort is approved + left before approval + in progress.
            line(
                name("cohort"),
                vec![
                    (at("size"), 1),
                    (at("approved"), -1),
                    (at("leftBeforeApproval"), -1),
                    (at("inProgress"), -1),
                ],
                false,
            );
            // Those who left before approval, by the last stage they reached.
            let mut terms = vec![(at("leftBeforeApproval"), 1)];
            terms.extend(stages.iter().map(|s| (at(&format!("leftAfter/{s}")), -1)));
            line(name("left after"), terms, false);
            // Each eligible population is the cohort figure it is defined by.
            for (i, stage) in stages.iter().enumerate() {
                let mut terms = vec![(at(&format!("eligible/{stage}")), 1)];
                match *stage {
                    "ENQUIRY" | "INFORMATION_EVENT" => terms.push((at("size"), -1)),
                    "STAGE_ONE_STARTED" => terms.extend([(at("size"), -1), (at("fastTrack"), 1)]),
                    "STAGE_ONE_COMPLETED" => terms.push((at("reached/STAGE_ONE_STARTED"), -1)),
                    "STAGE_TWO_STARTED" => terms.extend([
                        (at("reached/STAGE_ONE_COMPLETED"), -1),
                        (at("fastTrack"), -1),
                    ]),
                    "STAGE_TWO_COMPLETED" => terms.push((at("reached/STAGE_TWO_STARTED"), -1)),
                    _ => terms.push((at(&format!("reached/{}", stages[i - 1])), -1)),
                }
                line(name(&format!("eligible {stage}")), terms, false);
                // Hidden: the rest of each rate's base.
                for base in [format!("eligible/{stage}"), "size".to_owned()] {
                    line(
                        name(&format!("{base} not reaching {stage}")),
                        vec![(at(&base), 1), (at(&format!("reached/{stage}")), -1)],
                        true,
                    );
                }
            }
            line(
                name("not fast track"),
                vec![(at("size"), 1), (at("fastTrack"), -1)],
                true,
            );
            line(
                name("in progress, not on hold"),
                vec![(at("inProgress"), 1), (at("onHold"), -1)],
                true,
            );
            // Hidden: the households approved and gone since (the exits less those who
            // left before approval), and the approved who stayed.
            let exits: Vec<(String, i64)> = in_group(&format!("{p} {scope} "))
                .into_iter()
                .filter(|f| f.starts_with("exit/"))
                .map(|f| (at(&f), 1))
                .collect();
            assert!(!exits.is_empty());
            let mut terms = exits.clone();
            terms.push((at("leftBeforeApproval"), -1));
            line(name("approved then gone"), terms, true);
            let mut terms: Vec<(String, i64)> =
                exits.iter().map(|(k, _)| (k.clone(), -1)).collect();
            terms.extend([(at("leftBeforeApproval"), 1), (at("approved"), 1)]);
            line(name("approved and staying"), terms, true);
            // Hidden: the steps' cases over their target.
            for x in STEPS.iter().filter(|x| x.target.is_some()) {
                line(
                    name(&format!("{} over target", x.step)),
                    vec![
                        (at(&format!("step/{}", x.step)), 1),
                        (at(&format!("step/{}/within", x.step)), -1),
                    ],
                    true,
                );
            }
        }
        // The authorities, and the channels, add up to the consortium.
        for figure in in_group(&format!("{p} all ")) {
            for kind in ["authority:", "channel:"] {
                let mut terms = vec![(format!("{p} all {figure}"), 1)];
                terms.extend(
                    scopes
                        .iter()
                        .filter(|s| s.starts_with(kind))
                        .map(|s| (format!("{p} {s} {figure}"), -1)),
                );
                line(format!("{p} {figure}: the {kind} groups"), terms, false);
            }
        }
    }
    // Hidden: the year's figures before its last quarter.
    let (year, quarter) = (period_key(YEAR), period_key(QUARTER));
    for key in book.keys() {
        if let Some(rest) = key.strip_prefix(&format!("{year} ")) {
            line(
                format!("{rest}: the year before its last quarter"),
                vec![(key.clone(), 1), (format!("{quarter} {rest}"), -1)],
                true,
            );
        }
    }
    lines
}

/// Whether a line gives a withheld count back: its only withheld count (the others
/// shown), or its hidden count pinned to 1–5 by shown figures. Checks first that the line
/// holds as the figures are. `None` when it gives nothing back; else what it gives.
fn gives_back(book: &Book, line: &Line) -> Option<String> {
    let mut unknown = Vec::new();
    let mut as_it_is = 0i64;
    for (key, k) in &line.terms {
        let (v, n) = book
            .get(key)
            .unwrap_or_else(|| panic!("{}: {key} is not published", line.name));
        as_it_is += k * *n as i64;
        if withheld(v) {
            unknown.push((key.as_str(), *n));
        }
    }
    if line.hidden {
        assert!(as_it_is >= 0, "{}: {as_it_is}", line.name);
        (unknown.is_empty() && small(as_it_is as u64))
            .then(|| format!("{}: the hidden {as_it_is} is worked out", line.name))
    } else {
        assert_eq!(as_it_is, 0, "{} does not add up", line.name);
        // A count of 0 or over 5 given back discloses nothing the rule protects (a
        // secondary suppression of no use); a small one would.
        match &unknown[..] {
            [(only, n)] if small(*n) => {
                Some(format!("{}: {only} ({n}) alone is withheld", line.name))
            }
            _ => None,
        }
    }
}

/// Nothing a board analyst is shown gives a withheld count back, along any line of the
/// published funnel (the differencing the per-query scheme allowed): the consortium less
/// its other authorities (or channels), a cohort less its parts, those who left before
/// approval less the stages they left after, an eligible population as the cohort figure
/// it is, a rate times its base; nor does it pin a count the publication hides (the rest
/// of a rate's base, the households approved then gone, the year before its quarter).
async fn a_breakdown_by_authority_gives_no_withheld_count_back(app: TestApp) {
    build_and_publish(&app, FIXTURE).await;
    let ba = board_analyst(&app);
    let manager = manager_of_all(&app);
    let channels = enum_values(&app, &ba, "EnquiryChannel").await;
    let scopes: Vec<String> = std::iter::once("all".to_owned())
        .chain(DEMO.iter().map(|c| format!("authority:{c}")))
        .chain(channels.iter().map(|c| format!("channel:{c}")))
        .collect();
    let mut book = Book::new();
    let mut problems = Vec::new();
    for period in [YEAR, QUARTER] {
        for by in ["AUTHORITY", "CHANNEL"] {
            let f = analyst_funnel(&app, &ba, period, None, &[by]).await;
            let live = live_funnel(&app, &manager, period, &DEMO, &[by]).await;
            enter(&mut book, period, "all", &f["total"], Some(&live["total"]));
            for g in f["groups"].as_array().expect("groups") {
                let scope = scope_of(g, &DEMO);
                let key = scope.split_once(':').expect("a group").1;
                enter(&mut book, period, &scope, g, group_of(&live, key));
            }
            // A shown rate times its shown base gives its numerator back.
            for g in std::iter::once(&f["total"]).chain(f["groups"].as_array().unwrap()) {
                let c = cells(g);
                for s in g["cohort"]["stages"].as_array().unwrap() {
                    let stage = s["stage"].as_str().unwrap();
                    if !withheld(&c[&format!("reached/{stage}")]) {
                        continue;
                    }
                    for (rate, base) in [
                        ("fromPrevious", &s["eligible"]),
                        ("fromEnquiry", &c["size"]),
                    ] {
                        if !s[rate]["value"].is_null() && !withheld(base) {
                            problems.push(format!(
                                "{} {}: reached {stage} withheld, but {rate} {} × its base {} \
                                 gives it",
                                period_key(period),
                                scope_of(g, &DEMO),
                                s[rate]["value"],
                                base["value"]
                            ));
                        }
                    }
                }
            }
        }
    }
    // Every group of the breakdowns is in the book.
    for period in [YEAR, QUARTER] {
        for scope in &scopes {
            let key = format!("{} {scope} size", period_key(period));
            assert!(book.contains_key(&key), "{key}");
        }
    }
    let lines = funnel_lines(&book, &scopes);
    let mut with_withheld = 0;
    for line in &lines {
        if line.terms.iter().any(|(k, _)| withheld(&book[k].0)) {
            with_withheld += 1;
        }
        problems.extend(gives_back(&book, line));
    }
    assert!(with_withheld > 0, "no line has a withheld count");
    // By hand, a hidden count that is small: C25, enquired in the year, approved on
    // 2024-12-15 and withdrawn on 2025-02-01, is alder's one household approved then gone.
    let alder = |figure: &str| book[&format!("{} authority:alder {figure}", period_key(YEAR))].1;
    let exits: u64 = book
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{} authority:alder exit/", period_key(YEAR))))
        .map(|(_, (_, n))| n)
        .sum();
    assert_eq!(exits - alder("leftBeforeApproval"), 1);
    assert!(
        problems.is_empty(),
        "withheld figures can be worked out:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 3. Access and audit
// ---------------------------------------------------------------------------------------

/// A small fixture: two alder households and one birch household, all enquiring in 2024.
#[rustfmt::skip]
const SMALL: &[Fx] = &[
    ("S1", "alder", "WEBSITE", "2024-03-01", false, &[]),
    ("S2", "alder", "CAMPAIGN", "2024-05-01", false, &[(S1S, "2024-06-01", "")]),
    ("S3", "birch", "WEBSITE", "2024-04-01", false, &[]),
];

async fn funnel_access_and_audit(app: TestApp) {
    let ids = build_and_publish(&app, SMALL).await;
    let alder = app.authority_id("alder");
    let birch = app.authority_id("birch");
    // Each run audited: (subject, from, to, asOf, groupBy, suppressed); the audit names
    // the breakdowns its own way, so only how many is compared.
    let mut runs: Vec<Value> = Vec::new();

    // Staff of alder with the reports capability see alder as it is, over any period:
    // 2 (a count of 1–5) is shown.
    for role in ["RECRUITMENT_OFFICER", "DECISION_MAKER", "MANAGER"] {
        let token = app.role("alder", role);
        let f = funnel(&app, &token, &["alder"], &[]).await;
        assert_eq!(f["suppressionApplied"], json!(false), "{role}");
        assert_eq!(f["total"]["cohort"]["size"], shown(2), "{role}");
        assert_eq!(
            cohort_stage(&f["total"], "STAGE_ONE_STARTED")["reached"],
            shown(1),
            "{role}"
        );
        let subject = format!("{role}-alder").to_lowercase();
        runs.push(json!([subject, FROM, TO, AS_OF, 0, false]));
    }

    let q = |ids: Value| json!({ "period": { "from": FROM, "to": TO }, "asOf": AS_OF, "ids": ids, "groupBy": [] });
    // Another authority, or a mix with one: FORBIDDEN.
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    for named in [json!([birch]), json!([alder, birch])] {
        let body = app.gql(Some(&ro), FUNNEL, q(named.clone())).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "{named}: {body}"
        );
        assert!(body["data"].is_null() || body["data"]["recruitmentFunnel"].is_null());
    }
    // Roles without the reports capability: FORBIDDEN, named or not.
    for role in ["SOCIAL_WORKER", "FAMILY_FINDER"] {
        let token = app.role("alder", role);
        for named in [json!([alder]), Value::Null] {
            let body = app.gql(Some(&token), FUNNEL, q(named)).await;
            assert_eq!(
                error_code(&body).as_deref(),
                Some("FORBIDDEN"),
                "{role}: {body}"
            );
        }
    }
    // Another consortium naming alder: as if alder did not exist.
    let other = app.token_with(
        "other-ro",
        "other",
        &[("oak", &["RECRUITMENT_OFFICER"])],
        &[],
    );
    let body = app.gql(Some(&other), FUNNEL, q(json!([alder]))).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body}");
    assert!(!body.to_string().contains("alder"), "{body}");

    // Bad input.
    for (period, as_of, field) in [
        (
            json!({ "from": "2024-12-31", "to": "2024-01-01" }),
            AS_OF,
            "period",
        ),
        (json!({ "from": FROM, "to": TO }), "2999-01-01", "asOf"),
        (json!({ "from": FROM, "to": TO }), "2023-12-31", "asOf"),
    ] {
        let vars = json!({ "period": period, "asOf": as_of, "ids": [alder], "groupBy": [] });
        let body = app.gql(Some(&ro), FUNNEL, vars).await;
        assert_refusal(&body, "BAD_USER_INPUT", Some(field));
    }

    // A board analyst's runs are audited too, for the publication's period and quarter
    // end (also when asOf is left out); a run it is refused (the calendar year is not
    // published) is not.
    let ba = board_analyst(&app);
    let f = analyst_funnel(&app, &ba, YEAR, None, &["CHANNEL"]).await;
    assert_no_personal_data(&f, &ids);
    runs.push(json!(["ba", YEAR.0, YEAR.1, AS_OF, 1, true]));
    let vars = vars_of(&app, QUARTER, None, Some(&["alder"]), &[]);
    let body = app.gql(Some(&ba), FUNNEL, vars).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["recruitmentFunnel"]["asOf"], json!(AS_OF));
    runs.push(json!(["ba", QUARTER.0, QUARTER.1, AS_OF, 0, true]));
    let body = app.gql(Some(&ba), FUNNEL, q(Value::Null)).await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("period"));

    // Every run is one SEARCH on RecruitmentFunnel, without personal data.
    app.flush_audit().await;
    let admin = app.token_with("admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    let data = app
        .ok(
            &admin,
            r#"query($f: AuditFilterInput) { auditLog(filter: $f, first: 100) {
                 totalCount nodes { subject action entityType entityId detail owningAuthority { code } } } }"#,
            json!({ "f": { "entityType": "RecruitmentFunnel", "action": "SEARCH" } }),
        )
        .await;
    let nodes = data["auditLog"]["nodes"].as_array().unwrap();
    let mut audited = Vec::new();
    for n in nodes {
        assert_eq!(n["action"], json!("SEARCH"));
        assert_eq!(n["entityType"], json!("RecruitmentFunnel"));
        assert!(n["entityId"].is_null(), "{n}");
        let detail = &n["detail"];
        let detail = match detail {
            Value::String(s) => serde_json::from_str(s).unwrap_or(detail.clone()),
            _ => detail.clone(),
        };
        assert_no_personal_data(&detail, &ids);
        let breakdowns = detail["groupBy"].as_array().map(Vec::len);
        audited.push(json!([
            n["subject"],
            detail["from"],
            detail["to"],
            detail["asOf"],
            breakdowns,
            detail["suppressed"]
        ]));
    }
    let mut want = runs;
    audited.sort_by_key(Value::to_string);
    want.sort_by_key(Value::to_string);
    assert_eq!(audited, want, "{data:#}");
}

// ---------------------------------------------------------------------------------------
// 4. Adopter tracking alerts
// ---------------------------------------------------------------------------------------

/// The alerts fixture, read as of 2025-01-15 (X) unless said otherwise. "limit" is the
/// stage's first date plus its timescale in calendar months; an alert fires from the day
/// after, with daysOverdue = X − limit.
#[rustfmt::skip]
const ALERTS: &[Fx] = &[
    // Stage One from 2024-01-31: limit 2024-03-31 (2 months, clamped). None on 2024-03-31,
    // 1 day on 2024-04-01; at X: 2024-03-31 → 2025-01-15 = 290.
    ("L01", "alder", "WEBSITE", "2024-01-01", false, &[(S1S, "2024-01-31", "")]),
    // Approved 2024-03-10: limit 2024-06-10; at X 219 (20+31+31+30+31+30+31+15).
    ("L02", "alder", "REFERRAL", "2024-01-02", true, &[(S2S, "2024-01-10", ""), (S2C, "2024-02-20", ""), (PANEL, "2024-03-01", ""), (APPROVED, "2024-03-10", "")]),
    // Withdrawn in Stage One: never an alert.
    ("L03", "alder", "WEBSITE", "2024-02-01", false, &[(S1S, "2024-03-01", ""), (WITHDRAWN, "2024-05-01", "NOT_READY")]),
    // Stage One from 2024-06-01: limit 2024-08-01; at X 167 (30+30+31+30+31+15).
    ("L04", "alder", "WEBSITE", "2024-05-01", false, &[(S1S, "2024-06-01", "")]),
    // Stage Two from 2024-05-20: limit 2024-09-20; at X 117 (10+31+30+31+15).
    ("L05", "alder", "REFERRAL", "2024-05-01", true, &[(S2S, "2024-05-20", "")]),
    // Stage One from 2024-08-01, on hold: limit 2024-10-01; at X 106 (30+30+31+15), on hold.
    ("L06", "alder", "WEBSITE", "2024-07-01", false, &[(S1S, "2024-08-01", ""), (ON_HOLD, "2024-08-15", "")]),
    // Stage One from 2024-10-01, completed only after X: limit 2024-12-01; at X 45.
    ("L07", "alder", "WEBSITE", "2024-09-01", false, &[(S1S, "2024-10-01", ""), (S1C, "2025-03-01", "")]),
    // Stage One from 2024-10-10, withdraws only after X: limit 2024-12-10; at X 36.
    ("L08", "alder", "WEBSITE", "2024-09-15", false, &[(S1S, "2024-10-10", ""), (WITHDRAWN, "2025-02-01", "OTHER")]),
    // Stage One 2 months + 1 day at X (limit 2025-01-14): 1.
    ("L09", "alder", "WEBSITE", "2024-10-01", false, &[(S1S, "2024-11-14", "")]),
    // Stage One exactly 2 months at X (limit 2025-01-15): none.
    ("L10", "alder", "WEBSITE", "2024-10-01", false, &[(S1S, "2024-11-15", "")]),
    // Stage Two 4 months + 1 day at X: 1.
    ("L11", "alder", "REFERRAL", "2024-08-01", true, &[(S2S, "2024-09-14", "")]),
    // Stage Two exactly 4 months at X: none.
    ("L12", "alder", "REFERRAL", "2024-08-01", true, &[(S2S, "2024-09-15", "")]),
    // Stage One completed 6 months + 1 day before X: 1.
    ("L13", "alder", "WEBSITE", "2024-05-01", false, &[(S1S, "2024-05-15", ""), (S1C, "2024-07-14", "")]),
    // Stage One completed exactly 6 months before X: none.
    ("L14", "alder", "WEBSITE", "2024-05-01", false, &[(S1S, "2024-05-15", ""), (S1C, "2024-07-15", "")]),
    // Approved 3 months + 1 day before X: 1.
    ("L15", "alder", "REFERRAL", "2024-06-01", true, &[(S2S, "2024-06-10", ""), (S2C, "2024-09-01", ""), (PANEL, "2024-10-01", ""), (APPROVED, "2024-10-14", "")]),
    // Approved exactly 3 months before X: none.
    ("L16", "alder", "REFERRAL", "2024-06-01", true, &[(S2S, "2024-06-10", ""), (S2C, "2024-09-01", ""), (PANEL, "2024-10-01", ""), (APPROVED, "2024-10-15", "")]),
    // birch, in Stage One since 2024-06-01: past its timescale, but not alder's.
    ("M01", "birch", "WEBSITE", "2024-05-01", false, &[(S1S, "2024-06-01", "")]),
];

const ALERTS_QUERY: &str = r#"
query($asOf: Date, $kinds: [AdopterAlertKind!], $ids: [ID!], $first: Int, $after: String) {
  adopterAlerts(asOf: $asOf, kinds: $kinds, authorityIds: $ids, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      kind since daysOverdue onHold
      household { __typename id applicantOneName address stage authority { code } }
    }
  }
}"#;

/// (label, kind, since, daysOverdue, onHold) of each alert, in order.
type AlertRow = (String, String, String, i64, bool);

async fn alerts(
    app: &TestApp,
    token: &str,
    ids: &BTreeMap<&str, String>,
    vars: Value,
) -> (Vec<AlertRow>, Value) {
    let data = app.ok(token, ALERTS_QUERY, vars).await;
    let conn = data["adopterAlerts"].clone();
    let by_id: BTreeMap<&String, &str> = ids.iter().map(|(l, id)| (id, *l)).collect();
    let rows = conn["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let id = n["household"]["id"].as_str().unwrap().to_owned();
            (
                by_id.get(&id).map(|l| l.to_string()).unwrap_or(id),
                n["kind"].as_str().unwrap().to_owned(),
                n["since"].as_str().unwrap().to_owned(),
                n["daysOverdue"].as_i64().unwrap(),
                n["onHold"].as_bool().unwrap(),
            )
        })
        .collect();
    (rows, conn)
}

fn row(label: &str, kind: &str, since: &str, days: i64, on_hold: bool) -> AlertRow {
    (label.into(), kind.into(), since.into(), days, on_hold)
}

async fn adopter_alerts_fire_the_day_after_each_timescale(app: TestApp) {
    let ids = build(&app, ALERTS).await;
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    const S1: &str = "STAGE_ONE_OVER_TWO_MONTHS";
    const GAP: &str = "GAP_OVER_SIX_MONTHS";
    const S2: &str = "STAGE_TWO_OVER_FOUR_MONTHS";
    const APP: &str = "APPROVED_UNMATCHED_OVER_THREE_MONTHS";

    // Stage One from 2024-01-31: 2 months end on 2024-03-31 (no alert), overdue from
    // 2024-04-01 by 1 day. (As of those dates L02 is approved under 3 months and L03 in
    // Stage One for a month; the others have not enquired yet.)
    let (rows, _) = alerts(&app, &ro, &ids, json!({ "asOf": "2024-03-31" })).await;
    assert_eq!(rows, vec![]);
    let (rows, conn) = alerts(&app, &ro, &ids, json!({ "asOf": "2024-04-01" })).await;
    assert_eq!(rows, vec![row("L01", S1, "2024-01-31", 1, false)]);
    // The household is the full record of the officer's own authority.
    let h = &conn["nodes"][0]["household"];
    assert_eq!(h["__typename"], json!("Household"));
    assert_eq!(h["id"], json!(ids["L01"]));
    assert_eq!(h["applicantOneName"], json!("Ada L01 Fixture"));
    assert_eq!(h["address"], json!("L01 Fixture Lane"));
    assert_eq!(h["authority"]["code"], json!("alder"));

    // As of X = 2025-01-15, most overdue first, ties by household: the exact-timescale
    // households (L10 L12 L14 L16) and the withdrawn L03 are not listed; L07 and L08 are
    // (their later events come after X); birch's M01 is not alder's.
    let x = json!({ "asOf": "2025-01-15" });
    let expected = vec![
        row("L01", S1, "2024-01-31", 290, false),
        row("L02", APP, "2024-03-10", 219, false),
        row("L04", S1, "2024-06-01", 167, false),
        row("L05", S2, "2024-05-20", 117, false),
        row("L06", S1, "2024-08-01", 106, true),
        row("L07", S1, "2024-10-01", 45, false),
        row("L08", S1, "2024-10-10", 36, false),
        row("L09", S1, "2024-11-14", 1, false),
        row("L11", S2, "2024-09-14", 1, false),
        row("L13", GAP, "2024-07-14", 1, false),
        row("L15", APP, "2024-10-14", 1, false),
    ];
    let (rows, conn) = alerts(&app, &ro, &ids, x.clone()).await;
    assert_eq!(rows, expected);
    assert_eq!(conn["totalCount"], json!(11));
    for n in conn["nodes"].as_array().unwrap() {
        assert_eq!(n["household"]["authority"]["code"], json!("alder"));
    }
    // Naming alder gives the same; decision makers and managers of alder see the same.
    let named = json!({ "asOf": "2025-01-15", "ids": [app.authority_id("alder")] });
    assert_eq!(alerts(&app, &ro, &ids, named).await.0, expected);
    for role in ["DECISION_MAKER", "MANAGER"] {
        let token = app.role("alder", role);
        assert_eq!(
            alerts(&app, &token, &ids, x.clone()).await.0,
            expected,
            "{role}"
        );
    }

    // Pages of 4.
    let (rows, conn) = alerts(&app, &ro, &ids, json!({ "asOf": "2025-01-15", "first": 4 })).await;
    assert_eq!(rows, expected[..4].to_vec());
    assert_eq!(conn["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(conn["totalCount"], json!(11));
    let cursor = conn["pageInfo"]["endCursor"].clone();
    let (rows, _) = alerts(
        &app,
        &ro,
        &ids,
        json!({ "asOf": "2025-01-15", "first": 4, "after": cursor }),
    )
    .await;
    assert_eq!(rows, expected[4..8].to_vec());

    // The kinds filter.
    let (rows, conn) = alerts(
        &app,
        &ro,
        &ids,
        json!({ "asOf": "2025-01-15", "kinds": [APP] }),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            row("L02", APP, "2024-03-10", 219, false),
            row("L15", APP, "2024-10-14", 1, false)
        ]
    );
    assert_eq!(conn["totalCount"], json!(2));
    let (rows, _) = alerts(
        &app,
        &ro,
        &ids,
        json!({ "asOf": "2025-01-15", "kinds": [GAP, S2] }),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            row("L05", S2, "2024-05-20", 117, false),
            row("L11", S2, "2024-09-14", 1, false),
            row("L13", GAP, "2024-07-14", 1, false),
        ]
    );

    // birch's officer sees birch's household only: 2024-08-01 → X = 167.
    let birch_ro = app.role("birch", "RECRUITMENT_OFFICER");
    let (rows, _) = alerts(&app, &birch_ro, &ids, x.clone()).await;
    assert_eq!(rows, vec![row("M01", S1, "2024-06-01", 167, false)]);

    // Records, so never someone else's: birch named by alder, board analysts and staff
    // without the reports capability are refused.
    let body = app
        .gql(
            Some(&ro),
            ALERTS_QUERY,
            json!({ "asOf": "2025-01-15", "ids": [app.authority_id("birch")] }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body}");
    assert!(!body.to_string().contains("Fixture"), "{body}");
    for token in [board_analyst(&app), app.role("alder", "SOCIAL_WORKER")] {
        let body = app.gql(Some(&token), ALERTS_QUERY, x.clone()).await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body}");
    }
    // asOf in the future.
    let body = app
        .gql(Some(&ro), ALERTS_QUERY, json!({ "asOf": "2999-01-01" }))
        .await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("asOf"));
}

both_backends!(funnel_periods_and_breakdowns_are_bounded);

/// The funnel's period is bounded like every report's, and a breakdown by enquiry month to
/// 60 calendar months: over the bound is `BAD_USER_INPUT` naming the field before anything
/// runs, for every reader; at the bound it answers. A breakdown named twice is refused.
///
/// A board analyst is answered from a publication only: at a quarter end published (or
/// the latest offering the period), for its quarter or its financial year, for the
/// consortium or one authority, in total, by AUTHORITY or by CHANNEL (the consortium's
/// only). Anything else is `BAD_USER_INPUT` naming the field and what may be asked, and
/// changes nothing.
async fn funnel_periods_and_breakdowns_are_bounded(app: TestApp) {
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let ba = board_analyst(&app);
    let vars = |from: &str, to: &str, group_by: &[&str]| {
        json!({ "period": { "from": from, "to": to }, "asOf": "2025-03-31", "ids": null,
                "groupBy": group_by })
    };
    for token in [&ro, &ba] {
        for (from, to, group_by, field, words) in [
            (
                "0001-04-01",
                "9999-03-31",
                &[][..],
                "period.from",
                "1900-01-01",
            ),
            (
                "2014-01-01",
                "2024-12-31",
                &[],
                "period",
                "at most 10 years",
            ),
            (
                "2019-12-31",
                "2024-12-31",
                &["ENQUIRY_MONTH"],
                "period",
                "at most 60 calendar months",
            ),
            (
                "2024-01-01",
                "2024-12-31",
                &["CHANNEL", "CHANNEL"],
                "groupBy",
                "at most once",
            ),
        ] {
            let body = app.gql(Some(token), FUNNEL, vars(from, to, group_by)).await;
            assert_refusal(&body, "BAD_USER_INPUT", Some(field));
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(words), "{message}");
        }
    }

    // At the bounds: ten years; sixty months by enquiry month.
    let ten = app
        .ok(&ro, FUNNEL, vars("2015-01-01", "2024-12-31", &[]))
        .await;
    assert_eq!(ten["recruitmentFunnel"]["from"], "2015-01-01");
    let sixty = app
        .ok(
            &ro,
            FUNNEL,
            vars("2020-01-01", "2024-12-31", &["ENQUIRY_MONTH"]),
        )
        .await;
    assert_eq!(sixty["recruitmentFunnel"]["to"], "2024-12-31");

    // Nothing published yet: a board analyst has nothing to be answered from.
    for as_of in [Some(AS_OF), None] {
        let body = app
            .gql(Some(&ba), FUNNEL, vars_of(&app, YEAR, as_of, None, &[]))
            .await;
        assert_refusal(&body, "BAD_USER_INPUT", Some("asOf"));
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("none has been made yet"), "{message}");
    }

    build(&app, SMALL).await;
    app.publish("demo", "2024-12-31").await;
    app.publish("demo", AS_OF).await;
    let autumn = ("2024-10-01", "2024-12-31");
    let alder_and_birch: Option<&[&str]> = Some(&["alder", "birch"]);
    let before = analyst_funnel(&app, &ba, YEAR, None, &["AUTHORITY"]).await;
    app.flush_audit().await;
    let admin = app.token_with("admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    let audit_query = r#"query($f: AuditFilterInput) { auditLog(filter: $f, first: 100) {
                           totalCount } }"#;
    let audit_filter = json!({ "f": { "entityType": "RecruitmentFunnel" } });
    let audited =
        app.ok(&admin, audit_query, audit_filter.clone()).await["auditLog"]["totalCount"].clone();

    let published = "2025-03-31, 2024-12-31";
    let at_march = "as at 2025-03-31, 2025-01-01..2025-03-31, 2024-04-01..2025-03-31";
    let at_december = "as at 2024-12-31, 2024-10-01..2024-12-31, 2023-04-01..2024-03-31";
    #[rustfmt::skip]
    let refusals: [(Asked, &str, &str); 13] = [
        // Not a quarter end; a quarter end not published.
        ((YEAR, Some("2025-03-30"), None, &[]), "asOf", published),
        ((YEAR, Some("2024-09-30"), None, &[]), "asOf", published),
        // Neither the quarter nor the financial year of the quarter end asked for (or of
        // the latest one offering it).
        (((FROM, TO), Some(AS_OF), None, &[]), "period", at_march),
        (((FROM, TO), None, None, &[]), "period", at_march),
        ((("2024-04-01", "2025-03-30"), Some(AS_OF), None, &[]), "period", at_march),
        ((("2025-01-01", "2025-02-28"), Some(AS_OF), None, &[]), "period", at_march),
        ((autumn, Some(AS_OF), None, &[]), "period", at_march),
        ((YEAR, Some("2024-12-31"), None, &[]), "period", at_december),
        // Two authorities of five.
        ((YEAR, Some(AS_OF), alder_and_birch, &[]), "authorityIds", "name one authority, or all of them"),
        // By month of enquiry; two breakdowns; by channel for one authority.
        ((YEAR, Some(AS_OF), None, &["ENQUIRY_MONTH"]), "groupBy", "by AUTHORITY or by CHANNEL"),
        ((YEAR, Some(AS_OF), None, &["AUTHORITY", "CHANNEL"]), "groupBy", "one breakdown at a time"),
        ((YEAR, Some(AS_OF), Some(&["alder"]), &["CHANNEL"]), "groupBy", "whole consortium only"),
        ((QUARTER, None, Some(&["alder"]), &["AUTHORITY", "ENQUIRY_MONTH"]), "groupBy", "one breakdown at a time"),
    ];
    for ((period, as_of, codes, group_by), field, words) in refusals {
        let what = format!("{period:?} as at {as_of:?} {codes:?} by {group_by:?}");
        let body = app
            .gql(
                Some(&ba),
                FUNNEL,
                vars_of(&app, period, as_of, codes, group_by),
            )
            .await;
        assert_refusal(&body, "BAD_USER_INPUT", Some(field));
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{what}: {message}");
        assert!(
            body["data"].is_null() || body["data"]["recruitmentFunnel"].is_null(),
            "{what}: {body}"
        );
    }
    // Nothing changed: not audited, and the publication answers as before.
    app.flush_audit().await;
    let after = app.ok(&admin, audit_query, audit_filter).await["auditLog"]["totalCount"].clone();
    assert_eq!(after, audited, "refused runs are not audited");
    let again = analyst_funnel(&app, &ba, YEAR, None, &["AUTHORITY"]).await;
    assert_eq!(again, before);

    // What may be asked: every authority named, in any order, is the consortium.
    let mut all = DEMO;
    all.reverse();
    let named = analyst_funnel(&app, &ba, YEAR, Some(&all), &["AUTHORITY"]).await;
    assert_eq!(named["total"], before["total"]);
    assert_eq!(named["groups"], before["groups"]);
    // Without asOf, the latest publication offering the period: the quarter of December
    // from the one at 2024-12-31, the financial year it ends from the same.
    for (period, as_of) in [
        (QUARTER, AS_OF),
        (YEAR, AS_OF),
        (autumn, "2024-12-31"),
        (("2023-04-01", "2024-03-31"), "2024-12-31"),
    ] {
        let body = app
            .gql(Some(&ba), FUNNEL, vars_of(&app, period, None, None, &[]))
            .await;
        assert!(body.get("errors").is_none(), "{period:?}: {body:#}");
        let f = &body["data"]["recruitmentFunnel"];
        assert_eq!(f["asOf"], json!(as_of), "{period:?}");
        assert_eq!((&f["from"], &f["to"]), (&json!(period.0), &json!(period.1)));
        assert_eq!(cache_status(&body), Some("PUBLISHED"));
    }
    // Asked at its quarter end, the answer is the same.
    let body = app
        .gql(
            Some(&ba),
            FUNNEL,
            vars_of(&app, autumn, Some("2024-12-31"), None, &[]),
        )
        .await;
    assert_eq!(
        body["data"]["recruitmentFunnel"]["asOf"],
        json!("2024-12-31"),
        "{body:#}"
    );
}

/// `asOf` of the funnel and of the adopter alerts falls in 1900–2199, like every report
/// date (`domain::report_bounds`): outside, BAD_USER_INPUT naming `asOf`.
async fn funnel_and_adopter_alert_dates_are_within_the_report_years(app: TestApp) {
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let alder = app.authority_id("alder");
    let refused = |body: &Value| {
        assert_refusal(body, "BAD_USER_INPUT", Some("asOf"));
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("1900-01-01") && message.contains("2199-12-31"),
            "{body}"
        );
    };
    for as_of in ["1899-12-31", "2200-01-01"] {
        let body = app
            .gql(
                Some(&ro),
                FUNNEL,
                json!({ "period": { "from": "1900-01-01", "to": "1900-12-31" }, "asOf": as_of,
                        "ids": [alder], "groupBy": [] }),
            )
            .await;
        refused(&body);
        let body = app
            .gql(Some(&ro), ALERTS_QUERY, json!({ "asOf": as_of }))
            .await;
        refused(&body);
    }
}

// ---------------------------------------------------------------------------------------
// The CSV export
// ---------------------------------------------------------------------------------------

/// A figure as the CSV writes it: `c` withheld, empty absent, else the number as the
/// answer writes it.
fn csv_figure(v: &Value) -> String {
    if v["suppressed"] == json!(true) {
        return "c".into();
    }
    match &v["value"] {
        Value::Null => String::new(),
        n => n.to_string(),
    }
}

/// Figures listed per item of a group: the CSV section, the answer's list, the field naming
/// the item, and each CSV measure with the answer's field.
type PerItem<'a> = (&'a str, &'a Value, &'a str, [(&'a str, &'a str); 4]);

/// Every figure of a funnel group, keyed as the CSV's columns `section,item,detail,measure`.
fn csv_rows_of(group: &Value) -> BTreeMap<[String; 4], String> {
    let mut rows = BTreeMap::new();
    let mut put = |section: &str, item: &str, detail: &str, measure: &str, v: &Value| {
        let key = [section, item, detail, measure].map(str::to_owned);
        assert!(
            rows.insert(key, csv_figure(v)).is_none(),
            "{section} {item} twice"
        );
    };
    for s in group["stageCounts"].as_array().expect("stageCounts") {
        put(
            "stage_counts",
            s["stage"].as_str().unwrap(),
            "",
            "count",
            &s["count"],
        );
    }
    let cohort = &group["cohort"];
    for field in [
        "size",
        "fastTrack",
        "approved",
        "leftBeforeApproval",
        "inProgress",
        "onHold",
    ] {
        put("cohort", field, "", "count", &cohort[field]);
    }
    for (list, section) in [("exits", "cohort_exit"), ("leftAfter", "cohort_left_after")] {
        for e in cohort[list].as_array().expect(list) {
            let stage = e["stage"].as_str().unwrap();
            let reason = e["reason"].as_str().unwrap_or_default();
            put(section, stage, reason, "count", &e["count"]);
        }
    }
    // Figures per item: (section, list, the item's name, CSV measure ← answer field).
    let per_item: [PerItem; 2] = [
        (
            "cohort_stage",
            &cohort["stages"],
            "stage",
            [
                ("reached", "reached"),
                ("eligible", "eligible"),
                ("from_previous_percent", "fromPrevious"),
                ("from_enquiry_percent", "fromEnquiry"),
            ],
        ),
        (
            "timeliness",
            &group["timeliness"],
            "step",
            [
                ("count", "count"),
                ("mean_days", "meanDays"),
                ("median_days", "medianDays"),
                ("within_target_percent", "withinTarget"),
            ],
        ),
    ];
    // A step's target is a plain figure, never withheld.
    for t in group["timeliness"].as_array().expect("timeliness") {
        let target = json!({ "value": t["targetMonths"], "suppressed": false });
        put(
            "timeliness",
            t["step"].as_str().unwrap(),
            "",
            "target_months",
            &target,
        );
    }
    for (section, items, name, measures) in per_item {
        for item in items.as_array().expect(section) {
            for (measure, field) in measures {
                put(
                    section,
                    item[name].as_str().unwrap(),
                    "",
                    measure,
                    &item[field],
                );
            }
        }
    }
    rows
}

/// A funnel CSV's figures: by group (`authority,channel,enquiry_month`), each figure's
/// value by `section,item,detail,measure`.
type Csv = BTreeMap<[String; 3], BTreeMap<[String; 4], String>>;

/// Every figure of a funnel answer as its CSV would hold it.
fn csv_of_answer(f: &Value) -> Csv {
    let mut want = Csv::new();
    let groups = f["groups"].as_array().expect("groups");
    for g in std::iter::once(&f["total"]).chain(groups) {
        let key = [
            if g["authority"].is_null() && g["channel"].is_null() {
                "TOTAL".to_owned()
            } else {
                g["authority"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            },
            g["channel"].as_str().unwrap_or_default().to_owned(),
            g["enquiryMonth"].as_str().unwrap_or_default().to_owned(),
        ];
        assert!(want.insert(key, csv_rows_of(g)).is_none(), "a group twice");
    }
    want
}

/// The path of the funnel CSV over `period` as at `as_of`, of `codes` (not named when
/// `None`), by `group_by`.
fn csv_path((period, as_of, codes, group_by): Asked) -> String {
    let mut path = format!("/export/funnel.csv?from={}&to={}", period.0, period.1);
    if let Some(as_of) = as_of {
        path.push_str(&format!("&asOf={as_of}"));
    }
    if let Some(codes) = codes {
        path.push_str(&format!("&authorities={}", codes.join(",")));
    }
    if !group_by.is_empty() {
        path.push_str(&format!("&groupBy={}", group_by.join(",")));
    }
    path
}

/// The funnel CSV as `token` exports it; each row once.
async fn funnel_csv(app: &TestApp, token: &str, asked: Asked) -> Csv {
    let path = csv_path(asked);
    let response = app.get(&path).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("authority,channel,enquiry_month,section,item,detail,measure,value")
    );
    let mut got = Csv::new();
    for line in lines {
        let cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        let [a, c, m, section, item, detail, measure, value] =
            <[String; 8]>::try_from(cells).unwrap_or_else(|c| panic!("{path}: {c:?}"));
        let rows = got.entry([a, c, m]).or_default();
        let previous = rows.insert([section, item, detail, measure], value);
        assert!(previous.is_none(), "{path}: {line} twice");
    }
    got
}

/// The funnel CSV holds every figure of the answer, and nothing else: for an officer
/// (every figure shown) over any period and breakdown, and for a board analyst (withheld
/// ones as `c`) for each answer the publication gives: the consortium by authority and by
/// channel, in the year and the quarter, one authority alone, and as at the latest
/// publication. What the analyst may not ask is refused in the CSV as in GraphQL.
async fn the_funnel_csv_holds_every_figure_of_the_answer(app: TestApp) {
    build_and_publish(&app, FIXTURE).await;
    let analyst = board_analyst(&app);
    let officer = app.role("alder", "RECRUITMENT_OFFICER");
    #[rustfmt::skip]
    let asked: [(&str, Asked); 6] = [
        (&officer, ((FROM, TO), Some(AS_OF), Some(&["alder"]), &["AUTHORITY", "CHANNEL"])),
        (&analyst, (YEAR, Some(AS_OF), None, &["AUTHORITY"])),
        (&analyst, (YEAR, Some(AS_OF), None, &["CHANNEL"])),
        (&analyst, (QUARTER, Some(AS_OF), Some(&DEMO), &["AUTHORITY"])),
        (&analyst, (YEAR, Some(AS_OF), Some(&["alder"]), &[])),
        (&analyst, (QUARTER, None, None, &[])),
    ];
    for (token, asked) in asked {
        let who = csv_path(asked);
        let (period, as_of, codes, group_by) = asked;
        let vars = vars_of(&app, period, as_of, codes, group_by);
        let f = app.ok(token, FUNNEL, vars).await["recruitmentFunnel"].clone();
        let groups = f["groups"].as_array().expect("groups");
        assert_eq!(groups.is_empty(), group_by.is_empty(), "{who}: groups");
        let got = funnel_csv(&app, token, asked).await;
        assert_eq!(
            got,
            csv_of_answer(&f),
            "{who}: the CSV and the answer differ"
        );
        let values = got.values().flat_map(|rows| rows.values());
        let withheld = values.filter(|v| *v == "c").count();
        if token == analyst {
            assert!(withheld > 0, "{who}: nothing withheld");
        } else {
            assert_eq!(withheld, 0, "{who}: something withheld");
        }
    }

    // Refused as in GraphQL: the calendar year, two breakdowns, two authorities, a quarter
    // end not published.
    let refused: [Asked; 4] = [
        ((FROM, TO), Some(AS_OF), None, &[]),
        (YEAR, Some(AS_OF), None, &["AUTHORITY", "CHANNEL"]),
        (YEAR, Some(AS_OF), Some(&["alder", "birch"]), &[]),
        (YEAR, Some("2024-12-31"), None, &[]),
    ];
    for asked in refused {
        let path = csv_path(asked);
        let response = app.get(&path).bearer_auth(&analyst).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("stage_counts"), "{path}: {text}");
    }
}
