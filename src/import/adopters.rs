//! An adopter register, read from the CSV template into each household's recruitment
//! journey.
//!
//! Adoption agencies keep a register of the households that enquire and go through
//! assessment, and report its key dates each quarter in the ASGLB collection's Adopters
//! tab (section B, key dates: the enquiry, registration of interest — the start of Stage
//! One —, the end of Stage One, the start and end of Stage Two, the panel and the agency
//! decision to approve; section D, enquiries and their route in). The template
//! (`docs/templates/adopter-register.csv`, with a filled example) has one row per
//! household with those dates, the exit if the household left, and one pause:
//!
//! | column | what it holds |
//! | --- | --- |
//! | `HOUSEHOLD` | the agency's own reference for the household (required; unique in the file) |
//! | `APPLICANT_ONE`, `APPLICANT_TWO` | the applicants' names (optional; blank: `Household <HOUSEHOLD>`) |
//! | `ETHNICITY` | the household's ethnicity: `WHITE_BRITISH`, `WHITE_OTHER`, `MIXED`, `ASIAN`, `BLACK`, `OTHER`, `NOT_RECORDED`, or a DfE code such as `WBRI` (required) |
//! | `CHANNEL` | how they first enquired: `WEBSITE`, `INFORMATION_EVENT`, `ACTIVITY_DAY`, `CAMPAIGN`, `REFERRAL`, `OTHER` (required) |
//! | `FAST_TRACK` | `Y` for second-time adopters and the child's foster carers, who go from enquiry to Stage Two (blank: `N`) |
//! | `ENQUIRY` | the date of the first enquiry (required) |
//! | `INFORMATION_EVENT`, `STAGE_ONE_STARTED`, `STAGE_ONE_COMPLETED`, `STAGE_TWO_STARTED`, `STAGE_TWO_COMPLETED`, `PANEL`, `APPROVED` | the date each step was reached, blank if it was not |
//! | `ON_HOLD`, `ON_HOLD_REASON`, `RESUMED` | a pause, its reason, and its end (blank while paused) |
//! | `EXIT`, `EXIT_DATE`, `EXIT_REASON` | `WITHDRAWN` or `ENDED_BY_AGENCY`, when, and why |
//!
//! Reasons are the service's codes (`CHANGE_OF_CIRCUMSTANCES`, `HEALTH`, `RELATIONSHIP`,
//! `FINANCIAL`, `ANOTHER_AGENCY`, `ANOTHER_ROUTE`, `NOT_READY`, `SUITABILITY_CONCERNS`,
//! `SAFEGUARDING`, `NO_CONTACT`, `OTHER`). The match, placement and adoption order are
//! not in the template: they are the steps of a link, brought in with the history of past
//! links. Each row becomes the events the API would have recorded — the enquiry, each
//! step in order, the pause where its date falls, the exit last — and they must pass the
//! API's stage machine ([`StageMachine`]) exactly as if recorded one by one.

use std::io::Read;

use chrono::NaiveDate;

use super::Problem;
use super::table::{Codes, Columns, Duplicate, Reported, Row, Table, codes_of, read_template};
use crate::domain::codes::Coded;
use crate::domain::funnel::FUNNEL_STAGES;
use crate::domain::{
    EnquiryChannel, Ethnicity, RecruitmentEvent, RecruitmentReason, Stage, StageMachine,
    report_bounds,
};

/// The stable codes of the problems an adopter register import reports.
pub mod code {
    /// A line or the file is beyond the import's bounds (error).
    pub const TOO_LARGE: &str = "ADOPTERS_TOO_LARGE";
    /// The file could not be read, or has no column names (error).
    pub const UNREADABLE: &str = "ADOPTERS_UNREADABLE";
    /// Bytes that are not UTF-8 (error; save the file as UTF-8 CSV).
    pub const BAD_ENCODING: &str = "ADOPTERS_BAD_ENCODING";
    /// The same column twice (error).
    pub const DUPLICATE_COLUMN: &str = "ADOPTERS_DUPLICATE_COLUMN";
    /// A column the template does not define (warning; ignored).
    pub const UNKNOWN_COLUMN: &str = "ADOPTERS_UNKNOWN_COLUMN";
    /// A required column is missing (error; nothing of the file is read).
    pub const MISSING_COLUMN: &str = "ADOPTERS_MISSING_COLUMN";
    /// A blank line (warning; skipped).
    pub const BLANK_LINE: &str = "ADOPTERS_BLANK_LINE";
    /// A row with more or fewer values than there are columns (error).
    pub const FIELD_COUNT: &str = "ADOPTERS_FIELD_COUNT";
    /// A required value is blank (error).
    pub const MISSING_VALUE: &str = "ADOPTERS_MISSING_VALUE";
    /// A date that is neither `dd/mm/yyyy` nor `yyyy-mm-dd`, or no such day (error).
    pub const BAD_DATE: &str = "ADOPTERS_BAD_DATE";
    /// A code outside the column's code set (error).
    pub const BAD_CODE: &str = "ADOPTERS_BAD_CODE";
    /// The same household twice (error).
    pub const DUPLICATE_HOUSEHOLD: &str = "ADOPTERS_DUPLICATE_HOUSEHOLD";
    /// A name longer than the API allows (error).
    pub const TOO_LONG: &str = "ADOPTERS_TOO_LONG";
    /// The row's dates do not make a journey the API would record: a step out of order,
    /// a date in the future or before the previous step, an exit without its reason
    /// (error).
    pub const JOURNEY_INVALID: &str = "ADOPTERS_JOURNEY_INVALID";
}

/// The columns of the template, those read first, in this order.
const COLUMNS: Columns = Columns {
    read: &[
        "HOUSEHOLD",
        "APPLICANT_ONE",
        "APPLICANT_TWO",
        "ETHNICITY",
        "CHANNEL",
        "FAST_TRACK",
        "ENQUIRY",
        "INFORMATION_EVENT",
        "STAGE_ONE_STARTED",
        "STAGE_ONE_COMPLETED",
        "STAGE_TWO_STARTED",
        "STAGE_TWO_COMPLETED",
        "PANEL",
        "APPROVED",
        "ON_HOLD",
        "ON_HOLD_REASON",
        "RESUMED",
        "EXIT",
        "EXIT_DATE",
        "EXIT_REASON",
    ],
    known: &[],
    required: &["HOUSEHOLD", "ETHNICITY", "CHANNEL", "ENQUIRY"],
};

/// The problem codes of the template.
const CODES: Codes = codes_of!(code);

/// The steps of the template, in the order they are reached: the funnel's stages from
/// the information event to the approval, each in the column named by its code.
pub const STEPS: &[Stage] = {
    let (_, after_enquiry) = FUNNEL_STAGES.split_at(1);
    let (steps, _) = after_enquiry.split_at(7);
    steps
};

/// The index in the read list of the column named `name`.
fn column_of(name: &str) -> usize {
    COLUMNS
        .read
        .iter()
        .position(|c| *c == name)
        .expect("a column of the template")
}

/// The template's column names, in its order.
pub fn header() -> String {
    COLUMNS.read.join(",")
}
/// The longest applicant name the API takes.
const MAX_NAME_CHARS: usize = 200;

/// One household of the register, its journey validated as the API validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedHousehold {
    /// The agency's own reference: unique only within the authority, and the key by which
    /// a re-import finds the same household again.
    pub reference: String,
    pub applicant_one: Option<String>,
    pub applicant_two: Option<String>,
    pub ethnicity: Ethnicity,
    pub channel: EnquiryChannel,
    pub fast_track: bool,
    /// Every event from the enquiry on, in the order the API would have recorded them.
    pub events: Vec<RecruitmentEvent>,
    /// Where the household stands after them.
    pub state: StageMachine,
}

/// The outcome of reading a register: the households that can be written, and every
/// problem met. Write nothing while any problem is an error.
#[derive(Clone, Debug, Default)]
pub struct AdoptersImport {
    pub households: Vec<ImportedHousehold>,
    pub problems: Vec<Problem>,
}

/// Reads the register `source`, named `file`, validating each journey as of `today`.
pub fn read<R: Read>(file: &str, source: R, today: NaiveDate) -> AdoptersImport {
    let table = Table {
        name: "the adopter register template",
        columns: &COLUMNS,
        codes: &CODES,
        apart: None,
        ignored: &[],
    };
    let mut problems = Vec::new();
    let households = read_template(
        file,
        &table,
        source,
        &mut problems,
        |row, problems| household(row, today, problems),
        |household| household.reference.clone(),
        &Duplicate {
            code: code::DUPLICATE_HOUSEHOLD,
            column: 0,
            message: "this household appears more than once in the file; only its first row \
                      is read",
        },
    );
    AdoptersImport {
        households,
        problems,
    }
}

/// A yes/no column: `Y`/`N`, `YES`/`NO`, `1`/`0`, `TRUE`/`FALSE`; blank is no.
fn yes_no(value: &str) -> Option<bool> {
    match value.to_ascii_uppercase().as_str() {
        "" | "N" | "NO" | "0" | "FALSE" => Some(false),
        "Y" | "YES" | "1" | "TRUE" => Some(true),
        _ => None,
    }
}

/// The household's ethnicity: the service's code, or a DfE code.
fn ethnicity(value: &str) -> Option<Ethnicity> {
    Ethnicity::from_code(&value.to_ascii_uppercase())
        .or_else(|| super::ssda903::files::ethnicity(value))
}

fn coded<T: Coded>(value: &str) -> Option<T> {
    T::from_code(&value.to_ascii_uppercase())
}

/// An optional name, within the API's bound.
fn name(
    row: &Row<'_>,
    index: usize,
    problems: &mut Vec<Problem>,
) -> Result<Option<String>, Reported> {
    let value = row.values[index];
    if value.chars().count() > MAX_NAME_CHARS {
        problems.push(row.problem(
            code::TOO_LONG,
            row.column(index),
            value,
            format!("a name may be at most {MAX_NAME_CHARS} characters"),
        ));
        return Err(Reported);
    }
    Ok(Some(value.to_owned()).filter(|v| !v.is_empty()))
}

/// One row: its values read, then its events built and replayed through the stage
/// machine. `None` (with problems) when anything is wrong.
fn household(
    row: &Row<'_>,
    today: NaiveDate,
    problems: &mut Vec<Problem>,
) -> Option<ImportedHousehold> {
    let before = problems.len();
    let applicant_one = name(row, 1, problems);
    let applicant_two = name(row, 2, problems);
    let ethnicity = row.coded(
        3,
        ethnicity,
        "WHITE_BRITISH, WHITE_OTHER, MIXED, ASIAN, BLACK, OTHER, NOT_RECORDED or a DfE code",
        problems,
    );
    let channel = row.coded(
        4,
        coded::<EnquiryChannel>,
        "WEBSITE, INFORMATION_EVENT, ACTIVITY_DAY, CAMPAIGN, REFERRAL or OTHER",
        problems,
    );
    let fast_track = yes_no(row.values[5]);
    if fast_track.is_none() {
        problems.push(row.bad_code(5, "Y or N"));
    }
    let enquiry = row.required_date(6, problems);
    let mut dated = Vec::new();
    for &stage in STEPS {
        let index = column_of(stage.code());
        if let Ok(Some(on)) = row.date(index, problems) {
            dated.push((index, stage, on, None));
        }
    }
    let reason = |index: usize,
                  problems: &mut Vec<Problem>|
     -> Result<Option<RecruitmentReason>, Reported> {
        match row.values[index] {
            "" => Ok(None),
            value => coded::<RecruitmentReason>(value).map(Some).ok_or_else(|| {
                problems.push(row.bad_code(index, "one of the service's reason codes"));
                Reported
            }),
        }
    };
    if let (Ok(Some(on)), Ok(why)) = (row.date(14, problems), reason(15, problems)) {
        dated.push((14, Stage::OnHold, on, why));
    }
    if let Ok(Some(on)) = row.date(16, problems) {
        dated.push((16, Stage::Resumed, on, None));
    }
    let exit = match row.values[17].to_ascii_uppercase().as_str() {
        "" => None,
        "WITHDRAWN" => Some(Stage::Withdrawn),
        "ENDED_BY_AGENCY" => Some(Stage::EndedByAgency),
        _ => {
            problems.push(row.bad_code(17, "WITHDRAWN or ENDED_BY_AGENCY"));
            None
        }
    };
    let exit_on = row.date(18, problems);
    let exit_reason = reason(19, problems);
    // A reason names what it is the reason for.
    for (reason, of) in [(15, 14), (19, 17)] {
        if !row.values[reason].is_empty() && row.values[of].is_empty() {
            problems.push(row.problem(
                code::MISSING_VALUE,
                row.column(of),
                "",
                format!(
                    "{} must be completed when {} is",
                    row.column(of),
                    row.column(reason)
                ),
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    let (
        Ok(applicant_one),
        Ok(applicant_two),
        Some(ethnicity),
        Some(channel),
        Some(fast_track),
        Some(enquiry),
    ) = (
        applicant_one,
        applicant_two,
        ethnicity,
        channel,
        fast_track,
        enquiry,
    )
    else {
        return None;
    };
    if !report_bounds::in_report_range(enquiry) {
        problems.push(row.problem(
            code::JOURNEY_INVALID,
            "ENQUIRY",
            row.values[6],
            format!(
                "the enquiry cannot be before {}-01-01",
                report_bounds::EARLIEST_REPORT_YEAR
            ),
        ));
        return None;
    }
    // The steps in date order. On one day a pause ends before the steps of that day and
    // begins after them (a pause that begins and ends on one day, in that order).
    let held_on = dated
        .iter()
        .find(|(_, stage, _, _)| *stage == Stage::OnHold)
        .map(|(_, _, on, _)| *on);
    dated.sort_by_key(|(index, stage, on, _)| {
        let rank = match stage {
            Stage::Resumed if held_on != Some(*on) => 0,
            Stage::Resumed => 21,
            Stage::OnHold => 20,
            _ => *index,
        };
        (*on, rank)
    });
    match (exit, exit_on, exit_reason) {
        (Some(stage), Ok(Some(on)), Ok(why)) => dated.push((17, stage, on, why)),
        (Some(_), Ok(None), _) => {
            problems.push(row.problem(
                code::MISSING_VALUE,
                "EXIT_DATE",
                "",
                "EXIT_DATE must be completed when EXIT is".into(),
            ));
            return None;
        }
        (None, Ok(Some(_)), _) => {
            problems.push(row.problem(
                code::MISSING_VALUE,
                "EXIT",
                "",
                "EXIT must be completed when EXIT_DATE is".into(),
            ));
            return None;
        }
        _ => {}
    }
    let mut state = StageMachine::at_enquiry(enquiry, fast_track);
    let mut events = vec![RecruitmentEvent {
        stage: Stage::Enquiry,
        occurred_on: enquiry,
        reason: None,
    }];
    if enquiry > today {
        problems.push(row.problem(
            code::JOURNEY_INVALID,
            "ENQUIRY",
            row.values[6],
            "the date cannot be in the future".into(),
        ));
        return None;
    }
    for (index, stage, occurred_on, reason) in dated {
        let event = RecruitmentEvent {
            stage,
            occurred_on,
            reason,
        };
        match state.record(event, today) {
            Ok(next) => {
                state = next;
                events.push(event);
            }
            Err(e) => {
                // A reason's problem is the reason column's; any other, the date's.
                let column = match (e.field, stage) {
                    ("reason", Stage::OnHold) => 15,
                    ("reason", _) => 19,
                    _ if stage.is_exit() => 18,
                    _ => index,
                };
                problems.push(row.problem(
                    code::JOURNEY_INVALID,
                    row.column(column),
                    row.values[column],
                    format!("{}: {}", stage.code(), e.message),
                ));
                return None;
            }
        }
    }
    Some(ImportedHousehold {
        reference: row.reference().to_owned(),
        applicant_one,
        applicant_two,
        ethnicity,
        channel,
        fast_track,
        events,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2025-01-31";

    fn read_text(text: &str) -> AdoptersImport {
        read("register.csv", text.as_bytes(), d(TODAY))
    }

    const HEADER: &str = "HOUSEHOLD,ETHNICITY,CHANNEL,ENQUIRY,STAGE_ONE_STARTED,\
        STAGE_ONE_COMPLETED,STAGE_TWO_STARTED,APPROVED,EXIT,EXIT_DATE,EXIT_REASON\n";

    #[test]
    fn the_shipped_template_reads_without_a_problem() {
        let import = read_text(include_str!("../../docs/templates/adopter-register.csv"));
        assert_eq!(import.problems, []);
        let stages: Vec<(&str, Stage, bool)> = import
            .households
            .iter()
            .map(|h| (h.reference.as_str(), h.state.stage, h.state.on_hold))
            .collect();
        use Stage::*;
        assert_eq!(
            stages,
            [
                ("H-0001", Approved, false),
                ("H-0002", Withdrawn, false),
                ("H-0003", Approved, false),
                ("H-0004", StageOneStarted, false),
                ("H-0005", EndedByAgency, false),
                ("H-0006", Enquiry, false),
            ]
        );
        // The pause falls between the steps by its dates; the exit comes last with its
        // reason; a fast-track household goes from enquiry to Stage Two.
        let h4: Vec<Stage> = import.households[3]
            .events
            .iter()
            .map(|e| e.stage)
            .collect();
        assert_eq!(h4, [Enquiry, StageOneStarted, OnHold, Resumed]);
        let h2 = import.households[1].events.last().unwrap();
        assert_eq!(
            (h2.stage, h2.reason),
            (Withdrawn, Some(RecruitmentReason::ChangeOfCircumstances))
        );
        let h3: Vec<Stage> = import.households[2]
            .events
            .iter()
            .map(|e| e.stage)
            .collect();
        assert_eq!(
            h3,
            [Enquiry, StageTwoStarted, StageTwoCompleted, Panel, Approved]
        );
        assert_eq!(
            import.households[4].ethnicity,
            Ethnicity::WhiteBritish,
            "a DfE code"
        );
        assert_eq!(import.households[5].applicant_one, None);
    }

    #[test]
    fn each_problem_names_its_row_column_and_value() {
        let text = format!(
            "{HEADER}\
             A1,WHITE_BRITISH,WEBSITE,01/02/2024,01/01/2024,,,,,,\n\
             A2,PURPLE,WEBSITE,01/02/2024,,,,,,,\n\
             A3,MIXED,WEBSITE,31/02/2024,,,,,,,\n\
             A4,MIXED,WEBSITE,01/02/2024,02/02/2024,,,,WITHDRAWN,03/03/2024,\n\
             A5,MIXED,WEBSITE,01/02/2024,,,,,,,\n\
             A5,MIXED,WEBSITE,01/02/2024,,,,,,,\n\
             A6,MIXED,WEBSITE,01/02/2024,02/02/2024,,,01/03/2024,,,\n\
             A7,MIXED,WEBSITE,01/02/2026,,,,,,,\n"
        );
        let import = read_text(&text);
        let found: Vec<(&str, u64, &str, &str)> = import
            .problems
            .iter()
            .map(|p| {
                (
                    p.code,
                    p.row.unwrap(),
                    p.column.as_deref().unwrap(),
                    p.value.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (code::JOURNEY_INVALID, 2, "STAGE_ONE_STARTED", "01/01/2024"),
                (code::BAD_CODE, 3, "ETHNICITY", "PURPLE"),
                (code::BAD_DATE, 4, "ENQUIRY", "31/02/2024"),
                (code::JOURNEY_INVALID, 5, "EXIT_REASON", ""),
                (code::DUPLICATE_HOUSEHOLD, 7, "HOUSEHOLD", "A5"),
                (code::JOURNEY_INVALID, 8, "APPROVED", "01/03/2024"),
                (code::JOURNEY_INVALID, 9, "ENQUIRY", "01/02/2026"),
            ]
        );
        let read: Vec<&str> = import
            .households
            .iter()
            .map(|h| h.reference.as_str())
            .collect();
        assert_eq!(read, ["A5"]);
    }

    #[test]
    fn on_one_day_a_pause_ends_before_the_steps_and_begins_after_them() {
        let text = "HOUSEHOLD,ETHNICITY,CHANNEL,ENQUIRY,STAGE_ONE_STARTED,STAGE_ONE_COMPLETED,\
                    ON_HOLD,ON_HOLD_REASON,RESUMED\n\
                    A1,MIXED,WEBSITE,01/02/2024,01/03/2024,01/05/2024,01/04/2024,HEALTH,01/05/2024\n\
                    A2,MIXED,WEBSITE,01/02/2024,01/03/2024,,01/03/2024,,01/03/2024\n";
        let import = read_text(text);
        assert_eq!(import.problems, []);
        use Stage::*;
        let stages = |i: usize| -> Vec<Stage> {
            import.households[i]
                .events
                .iter()
                .map(|e| e.stage)
                .collect()
        };
        assert_eq!(
            stages(0),
            [Enquiry, StageOneStarted, OnHold, Resumed, StageOneCompleted]
        );
        assert_eq!(stages(1), [Enquiry, StageOneStarted, OnHold, Resumed]);
    }

    #[test]
    fn a_quote_inside_a_value_is_an_ordinary_character() {
        let text = "HOUSEHOLD,APPLICANT_ONE,ETHNICITY,CHANNEL,ENQUIRY\n\
                    A1,O\"Brien,MIXED,WEBSITE,01/02/2024\n\
                    A2,\"Smith, \"\"Jo\"\"\",MIXED,WEBSITE,01/02/2024\n\
                    A3,Lee,MIXED,WEBSITE,01/02/2024\n";
        let import = read_text(text);
        assert_eq!(import.problems, []);
        let names: Vec<Option<&str>> = import
            .households
            .iter()
            .map(|h| h.applicant_one.as_deref())
            .collect();
        assert_eq!(
            names,
            [Some("O\"Brien"), Some("Smith, \"Jo\""), Some("Lee")]
        );
    }

    #[test]
    fn a_file_of_faults_stops_at_the_problem_bound() {
        let text = format!(
            "{HEADER}{}",
            "\n".repeat(3 * crate::import::table::MAX_PROBLEMS)
        );
        let import = read_text(&text);
        assert_eq!(
            import.problems.len(),
            crate::import::table::MAX_PROBLEMS + 1
        );
        assert_eq!(import.problems.last().unwrap().code, code::TOO_LARGE);
    }

    #[test]
    fn a_register_without_a_required_column_is_not_read() {
        let import = read_text("HOUSEHOLD,ETHNICITY,ENQUIRY\nA1,MIXED,01/02/2024\n");
        assert_eq!(import.problems.len(), 1);
        assert_eq!(import.problems[0].code, code::MISSING_COLUMN);
        assert_eq!(import.problems[0].column.as_deref(), Some("CHANNEL"));
        assert!(import.households.is_empty());
    }
}
