//! The ASGLB return written out: each tab as CSV (`asglb-adoptions.csv`,
//! `asglb-adopters.csv`), or both in one workbook (`asglb.xlsx`) with a *Notes* sheet
//! saying what the return covers, what each column holds and what the registers do not
//! hold. Columns and rules are `crate::domain::asglb`'s.
//!
//! In CSV, dates are `YYYY-MM-DD`, flags `Y`/`N`, an unknown or not-yet date an empty cell,
//! and every cell passes through [`neutralise`](super::neutralise). In the workbook, dates
//! are date cells (`yyyy-mm-dd`), counts and the fee numbers, and texts are written as
//! text, never as formulas.
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{Cells, Names};
use crate::domain::asglb::{ADOPTERS_COLUMNS, ADOPTIONS_COLUMNS, Column, NOT_HELD, ReturnQuarter};
use crate::service::asglb::{AdopterEntry, AdoptionEntry, AsglbReturn};

/// A cell of a row, typed for the workbook.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Text(String),
    Date(Option<NaiveDate>),
    Count(i64),
    Flag(bool),
    /// Pence, written as pounds.
    Money(Option<i64>),
}

impl Cell {
    /// The cell as CSV text.
    fn csv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Date(d) => d
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            Cell::Count(n) => n.to_string(),
            Cell::Flag(b) => if *b { "Y" } else { "N" }.into(),
            Cell::Money(p) => p
                .map(|p| format!("{}.{:02}", p / 100, p % 100))
                .unwrap_or_default(),
        }
    }
}

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(value.into())
}

/// A child's row of the Adoptions tab, in [`ADOPTIONS_COLUMNS`] order.
fn adoption_row(e: &AdoptionEntry, q: ReturnQuarter, names: &Names<'_>) -> Vec<Cell> {
    let c = &e.child;
    let at = |d: Option<NaiveDate>| Cell::Date(q.as_at(d));
    let matched = e.matched.as_ref();
    let reversed_on = q.as_at(c.plan_changed_on);
    vec![
        text((names.authority)(c.authority_id).unwrap_or_default()),
        text((names.child)(c.id)),
        text(c.gender.clone()),
        Cell::Date(Some(c.date_of_birth)),
        text(c.ethnicity.clone()),
        Cell::Flag(c.need_disability > 0),
        at(c.entered_care_on),
        at(c.shobpa_decision_on),
        at(c.placement_order_on),
        at(c.match_decision_on),
        at(c.placed_on),
        at(c.adoption_order_on),
        Cell::Flag(c.requires_early_permanence),
        at(c.foster_placement_started_on),
        Cell::Flag(c.adopted_by_foster_carers && q.as_at(c.placed_on).is_some()),
        Cell::Count(e.sibling_group_size),
        text(
            matched
                .map(|l| (names.household)(l.household_id))
                .unwrap_or_default(),
        ),
        text(
            matched
                .and_then(|l| (names.authority)(l.household_authority_id))
                .unwrap_or_default(),
        ),
        match matched {
            Some(l) => Cell::Flag(l.cross_boundary),
            None => text(""),
        },
        Cell::Money(matched.and_then(|l| l.inter_agency_fee_pence)),
        Cell::Date(reversed_on),
        text(
            reversed_on
                .and(c.plan_change_reason.clone())
                .unwrap_or_default(),
        ),
        at(c.placement_order_revoked_on),
    ]
}

/// A household's row of the Adopters tab, in [`ADOPTERS_COLUMNS`] order.
fn adopter_row(e: &AdopterEntry, q: ReturnQuarter, names: &Names<'_>) -> Vec<Cell> {
    let h = &e.household;
    let j = &e.journey;
    let at = |d: Option<NaiveDate>| Cell::Date(q.as_at(d));
    let left_on = q.as_at(j.exit_on);
    let couple = h
        .applicant_two_name
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty());
    vec![
        text((names.authority)(h.authority_id).unwrap_or_default()),
        text((names.household)(h.id)),
        text(if couple { "COUPLE" } else { "SINGLE" }),
        text(h.ethnicity.clone()),
        text(j.enquiry_channel.clone()),
        Cell::Date(Some(j.enquiry_on)),
        Cell::Flag(j.fast_track),
        at(j.stage_one_started_on),
        at(j.stage_one_completed_on),
        at(j.stage_two_started_on),
        at(j.stage_two_completed_on),
        at(j.panel_on),
        at(j.approved_on),
        Cell::Flag(h.early_permanence_approved),
        Cell::Count(h.capacity.into()),
        Cell::Flag(h.accepts_siblings),
        Cell::Count(h.age_min_months.into()),
        Cell::Count(h.age_max_months.into()),
        at(j.matched_on),
        at(j.placed_on),
        at(j.adoption_order_on),
        Cell::Date(left_on),
        text(left_on.and(j.exit_stage.clone()).unwrap_or_default()),
        text(left_on.and(j.exit_reason.clone()).unwrap_or_default()),
    ]
}

/// A tab as written: its sheet name, columns and rows.
struct Sheet {
    name: &'static str,
    columns: &'static [Column],
    rows: Vec<Vec<Cell>>,
}

/// The tabs of the return that were asked for.
fn tabs(r: &AsglbReturn, names: &Names<'_>) -> Vec<Sheet> {
    let mut tabs = Vec::new();
    if let Some(rows) = &r.adoptions {
        tabs.push(Sheet {
            name: "Adoptions",
            columns: ADOPTIONS_COLUMNS,
            rows: rows
                .iter()
                .map(|e| adoption_row(e, r.quarter, names))
                .collect(),
        });
    }
    if let Some(rows) = &r.adopters {
        tabs.push(Sheet {
            name: "Adopters",
            columns: ADOPTERS_COLUMNS,
            rows: rows
                .iter()
                .map(|e| adopter_row(e, r.quarter, names))
                .collect(),
        });
    }
    tabs
}

/// The one tab of `r` as CSV: a header row, then a row per record.
pub(super) fn csv(r: &AsglbReturn, names: &Names<'_>) -> Result<Vec<u8>, csv::Error> {
    let mut w = Cells::new();
    for tab in tabs(r, names) {
        w.write_record(tab.columns.iter().map(|c| c.header))?;
        for row in tab.rows {
            w.write_record(row.iter().map(Cell::csv))?;
        }
    }
    w.finish()
}

/// `d` as a workbook date.
fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8)
}

/// The return as a workbook: a sheet per tab (header row frozen and filtered) and *Notes*.
pub(super) fn workbook(
    r: &AsglbReturn,
    names: &Names<'_>,
    made_on: NaiveDate,
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let title = format!("ASGLB return {}", r.quarter.label());
    book.set_properties(
        &DocProperties::new()
            .set_title(&title)
            .set_creation_datetime(&excel_date(made_on)?),
    );
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let money = Format::new().set_num_format("0.00");
    let wrap = Format::new().set_text_wrap();
    for Sheet {
        name,
        columns,
        rows,
    } in tabs(r, names)
    {
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        for (i, column) in columns.iter().enumerate() {
            let col = i as u16;
            sheet.write_string_with_format(0, col, column.header, &bold)?;
            sheet.set_column_width(col, column.header.len().max(10) as f64 + 2.0)?;
        }
        for (i, row) in rows.iter().enumerate() {
            let at = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (j, cell) in row.iter().enumerate() {
                write_cell(sheet, at, j as u16, cell, &date, &money)?;
            }
        }
        let last_col = columns.len().saturating_sub(1) as u16;
        let last_row = u32::try_from(rows.len()).map_err(|_| XlsxError::RowColumnLimitError)?;
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, last_row, last_col)?;
    }
    let notes = book.add_worksheet();
    notes.set_name("Notes")?;
    notes.set_column_width(0, 34)?;
    notes.set_column_width(1, 100)?;
    let authorities: Vec<String> = r
        .authorities
        .iter()
        .filter_map(|a| (names.authority)(*a))
        .collect();
    // (first column, second column, whether a heading); an empty line between sections.
    let mut lines: Vec<(String, String, bool)> = Vec::new();
    let mut line = |a: &str, b: &str, heading: bool| lines.push((a.into(), b.into(), heading));
    line(&title, "", true);
    let day = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    let covered = format!(
        "{} to {}, as at {}",
        day(r.quarter.year_start()),
        day(r.quarter.end()),
        day(r.quarter.end()),
    );
    line("Period", &covered, false);
    line("Authorities", &authorities.join(", "), false);
    line("Made on", &made_on.format("%Y-%m-%d").to_string(), false);
    line(
        "Who is listed",
        "Adoptions: each child with a decision that they should be placed for adoption by \
         the quarter end whose adoption journey was open on 1 April (no adoption order, \
         change of plan or revoked placement order before it). Adopters: each household \
         in assessment by the quarter end that had not left the process or adopted before \
         1 April. Dates after the quarter end are not shown.",
        false,
    );
    for (name, columns) in [
        ("Adoptions", ADOPTIONS_COLUMNS),
        ("Adopters", ADOPTERS_COLUMNS),
    ] {
        line("", "", false);
        line(&format!("{name} columns"), "", true);
        for c in columns {
            line(c.header, c.meaning, false);
        }
    }
    line("", "", false);
    line("Not held by Permanence", "", true);
    for (item, why) in NOT_HELD {
        line(item, why, false);
    }
    for (i, (a, b, heading)) in lines.iter().enumerate() {
        let at = i as u32;
        if *heading {
            notes.write_string_with_format(at, 0, a, &bold)?;
        } else if !a.is_empty() {
            notes.write_string_with_format(at, 0, a, &wrap)?;
        }
        if !b.is_empty() {
            notes.write_string_with_format(at, 1, b, &wrap)?;
        }
    }
    book.save_to_buffer()
}

/// Writes one typed cell.
fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    date: &Format,
    money: &Format,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Text(t) if t.is_empty() => {}
        Cell::Text(t) => {
            sheet.write_string(row, col, t)?;
        }
        Cell::Date(Some(d)) => {
            sheet.write_datetime_with_format(row, col, excel_date(*d)?, date)?;
        }
        Cell::Date(None) | Cell::Money(None) => {}
        Cell::Count(n) => {
            sheet.write_number(row, col, *n as f64)?;
        }
        Cell::Flag(b) => {
            sheet.write_string(row, col, if *b { "Y" } else { "N" })?;
        }
        Cell::Money(Some(p)) => {
            sheet.write_number_with_format(row, col, *p as f64 / 100.0, money)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_written_as_the_return_spells_them() {
        let d: NaiveDate = "2026-09-30".parse().unwrap();
        assert_eq!(Cell::Date(Some(d)).csv(), "2026-09-30");
        assert_eq!(Cell::Date(None).csv(), "");
        assert_eq!(Cell::Flag(true).csv(), "Y");
        assert_eq!(Cell::Flag(false).csv(), "N");
        assert_eq!(Cell::Money(Some(2_705_050)).csv(), "27050.50");
        assert_eq!(Cell::Money(Some(7)).csv(), "0.07");
        assert_eq!(Cell::Money(None).csv(), "");
        assert_eq!(Cell::Count(3).csv(), "3");
    }
}
