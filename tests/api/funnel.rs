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

/// Birch's counts (B1–B3 enquired in 2024; B4 in 2023 with Stage One started in 2024).
fn birch_counts() -> BTreeMap<String, u64> {
    [
        ("stage/ENQUIRY", 3),             // B1 B2 B3
        ("stage/STAGE_ONE_STARTED", 3),   // B1 B2 B4
        ("stage/STAGE_ONE_COMPLETED", 1), // B1
        ("stage/STAGE_TWO_STARTED", 1),   // B1
        ("stage/WITHDRAWN", 1),           // B2
        ("size", 3),
        ("reached/ENQUIRY", 3),
        ("reached/STAGE_ONE_STARTED", 2), // B1 B2
        ("reached/STAGE_ONE_COMPLETED", 1),
        ("reached/STAGE_TWO_STARTED", 1),
        ("eligible/ENQUIRY", 3),
        ("eligible/INFORMATION_EVENT", 3),
        ("eligible/STAGE_ONE_STARTED", 3),
        ("eligible/STAGE_ONE_COMPLETED", 2),
        ("eligible/STAGE_TWO_STARTED", 1),
        ("eligible/STAGE_TWO_COMPLETED", 1),
        ("leftBeforeApproval", 1), // B2
        ("inProgress", 2),         // B1 B3
        ("exit/WITHDRAWN/HEALTH", 1),
        ("leftAfter/STAGE_ONE_STARTED", 1),
        ("step/ENQUIRY_TO_STAGE_ONE", 3), // B1 29, B2 31, B4 40
        ("step/STAGE_ONE", 1),            // B1 61
        ("step/GAP_BETWEEN_STAGES", 1),   // B1 31
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
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
// 2. Disclosure control
// ---------------------------------------------------------------------------------------

/// Populations made from the fast-track count (3, withheld from a restricted reader): the
/// cohort less them for Stage One, Stage One completions plus them for Stage Two. Each is
/// withheld with it.
const DERIVED_FROM_FAST_TRACK: [&str; 2] =
    ["eligible/STAGE_ONE_STARTED", "eligible/STAGE_TWO_STARTED"];

fn board_analyst(app: &TestApp) -> String {
    app.token_with("ba", "demo", &[], &["BOARD_ANALYST"])
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

/// A count as disclosure control shows it: 1–5 withheld, anything else as it is.
fn assert_restricted_count(v: &Value, n: u64, what: &str) {
    if (1..=5).contains(&n) {
        assert_eq!(v, &withheld_figure(), "{what} = {n}");
    } else {
        assert_eq!(v, &shown(n), "{what} = {n}");
    }
}

/// A rate as disclosure control shows it: no figure of nobody; withheld when the numerator
/// is ≤ 5 or the denominator ≤ 10.
fn assert_restricted_rate(v: &Value, num: u64, den: u64, shown: Option<f64>, what: &str) {
    if den == 0 {
        assert_eq!(v, &no_figure(), "{what}");
    } else if den <= 10 || (1..=5).contains(&num) || (1..=5).contains(&(den - num)) {
        assert_eq!(v, &withheld_figure(), "{what} {num}/{den}");
    } else {
        assert_number(v, shown, what);
    }
}

/// A mean or median over `n` cases: withheld when n ≤ 10.
fn assert_restricted_mean(v: &Value, n: u64, shown: Option<f64>, what: &str) {
    if n == 0 {
        assert_eq!(v, &no_figure(), "{what}");
    } else if n <= 10 {
        assert_eq!(v, &withheld_figure(), "{what} over {n}");
    } else {
        assert_number(v, shown, what);
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

async fn board_analysts_see_the_funnel_with_disclosure_control(app: TestApp) {
    let ids = build(&app, FIXTURE).await;
    let ba = board_analyst(&app);
    let f = funnel(&app, &ba, &["alder"], &[]).await;
    assert_eq!(f["suppressionApplied"], json!(true));
    let total = &f["total"];

    // One authority, no breakdown: the primary rule alone (several cells of the one row are
    // withheld, so no single one can be worked out).
    let got = cells(total);
    for (key, n) in alder_counts() {
        if DERIVED_FROM_FAST_TRACK.contains(&key.as_str()) {
            assert_eq!(got[&key], withheld_figure(), "{key}");
            continue;
        }
        assert_restricted_count(&got[&key], n, &key);
    }
    for key in got.keys() {
        assert!(alder_counts().contains_key(key), "{key} not expected");
    }
    // Spot checks of the rule: 1–5 withheld, zero shown, 6 and more shown.
    assert_eq!(got["stage/WITHDRAWN"], withheld_figure()); // 5
    assert_eq!(got["stage/ENDED_BY_AGENCY"], withheld_figure()); // 3
    assert_eq!(got["stage/MATCHED"], shown(0));
    assert_eq!(got["reached/PLACED"], shown(0));
    assert_eq!(got["approved"], shown(6));
    assert_eq!(got["onHold"], withheld_figure()); // 2

    // Rates: 5/25 (numerator 1–5), 6/7 and 0/6 (base ≤ 10) withheld, 0/25 shown;
    // 0 of 0 is no figure.
    for (stage, reached, eligible, from_previous, from_enquiry) in COHORT_STAGES {
        let s = cohort_stage(total, stage);
        if DERIVED_FROM_FAST_TRACK.contains(&format!("eligible/{stage}").as_str()) {
            assert_eq!(s["fromPrevious"], withheld_figure(), "{stage}");
        } else {
            assert_restricted_rate(
                &s["fromPrevious"],
                reached,
                eligible,
                from_previous,
                &format!("{stage} fromPrevious"),
            );
        }
        assert_restricted_rate(
            &s["fromEnquiry"],
            reached,
            COHORT_SIZE,
            from_enquiry,
            &format!("{stage} fromEnquiry"),
        );
    }
    // 18/22 leaves 4 outside (the rate rule withholds it), and 22 is the cohort (25, shown)
    // less the fast-track households (3, withheld): a rate over it would give the 3 away.
    assert_eq!(
        cohort_stage(total, "STAGE_ONE_STARTED")["fromPrevious"],
        withheld_figure()
    );
    assert_eq!(
        cohort_stage(total, "PANEL")["fromPrevious"],
        withheld_figure()
    );
    // Means and medians over ≤ 10 cases withheld (Stage Two: 9, Stage Two → approval: 7);
    // over 19, 17 and 12 shown. Within-target rates as rates.
    for x in &STEPS {
        let s = step(total, x.step);
        assert_restricted_mean(&s["meanDays"], x.count, x.mean, x.step);
        assert_restricted_mean(&s["medianDays"], x.count, x.median, x.step);
        if x.target.is_some() {
            assert_restricted_rate(&s["withinTarget"], x.within, x.count, x.within_pct, x.step);
        } else {
            assert_eq!(s["withinTarget"], no_figure());
        }
    }
    assert_number(&step(total, "STAGE_ONE")["meanDays"], Some(61.3), "over 17");
    assert_eq!(step(total, "STAGE_TWO")["meanDays"], withheld_figure());

    assert_no_personal_data(&f, &ids);

    // The whole consortium (no authorities named) and breakdowns: still nothing personal.
    let body = app.ok(&ba, FUNNEL, funnel_vars(None, &["AUTHORITY"])).await;
    assert_eq!(body["recruitmentFunnel"]["suppressionApplied"], json!(true));
    assert_eq!(
        body["recruitmentFunnel"]["authorities"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "every authority of demo"
    );
    assert_no_personal_data(&body, &ids);
    for by in ["CHANNEL", "ENQUIRY_MONTH"] {
        let f = funnel(&app, &ba, &["alder", "birch"], &[by]).await;
        assert_no_personal_data(&f, &ids);
    }
}

/// Whether a count figure is withheld.
fn withheld(v: &Value) -> bool {
    v["suppressed"] == json!(true)
}

/// A board analyst's funnel of alder and birch by authority, with the cells of each group
/// and of the total.
async fn by_authority(
    app: &TestApp,
) -> (
    Value,
    BTreeMap<String, Value>,
    BTreeMap<String, Value>,
    BTreeMap<String, Value>,
) {
    let ids = build(app, FIXTURE).await;
    let ba = board_analyst(app);
    let f = funnel(app, &ba, &["alder", "birch"], &["AUTHORITY"]).await;
    assert_eq!(f["suppressionApplied"], json!(true));
    assert_no_personal_data(&f, &ids);
    assert_eq!(f["groups"].as_array().unwrap().len(), 2);
    let alder = cells(group(&f, "authority", "alder"));
    let birch = cells(group(&f, "authority", "birch"));
    let total = cells(&f["total"]);
    (f, alder, birch, total)
}

/// The breakdown's own table: shown cells are true and never 1–5, and in every column
/// (alder + birch = total) a withheld cell never stands alone beside a shown total.
async fn a_breakdown_by_authority_suppresses_cells_in_pairs(app: TestApp) {
    let (_, alder, birch, total) = by_authority(&app).await;
    let (alder_raw, birch_raw) = (alder_counts(), birch_counts());

    let mut problems = Vec::new();
    for (key, t) in &total {
        let (a, b) = (&alder[key], &birch[key]);
        let raw_a = alder_raw.get(key).copied().unwrap_or(0);
        let raw_b = birch_raw.get(key).copied().unwrap_or(0);
        // Shown figures are the true ones, and never 1–5.
        for (v, raw, who) in [
            (a, raw_a, "alder"),
            (b, raw_b, "birch"),
            (t, raw_a + raw_b, "total"),
        ] {
            if !withheld(v) {
                assert_eq!(v["value"].as_u64(), Some(raw), "{who} {key}");
                assert!(!(1..=5).contains(&raw), "{who} {key} = {raw} shown");
            } else {
                assert!(v["value"].is_null());
            }
        }
        if key.starts_with("eligible/") {
            continue; // not part of the breakdown's table; checked below
        }
        // A column of the breakdown: alder + birch = total. One withheld cell beside a shown
        // cell and a shown total is worked out by subtraction.
        if withheld(a) != withheld(b) && !withheld(t) {
            problems.push(format!(
                "{key}: alder {a} birch {b} total {t} (raw {raw_a} + {raw_b})"
            ));
        }
    }
    // The column where both have values and birch's is small: birch's 3 enquiries against
    // alder's 25 (total 28). Either both are withheld or the total is.
    let (a, b, t) = (
        &alder["stage/ENQUIRY"],
        &birch["stage/ENQUIRY"],
        &total["stage/ENQUIRY"],
    );
    assert!(withheld(b), "birch's 3 enquiries are withheld");
    assert!(
        withheld(a) || withheld(t),
        "alder {a} total {t}: birch's 3 is recoverable"
    );
    assert!(
        problems.is_empty(),
        "withheld cells can be worked out:\n{}",
        problems.join("\n")
    );
}

/// The other figures of a group (eligible populations, rates) must not give back a count
/// the breakdown withheld.
async fn a_breakdown_by_authority_gives_no_withheld_count_back(app: TestApp) {
    let (f, alder, birch, total) = by_authority(&app).await;
    let mut problems = Vec::new();
    // The plainest case: birch's cohort of 3 is withheld, so alder's 25 is withheld beside
    // it (the total, 28, is shown). But alder's eligible population for the enquiry stage
    // is its cohort size by definition: if it is shown, birch's is 28 − 25 = 3.
    if withheld(&birch["size"])
        && !withheld(&total["size"])
        && !withheld(&alder["eligible/ENQUIRY"])
    {
        problems.push(format!(
            "birch's withheld cohort size = total size {} − alder's eligible(ENQUIRY) {}",
            total["size"]["value"], alder["eligible/ENQUIRY"]["value"]
        ));
    }

    // The other figures of a group must not give a withheld count back either: `eligible`
    // is by definition another count (the cohort for the enquiry and the information event;
    // Stage One started for Stage One completed; the previous stage from Stage Two
    // completed on), and a shown rate with its shown population gives its numerator back
    // (to one decimal of a percentage, exact for populations under 1000).
    let same: [(&str, &str); 9] = [
        ("size", "eligible/ENQUIRY"),
        ("size", "eligible/INFORMATION_EVENT"),
        ("reached/STAGE_ONE_STARTED", "eligible/STAGE_ONE_COMPLETED"),
        ("reached/STAGE_TWO_STARTED", "eligible/STAGE_TWO_COMPLETED"),
        ("reached/STAGE_TWO_COMPLETED", "eligible/PANEL"),
        ("reached/PANEL", "eligible/APPROVED"),
        ("reached/APPROVED", "eligible/MATCHED"),
        ("reached/MATCHED", "eligible/PLACED"),
        ("reached/PLACED", "eligible/ADOPTION_ORDER"),
    ];
    for (name, g) in [("alder", &alder), ("birch", &birch), ("total", &total)] {
        for (count, eligible) in same {
            if withheld(&g[count]) && !withheld(&g[eligible]) {
                problems.push(format!(
                    "{name}: {count} withheld but {eligible} = {} shows it",
                    g[eligible]["value"]
                ));
            }
        }
    }
    for (name, key) in [("alder", "alder"), ("birch", "birch")] {
        let gv = group(&f, "authority", key);
        let c = &cells(gv);
        for s in gv["cohort"]["stages"].as_array().unwrap() {
            let stage = s["stage"].as_str().unwrap();
            let reached = &c[&format!("reached/{stage}")];
            if !withheld(reached) {
                continue;
            }
            // A shown rate times its shown base gives the count back.
            for (rate, base, base_name) in [
                ("fromPrevious", &s["eligible"], "eligible"),
                ("fromEnquiry", &c["size"], "size"),
            ] {
                let r = &s[rate];
                if !withheld(r) && !r["value"].is_null() && !withheld(base) {
                    problems.push(format!(
                        "{name}: reached {stage} withheld, but {rate} {} × {base_name} {} gives it",
                        r["value"], base["value"]
                    ));
                }
            }
        }
    }
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
    let ids = build(&app, SMALL).await;
    let alder = app.authority_id("alder");
    let birch = app.authority_id("birch");
    let mut runs = Vec::new();

    // Staff of alder with the reports capability see alder as it is: 2 (a count of 1–5)
    // is shown.
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
        runs.push(format!("{role}-alder").to_lowercase());
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

    // A board analyst's run is audited too.
    let ba = board_analyst(&app);
    funnel(&app, &ba, &["alder"], &["CHANNEL"]).await;
    runs.push("ba".into());

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
    let mut subjects: Vec<String> = nodes
        .iter()
        .map(|n| n["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    runs.sort();
    assert_eq!(subjects, runs, "{data:#}");
    for n in nodes {
        assert_eq!(n["action"], json!("SEARCH"));
        assert_eq!(n["entityType"], json!("RecruitmentFunnel"));
        assert!(n["entityId"].is_null(), "{n}");
        let detail = &n["detail"];
        let detail = match detail {
            Value::String(s) => serde_json::from_str(s).unwrap_or(detail.clone()),
            _ => detail.clone(),
        };
        assert_eq!(detail["from"], json!(FROM), "{n}");
        assert_eq!(detail["to"], json!(TO), "{n}");
        assert_eq!(detail["asOf"], json!(AS_OF), "{n}");
        assert_no_personal_data(&detail, &ids);
    }
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
/// runs, at the bound it answers. A breakdown named twice is refused.
async fn funnel_periods_and_breakdowns_are_bounded(app: TestApp) {
    let ba = board_analyst(&app);
    let vars = |from: &str, to: &str, group_by: &[&str]| {
        json!({ "period": { "from": from, "to": to }, "asOf": "2025-03-31", "ids": null,
                "groupBy": group_by })
    };
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
        let body = app.gql(Some(&ba), FUNNEL, vars(from, to, group_by)).await;
        assert_refusal(&body, "BAD_USER_INPUT", Some(field));
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{message}");
    }

    // At the bounds: ten years; sixty months by enquiry month.
    let ten = app
        .ok(&ba, FUNNEL, vars("2015-01-01", "2024-12-31", &[]))
        .await;
    assert_eq!(ten["recruitmentFunnel"]["from"], "2015-01-01");
    let sixty = app
        .ok(
            &ba,
            FUNNEL,
            vars("2020-01-01", "2024-12-31", &["ENQUIRY_MONTH"]),
        )
        .await;
    assert_eq!(sixty["recruitmentFunnel"]["to"], "2024-12-31");
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

/// The funnel CSV holds every figure of the GraphQL answer, and nothing else: for an
/// officer (every figure shown) and for a board analyst (withheld ones as `c`), for the
/// total and every group of a breakdown by authority and channel.
async fn the_funnel_csv_holds_every_figure_of_the_answer(app: TestApp) {
    build(&app, FIXTURE).await;
    let analyst = board_analyst(&app);
    let officer = app.role("alder", "RECRUITMENT_OFFICER");
    for (who, token, codes) in [
        ("officer", &officer, vec!["alder"]),
        ("analyst", &analyst, vec!["alder", "birch"]),
    ] {
        let f = funnel(&app, token, &codes, &["AUTHORITY", "CHANNEL"]).await;
        let mut want: BTreeMap<[String; 3], BTreeMap<[String; 4], String>> = BTreeMap::new();
        let groups = f["groups"].as_array().expect("groups");
        assert!(!groups.is_empty(), "{who}: no groups");
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
            assert!(
                want.insert(key, csv_rows_of(g)).is_none(),
                "{who}: a group twice"
            );
        }
        let path = format!(
            "/export/funnel.csv?from={FROM}&to={TO}&asOf={AS_OF}&authorities={}&groupBy=AUTHORITY,CHANNEL",
            codes.join(",")
        );
        let response = app.get(&path).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{who}: {path}");
        let text = response.text().await.unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("authority,channel,enquiry_month,section,item,detail,measure,value")
        );
        let mut got: BTreeMap<[String; 3], BTreeMap<[String; 4], String>> = BTreeMap::new();
        for line in lines {
            let cells: Vec<String> = line.split(',').map(str::to_owned).collect();
            let [a, c, m, section, item, detail, measure, value] =
                <[String; 8]>::try_from(cells).unwrap_or_else(|c| panic!("{who}: {c:?}"));
            let rows = got.entry([a, c, m]).or_default();
            let previous = rows.insert([section, item, detail, measure], value);
            assert!(previous.is_none(), "{who}: {line} twice");
        }
        assert_eq!(got, want, "{who}: the CSV and the answer differ");
        if who == "analyst" {
            assert!(text.contains(",c\n"), "{who}: nothing withheld");
        }
    }
}
