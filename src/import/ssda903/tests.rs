//! The SSDA903 import against hand-worked histories and broken files. Every child and
//! reference here is invented.

use chrono::NaiveDate;

use super::*;
use crate::domain::{ChildStatus, MilestoneDraft};

const TODAY: &str = "2025-06-30";

fn d(text: &str) -> NaiveDate {
    text.parse().expect("a test date")
}

fn supplied(kind: FileKind, year: i32) -> SuppliedFile {
    SuppliedFile {
        name: format!("SSDA903_{year}_{}.csv", kind.name()),
        kind,
        year,
    }
}

fn lines(rows: &[&str]) -> String {
    let mut text = rows.join("\n");
    text.push('\n');
    text
}

/// Imports the files, each given by kind, year and text.
fn run(files: &[(FileKind, i32, String)]) -> Ssda903Import {
    import(
        Some("999"),
        files
            .iter()
            .map(|(kind, year, text)| (supplied(*kind, *year), text.as_bytes())),
        d(TODAY),
    )
}

fn child<'a>(import: &'a Ssda903Import, reference: &str) -> &'a ImportedChild {
    import
        .children
        .iter()
        .find(|c| c.reference == reference)
        .unwrap_or_else(|| panic!("no child {reference}: {:#?}", import.problems))
}

fn codes(import: &Ssda903Import) -> Vec<(&'static str, Option<u64>)> {
    import.problems.iter().map(|p| (p.code, p.row)).collect()
}

const EPISODES: &str = "CHILD,DECOM,RNE,LS,PLACE,DEC,REC";
const HEADER: &str = "CHILD,SEX,DOB,ETHNIC";
const AD1: &str = "CHILD,DATE_INT,DATE_MATCH,FOSTER_CARE";
const DECISIONS: &str = "CHILD,DATE_PLACED,DATE_PLACED_CEASED,REASON_PLACED_CEASED";

/// Two years of returns (2023: 1 April 2022 – 31 March 2023; 2024: 1 April 2023 – 31 March
/// 2024) for one authority, holding the tricky histories below.
fn fixture() -> Vec<(FileKind, i32, String)> {
    vec![
        (
            FileKind::Header,
            2023,
            // The 2023 return codes SEX as 1/2.
            lines(&[
                HEADER,
                "C1,2,12/12/2018,WBRI",
                "C3,1,25/02/2020,AIND",
                "C4,1,28/05/2022,BAFR",
                "C5,1,01/05/2022,WIRI",
                "C7,2,01/01/2015,REFU",
                "C8,2,10/04/2020,MWAS",
            ]),
        ),
        (
            FileKind::Header,
            2024,
            // The 2024 return codes SEX as M/F; where a child is in both, 2024 wins.
            lines(&[
                HEADER,
                "C2,F,20/04/2020,MWBC",
                "C4,M,28/05/2022,BAFR",
                "C5,M,01/05/2022,WIRI",
                "C7,F,01/01/2015,REFU",
            ]),
        ),
        (
            FileKind::Episodes,
            2023,
            lines(&[
                EPISODES,
                // C1, care re-entry: a first period (S, home with E13), then a second in
                // which the child is adopted.
                "C1,01/02/2019,S,V2,U1,01/06/2019,E13",
                "C1,10/01/2020,S,C2,U1,01/09/2020,X1",
                "C1,01/09/2020,L,E1,U1,15/03/2021,X1",
                "C1,15/03/2021,P,E1,A6,20/10/2021,E11",
                // C3, adopted by the foster carers: to them on 20/04/2020 (P), placement
                // order 01/10/2020 (L: legal status only), the placement becomes adoptive
                // with the same carers on 01/11/2020 (B), adopted 05/05/2021.
                "C3,01/03/2020,S,C1,U3,20/04/2020,X1",
                "C3,20/04/2020,P,C2,U4,01/10/2020,X1",
                "C3,01/10/2020,L,E1,U4,01/11/2020,X1",
                "C3,01/11/2020,B,E1,A5,05/05/2021,E12",
                // C4 (first year): in care, placement order 15/02/2023, still open on 31
                // March 2023.
                "C4,01/06/2022,S,C2,U1,15/02/2023,X1",
                "C4,15/02/2023,L,E1,U1,,",
                // C5 as the 2023 return had it: care from 10/05/2022, open.
                "C5,10/05/2022,S,C2,U1,,",
                // C7, long stay: the first episode in the files is a change of legal
                // status (L), so care began before the earliest return supplied.
                "C7,01/03/2019,L,C2,U1,,",
                // C8, a broken-down adoptive placement (A6 from 01/02/2021 to 01/06/2021,
                // back to foster care), then a second one from 01/01/2022 that ends in
                // adoption on 15/09/2022.
                "C8,01/05/2020,S,C2,U1,01/11/2020,X1",
                "C8,01/11/2020,L,E1,U1,01/02/2021,X1",
                "C8,01/02/2021,P,E1,A6,01/06/2021,X1",
                "C8,01/06/2021,P,E1,U1,01/01/2022,X1",
                "C8,01/01/2022,P,E1,A6,15/09/2022,E11",
            ]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[
                EPISODES,
                // C2, placement order revoked: E1 from 01/12/2020, back to a care order
                // (C2) on 10/08/2021, still in care.
                "C2,05/05/2020,S,C2,U3,01/12/2020,X1",
                "C2,01/12/2020,L,E1,U3,10/08/2021,X1",
                "C2,10/08/2021,L,C2,U3,,",
                // C4 (second year): the open episode again, now closed, then placed for
                // adoption and adopted. The match (ad1) came before the placement order.
                "C4,15/02/2023,L,E1,U1,01/04/2023,X1",
                "C4,01/04/2023,P,E1,A6,30/11/2023,E11",
                // C5 as the 2024 return corrects it: care from 12/05/2022, not 10/05/2022;
                // placement order 01/09/2023.
                "C5,12/05/2022,S,C2,U1,01/09/2023,X1",
                "C5,01/09/2023,L,E1,U1,,",
                "C7,01/03/2019,L,C2,U1,,",
            ]),
        ),
        (
            FileKind::PlacedForAdoption,
            2023,
            lines(&[
                DECISIONS,
                "C1,15/06/2020,,",
                "C3,01/07/2020,,",
                "C4,01/11/2022,,",
                "C8,01/09/2020,,",
            ]),
        ),
        (
            FileKind::PlacedForAdoption,
            2024,
            lines(&[DECISIONS, "C2,01/10/2020,01/08/2021,RD1", "C4,01/11/2022,,"]),
        ),
        (
            FileKind::Ad1,
            2023,
            lines(&[
                AD1,
                "C1,15/06/2020,01/02/2021,0",
                "C3,01/07/2020,20/10/2020,1",
                "C8,01/09/2020,10/12/2021,0",
            ]),
        ),
        (
            FileKind::Ad1,
            2024,
            lines(&[AD1, "C4,01/11/2022,20/01/2023,0"]),
        ),
    ]
}

#[test]
fn the_fixture_imports_without_errors() {
    let import = run(&fixture());
    assert!(!import.has_errors(), "{:#?}", import.problems);
    let references: Vec<&str> = import
        .children
        .iter()
        .map(|c| c.reference.as_str())
        .collect();
    assert_eq!(references, ["C1", "C2", "C3", "C4", "C5", "C7", "C8"]);
}

#[test]
fn care_re_entry_the_journey_belongs_to_the_later_period() {
    // C1: period one 01/02/2019–01/06/2019 (no sign of adoption); period two from
    // 10/01/2020 (RNE S). Decision 15/06/2020 (DATE_PLACED, also the plan), placement order
    // 01/09/2020 (first E1), match 01/02/2021 (DATE_MATCH), placed 15/03/2021 (start of the
    // A6 episode that ended E11), adopted 20/10/2021 (its DEC). Not by foster carers.
    let import = run(&fixture());
    let c1 = child(&import, "C1");
    let expected = MilestoneDraft {
        entered_care_on: Some(d("2020-01-10")),
        adoption_plan_on: Some(d("2020-06-15")),
        shobpa_decision_on: Some(d("2020-06-15")),
        placement_order_on: Some(d("2020-09-01")),
        match_decision_on: Some(d("2021-02-01")),
        placed_on: Some(d("2021-03-15")),
        adoption_order_on: Some(d("2021-10-20")),
        ..Default::default()
    };
    assert_eq!(c1.milestones.edit(), expected);
    assert_eq!(c1.milestones.status(), ChildStatus::Adopted);
    assert_eq!(c1.date_of_birth, d("2018-12-12"));
    assert_eq!(c1.ethnicity, Ethnicity::WhiteBritish);
}

#[test]
fn a_revoked_placement_order_and_a_plan_change_are_carried() {
    // C2: care 05/05/2020; decision 01/10/2020, reversed 01/08/2021 with RD1; placement
    // order 01/12/2020; the legal status goes back to C2 on 10/08/2021 — revoked then.
    let import = run(&fixture());
    let c2 = child(&import, "C2");
    let expected = MilestoneDraft {
        entered_care_on: Some(d("2020-05-05")),
        adoption_plan_on: Some(d("2020-10-01")),
        shobpa_decision_on: Some(d("2020-10-01")),
        placement_order_on: Some(d("2020-12-01")),
        plan_changed_on: Some(d("2021-08-01")),
        placement_order_revoked_on: Some(d("2021-08-10")),
        ..Default::default()
    };
    assert_eq!(c2.milestones.edit(), expected);
    assert_eq!(c2.plan_change_reason, Some(PlanChangeReason::Rd1));
    assert_eq!(c2.milestones.status(), ChildStatus::PlanChanged);
}

#[test]
fn adopted_by_foster_carers_counts_from_the_placement_with_them() {
    // C3: FOSTER_CARE 1. The adoptive placement (A5) began 01/11/2020 with RNE B (same
    // carers); before it, 01/10/2020 RNE L (same carers); before that, 20/04/2020 RNE P:
    // the day the child came to these carers. So placedOn 01/11/2020 and the foster
    // placement started 20/04/2020 (what A10 counts from).
    let import = run(&fixture());
    let c3 = child(&import, "C3");
    let expected = MilestoneDraft {
        entered_care_on: Some(d("2020-03-01")),
        adoption_plan_on: Some(d("2020-07-01")),
        shobpa_decision_on: Some(d("2020-07-01")),
        placement_order_on: Some(d("2020-10-01")),
        match_decision_on: Some(d("2020-10-20")),
        placed_on: Some(d("2020-11-01")),
        adoption_order_on: Some(d("2021-05-05")),
        foster_placement_started_on: Some(d("2020-04-20")),
        adopted_by_foster_carers: true,
        ..Default::default()
    };
    assert_eq!(c3.milestones.edit(), expected);
    assert!(c3.notes.is_empty(), "{:#?}", c3.notes);
}

#[test]
fn a_match_before_the_placement_order_is_early_permanence_and_accepted() {
    // C4, over two returns: the open E1 episode of 2023 (15/02/2023) is closed in 2024,
    // which wins. Match 20/01/2023 comes before the placement order 15/02/2023.
    let import = run(&fixture());
    let c4 = child(&import, "C4");
    let expected = MilestoneDraft {
        entered_care_on: Some(d("2022-06-01")),
        adoption_plan_on: Some(d("2022-11-01")),
        shobpa_decision_on: Some(d("2022-11-01")),
        placement_order_on: Some(d("2023-02-15")),
        match_decision_on: Some(d("2023-01-20")),
        placed_on: Some(d("2023-04-01")),
        adoption_order_on: Some(d("2023-11-30")),
        ..Default::default()
    };
    assert_eq!(c4.milestones.edit(), expected);
}

#[test]
fn a_later_return_corrects_an_earlier_years_episode() {
    // C5: 2023 said care began 10/05/2022 (open); 2024 says 12/05/2022. The 2023 episode
    // reaches into the 2024 window, which no longer carries it: dropped, with a note.
    let import = run(&fixture());
    let c5 = child(&import, "C5");
    assert_eq!(c5.milestones.entered_care_on, Some(d("2022-05-12")));
    assert_eq!(c5.milestones.placement_order_on, Some(d("2023-09-01")));
    let superseded = import.problems_of(code::SUPERSEDED_EPISODE);
    assert_eq!(superseded.len(), 1, "{superseded:#?}");
    assert_eq!(superseded[0].reference.as_deref(), Some("C5"));
    assert_eq!(
        superseded[0].file.as_deref(),
        Some("SSDA903_2023_episodes.csv")
    );
    assert_eq!(superseded[0].value.as_deref(), Some("10/05/2022"));
    assert!(c5.notes.iter().any(|n| n.code == code::SUPERSEDED_EPISODE));
}

#[test]
fn both_sex_codings_are_read() {
    // C1 only in 2023 (SEX 2), C2 only in 2024 (SEX F), C5 in both (1 then M).
    let import = run(&fixture());
    assert_eq!(child(&import, "C1").gender, Gender::Female);
    assert_eq!(child(&import, "C2").gender, Gender::Female);
    assert_eq!(child(&import, "C3").gender, Gender::Male);
    assert_eq!(child(&import, "C5").gender, Gender::Male);
    assert_eq!(child(&import, "C2").ethnicity, Ethnicity::Mixed);
    assert_eq!(child(&import, "C7").ethnicity, Ethnicity::NotRecorded);
}

#[test]
fn care_that_began_before_the_earliest_return_is_said_not_guessed() {
    // C7: the earliest episode in the files is RNE L: enteredCareOn stays empty, with a
    // warning on the child (no later milestone needs it).
    let import = run(&fixture());
    let c7 = child(&import, "C7");
    assert_eq!(c7.milestones.entered_care_on, None);
    let notes: Vec<_> = c7.notes.iter().map(|n| n.code).collect();
    assert_eq!(notes, [code::CARE_START_UNKNOWN]);
    assert!(!c7.notes[0].is_error());
}

#[test]
fn care_start_unknown_with_later_milestones_is_an_error() {
    // C9: first episode in the files RNE L under a placement order: placementOrderOn would
    // need enteredCareOn, which the returns do not give.
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "C9,1,01/01/2021,WBRI"]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[EPISODES, "C9,01/05/2023,L,E1,U1,,"]),
        ),
    ]);
    assert!(import.children.is_empty());
    let problems = import.problems_of(code::CARE_START_UNKNOWN);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].is_error());
    assert_eq!(problems[0].row, Some(2));
}

#[test]
fn a_broken_down_placement_does_not_count_as_placed() {
    // C8: A6 from 01/02/2021 broke down on 01/06/2021; the A6 from 01/01/2022 (RNE P: new
    // carers) ended in adoption 15/09/2022, so placedOn is 01/01/2022.
    let import = run(&fixture());
    let c8 = child(&import, "C8");
    let expected = MilestoneDraft {
        entered_care_on: Some(d("2020-05-01")),
        adoption_plan_on: Some(d("2020-09-01")),
        shobpa_decision_on: Some(d("2020-09-01")),
        placement_order_on: Some(d("2020-11-01")),
        match_decision_on: Some(d("2021-12-10")),
        placed_on: Some(d("2022-01-01")),
        adoption_order_on: Some(d("2022-09-15")),
        ..Default::default()
    };
    assert_eq!(c8.milestones.edit(), expected);
    let disrupted: Vec<_> = c8
        .notes
        .iter()
        .filter(|n| n.code == code::PLACEMENT_DISRUPTED)
        .collect();
    assert_eq!(disrupted.len(), 1);
    assert_eq!(disrupted[0].row, Some(16));
}

#[test]
fn a_journey_the_api_would_refuse_is_an_error_on_the_child() {
    // Care from 01/06/2020 but born 01/01/2021: enteredCareOn before the date of birth.
    let import = run(&[
        (
            FileKind::Header,
            2021,
            lines(&[HEADER, "C10,1,01/01/2021,WBRI"]),
        ),
        (
            FileKind::Episodes,
            2021,
            lines(&[EPISODES, "C10,01/06/2020,S,C2,U1,,"]),
        ),
    ]);
    assert!(import.children.is_empty());
    let problems = import.problems_of(code::JOURNEY_INVALID);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].reference.as_deref(), Some("C10"));
    assert_eq!(problems[0].column.as_deref(), Some("enteredCareOn"));
    assert_eq!(problems[0].value.as_deref(), Some("01/06/2020"));
}

#[test]
fn files_are_named_as_the_dfe_names_them() {
    let file = identify("returns/2025/SSDA903_2025_Episodes.CSV").expect("episodes");
    assert_eq!((file.kind, file.year), (FileKind::Episodes, 2025));
    assert_eq!(file.name, "SSDA903_2025_Episodes.CSV");
    let file = identify("ssda903_2019_placed_for_adoption.csv").expect("decisions");
    assert_eq!((file.kind, file.year), (FileKind::PlacedForAdoption, 2019));
    assert_eq!(
        identify("SSDA903_2024_ad1.csv").map(|f| f.kind),
        Ok(FileKind::Ad1)
    );
    assert_eq!(
        file.collection_window(),
        Some((d("2018-04-01"), d("2019-03-31")))
    );
    let skipped = identify("SSDA903_2025_reviews.csv").unwrap_err();
    assert_eq!(skipped.code, code::FILE_NOT_NEEDED);
    assert!(!skipped.is_error());
    assert_eq!(identify("header.csv").unwrap_err().code, code::FILE_NAME);
    assert_eq!(
        identify("SSDA903_2024_2025_header.csv").unwrap_err().code,
        code::FILE_NAME
    );
}

#[test]
fn a_bad_date_is_reported_where_it_is_and_iso_dates_are_read() {
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "A1,1,2020-01-05,WBRI", "A2,1,05/01/2020,WBRI"]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[
                EPISODES,
                "A1,2023-05-01,S,C2,U1,,",
                "A2,31/02/2023,S,C2,U1,,",
                "A2,1/6/2023,S,C2,U1,,",
                "A3,2023/06/01,S,C2,U1,,",
            ]),
        ),
    ]);
    let bad = import.problems_of(code::BAD_DATE);
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert_eq!(
        (
            bad[0].row,
            bad[0].reference.as_deref(),
            bad[0].column.as_deref()
        ),
        (Some(3), Some("A2"), Some("DECOM"))
    );
    assert_eq!(bad[0].value.as_deref(), Some("31/02/2023"));
    assert_eq!(bad[0].file.as_deref(), Some("SSDA903_2024_episodes.csv"));
    assert_eq!(bad[1].row, Some(5));
    assert_eq!(
        child(&import, "A1").milestones.entered_care_on,
        Some(d("2023-05-01"))
    );
    assert_eq!(
        child(&import, "A2").milestones.entered_care_on,
        Some(d("2023-06-01"))
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let header = format!("\u{FEFF}{}", lines(&[HEADER, "B1,1,05/01/2020,WBRI"]));
    let import = run(&[
        (FileKind::Header, 2024, header),
        (
            FileKind::Episodes,
            2024,
            lines(&[EPISODES, "B1,01/05/2023,S,C2,U1,,"]),
        ),
    ]);
    assert!(import.problems.is_empty(), "{:#?}", import.problems);
    assert_eq!(child(&import, "B1").gender, Gender::Male);
}

#[test]
fn blank_lines_are_skipped_with_a_warning_and_rows_keep_their_numbers() {
    let episodes = lines(&[
        EPISODES,
        "B1,01/05/2023,S,C2,U1,,",
        "",
        ",,,,,,",
        "B2,99/99/2023,S,C2,U1,,",
    ]);
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "B1,1,05/01/2020,WBRI", "B2,2,05/01/2020,WBRI"]),
        ),
        (FileKind::Episodes, 2024, episodes),
    ]);
    assert_eq!(
        codes(&import),
        [
            (code::BLANK_LINE, Some(3)),
            (code::BLANK_LINE, Some(4)),
            (code::BAD_DATE, Some(5)),
            (code::NO_EPISODES, Some(3)),
        ]
    );
    assert!(
        import
            .problems_of(code::BLANK_LINE)
            .iter()
            .all(|p| !p.is_error())
    );
}

#[test]
fn a_duplicate_episode_is_an_error_on_its_second_row() {
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "D1,1,05/01/2020,WBRI"]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[
                EPISODES,
                "D1,01/05/2023,S,C2,U1,01/06/2023,X1",
                "D1,01/06/2023,L,E1,U1,,",
                "D1,01/05/2023,S,C2,U1,01/06/2023,X1",
            ]),
        ),
    ]);
    assert_eq!(codes(&import), [(code::DUPLICATE_EPISODE, Some(4))]);
    assert_eq!(import.problems[0].column.as_deref(), Some("DECOM"));
    assert!(import.has_errors());
}

#[test]
fn a_missing_column_stops_the_file_and_an_unknown_one_is_a_warning() {
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[
                "CHILD,SEX,DOB,ETHNIC,UPN,SHOE_SIZE",
                "E1,1,05/01/2020,WBRI,X,9",
            ]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&["CHILD,DECOM,RNE,LS,PLACE,DEC", "E1,01/05/2023,S,C2,U1,"]),
        ),
    ]);
    let missing = import.problems_of(code::MISSING_COLUMN);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].column.as_deref(), Some("REC"));
    assert_eq!(missing[0].row, Some(1));
    let unknown = import.problems_of(code::UNKNOWN_COLUMN);
    assert_eq!(
        unknown.len(),
        1,
        "UPN is known, SHOE_SIZE is not: {unknown:#?}"
    );
    assert_eq!(unknown[0].column.as_deref(), Some("SHOE_SIZE"));
    // Nothing of the episodes file was read, so the child has no episode.
    assert_eq!(import.problems_of(code::NO_EPISODES).len(), 1);
    assert!(import.children.is_empty());
}

#[test]
fn bytes_that_are_not_utf8_are_reported_on_their_row_and_column() {
    // "Windows-1252" export: 0xE9 is é there, and not UTF-8.
    let mut header =
        b"CHILD,SEX,DOB,ETHNIC\nF1,1,05/01/2020,WBRI\nF\xE92,1,05/01/2020,WBRI\n".to_vec();
    header.extend_from_slice(b"F3,1,05/01/2020,WBRI\n");
    let episodes = lines(&[
        EPISODES,
        "F1,01/05/2023,S,C2,U1,,",
        "F3,01/05/2023,S,C2,U1,,",
    ]);
    let import = import(
        None,
        [
            (supplied(FileKind::Header, 2024), header.as_slice()),
            (supplied(FileKind::Episodes, 2024), episodes.as_bytes()),
        ],
        d(TODAY),
    );
    assert_eq!(codes(&import), [(code::BAD_ENCODING, Some(3))]);
    assert_eq!(import.problems[0].column.as_deref(), Some("CHILD"));
    assert_eq!(import.children.len(), 2);
}

#[test]
fn rows_of_another_authority_are_refused() {
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[
                "CHILD,SEX,DOB,ETHNIC,LA",
                "G1,1,05/01/2020,WBRI,999",
                "G2,1,05/01/2020,WBRI,888",
            ]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[
                "CHILD,DECOM,RNE,LS,PLACE,DEC,REC,LA",
                "G1,01/05/2023,S,C2,U1,,,999",
            ]),
        ),
    ]);
    assert_eq!(codes(&import), [(code::OTHER_AUTHORITY, Some(3))]);
    assert_eq!(import.problems[0].value.as_deref(), Some("888"));
}

#[test]
fn a_hostile_line_is_refused_without_reading_it_whole() {
    let mut episodes = lines(&[EPISODES, "H1,01/05/2023,S,C2,U1,,"]);
    episodes.push_str(&"x".repeat(files::MAX_RECORD_BYTES + 10));
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "H1,1,05/01/2020,WBRI"]),
        ),
        (FileKind::Episodes, 2024, episodes),
    ]);
    assert_eq!(import.problems_of(code::TOO_LARGE).len(), 1);
    // What came before the hostile line was read.
    assert_eq!(import.children.len(), 1);
}

#[test]
fn a_row_of_the_wrong_width_and_a_second_file_of_a_year_are_errors() {
    let import = run(&[
        (FileKind::Header, 2024, lines(&[HEADER, "J1,1,05/01/2020"])),
        (FileKind::Header, 2024, lines(&[HEADER])),
    ]);
    assert_eq!(
        codes(&import),
        [(code::FIELD_COUNT, Some(2)), (code::DUPLICATE_FILE, None)]
    );
}

#[test]
fn a_plan_change_needs_its_date_and_its_reason() {
    let import = run(&[(
        FileKind::PlacedForAdoption,
        2024,
        lines(&[DECISIONS, "K1,01/05/2023,01/09/2023,", "K2,01/05/2023,,RD9"]),
    )]);
    assert_eq!(
        codes(&import),
        [
            (code::PLAN_CHANGE_INCOMPLETE, Some(2)),
            (code::BAD_CODE, Some(3))
        ]
    );
}

#[test]
fn adopted_from_a_placement_that_is_not_adoptive_is_an_error() {
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "L1,1,05/01/2020,WBRI"]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[EPISODES, "L1,01/05/2020,S,E1,U1,01/05/2023,E11"]),
        ),
    ]);
    assert_eq!(codes(&import), [(code::ADOPTED_NOT_PLACED, Some(2))]);
    assert!(import.children.is_empty());
}

#[test]
fn row_numbers_hold_with_windows_line_ends_and_quoted_line_breaks() {
    // Line 2 holds a quoted value spanning lines 2–3; line 4 is blank; line 5 has a bad
    // date. Line ends are CRLF, as Excel writes them.
    let episodes = "CHILD,DECOM,RNE,LS,PLACE,DEC,REC\r\n\"M\r\n1\",01/05/2023,S,C2,U1,,\r\n\r\nM2,32/05/2023,S,C2,U1,,\r\n";
    let import = run(&[(FileKind::Episodes, 2024, episodes.to_owned())]);
    let found: Vec<_> = codes(&import)
        .into_iter()
        .filter(|(code, _)| *code != code::NO_HEADER)
        .collect();
    assert_eq!(
        found,
        [(code::BLANK_LINE, Some(4)), (code::BAD_DATE, Some(5))]
    );
}

#[test]
fn overlapping_episodes_and_a_child_without_header_are_errors() {
    let import = run(&[
        (
            FileKind::Header,
            2024,
            lines(&[HEADER, "N1,1,05/01/2020,WBRI"]),
        ),
        (
            FileKind::Episodes,
            2024,
            lines(&[
                EPISODES,
                "N1,01/05/2023,S,C2,U1,01/08/2023,X1",
                "N1,01/07/2023,L,E1,U1,,",
                "N2,01/05/2023,S,C2,U1,,",
            ]),
        ),
    ]);
    assert_eq!(
        codes(&import),
        [(code::EPISODES_OVERLAP, Some(3)), (code::NO_HEADER, None)]
    );
    assert_eq!(import.problems[1].reference.as_deref(), Some("N2"));
    assert!(import.children.is_empty());
}
