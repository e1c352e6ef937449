//! Synthetic SSDA903 returns, and the journeys they were written from.
//!
//! [`generate`] invents children (nothing here describes a real person), gives each a
//! history of one of the shapes the import must get right — adopted by strangers, early
//! permanence (match before the placement order), adopted by the foster carers, plan
//! changed and placement order revoked, waiting, in care only, care re-entry, a broken-down
//! adoptive placement followed by a second one — and writes the `header`, `episodes`,
//! `ad1` and `placed_for_adoption` files of every year as an authority would: each return
//! lists the episodes open at some time in its year, an episode still open on 31 March
//! without its end, the decisions made by then, and `ad1` for the children adopted in the
//! year. `SEX` is coded `1`/`2` before 2022 and `M`/`F` from then on, as a change of coding.
//!
//! With the files comes what each child's journey *is*, worked out from the history, not
//! from the files, with what the returns cannot tell left out (a match or placement of a
//! child not yet adopted: `ad1` only exists on adoption). The test below, the end-to-end
//! import test and the import benchmark check the reader against it.
//!
//! The output depends only on the [`Ssda903Spec`]: the same seed gives the same files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::{Ethnicity, Gender, MilestoneDraft, PlanChangeReason};
use crate::import::ssda903::FileKind;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ssda903Spec {
    /// How many children.
    pub children: usize,
    /// The first and last return (the year each collection ends in); histories lie within
    /// 1 April of the year before `first_year` and 31 March of `last_year`.
    pub first_year: i32,
    pub last_year: i32,
    pub seed: u64,
}

/// One generated file: its DfE name, table, year and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    pub name: String,
    pub kind: FileKind,
    pub year: i32,
    pub text: String,
}

/// What a child's journey is, as the import should derive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedJourney {
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub ethnicity: Ethnicity,
    pub milestones: MilestoneDraft,
    pub plan_change_reason: Option<PlanChangeReason>,
}

/// The generated returns and the journeys they were written from, by `CHILD` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedReturns {
    pub files: Vec<GeneratedFile>,
    pub journeys: BTreeMap<String, ExpectedJourney>,
    /// The last day the returns cover (31 March of the last year): the `today` to import
    /// them with, or any later day.
    pub as_of: NaiveDate,
}

/// An episode of care as the generator builds it.
#[derive(Clone, Debug)]
struct Episode {
    starts_on: NaiveDate,
    reason_new: &'static str,
    legal_status: &'static str,
    placement: &'static str,
    ended: Option<(NaiveDate, &'static str)>,
}

/// A change within a period of care: a new legal status, a new placement (with new
/// carers or the same ones), or both.
struct Change {
    on: NaiveDate,
    legal_status: Option<&'static str>,
    placement: Option<(&'static str, bool)>,
}

/// Builds a period of care's episodes from its start, its changes and its end, leaving out
/// whatever happens after `as_of`.
fn period(
    start: NaiveDate,
    legal_status: &'static str,
    placement: &'static str,
    changes: &[Change],
    end: Option<(NaiveDate, &'static str)>,
    as_of: NaiveDate,
) -> Vec<Episode> {
    let mut episodes = vec![Episode {
        starts_on: start,
        reason_new: "S",
        legal_status,
        placement,
        ended: None,
    }];
    for change in changes.iter().filter(|c| c.on <= as_of) {
        let Some(current) = episodes.last_mut() else {
            break;
        };
        current.ended = Some((change.on, "X1"));
        let (legal_status, placement) = (
            change.legal_status.unwrap_or(current.legal_status),
            change.placement.map_or(current.placement, |(p, _)| p),
        );
        let reason_new = match (change.legal_status.is_some(), change.placement) {
            (true, Some((_, true))) => "T",
            (true, Some((_, false))) => "U",
            (true, None) => "L",
            (false, Some((_, true))) => "P",
            (false, _) => "B",
        };
        episodes.push(Episode {
            starts_on: change.on,
            reason_new,
            legal_status,
            placement,
            ended: None,
        });
    }
    if let Some((on, reason)) = end.filter(|(on, _)| *on <= as_of)
        && let Some(last) = episodes.last_mut()
    {
        last.ended = Some((on, reason));
    }
    episodes
}

/// A generated child: who, the history, the decisions and the adoption record.
struct History {
    reference: String,
    journey: ExpectedJourney,
    episodes: Vec<Episode>,
    /// (decided on, reversed on with reason)
    decisions: Vec<(NaiveDate, Option<(NaiveDate, PlanChangeReason)>)>,
    /// (decided on, matched on, by foster carers, adopted on)
    ad1: Option<(NaiveDate, NaiveDate, bool, NaiveDate)>,
}

const ETHNIC_CODES: &[&str] = &[
    "WBRI", "WBRI", "WBRI", "WBRI", "WIRI", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND",
    "APKN", "ABAN", "BCRB", "BAFR", "CHNE", "OOTH", "REFU", "NOBT",
];

/// Generates the returns; see the module docs.
pub fn generate(spec: &Ssda903Spec) -> GeneratedReturns {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let first = NaiveDate::from_ymd_opt(spec.first_year - 1, 4, 1).unwrap_or_default();
    let as_of = NaiveDate::from_ymd_opt(spec.last_year, 3, 31).unwrap_or_default();
    let span = (as_of - first).num_days().max(60);
    let mut histories = Vec::with_capacity(spec.children);
    for index in 0..spec.children {
        let entered = first + Duration::days(rng.random_range(1..=span - 30));
        histories.push(history(&mut rng, index, entered, as_of));
    }
    let mut files = Vec::new();
    for year in spec.first_year..=spec.last_year {
        files.extend(returns_of(year, &histories));
    }
    let journeys = histories
        .into_iter()
        .map(|h| (h.reference, h.journey))
        .collect();
    GeneratedReturns {
        files,
        journeys,
        as_of,
    }
}

/// One child's history, entering care on `entered`, as seen on `as_of`.
fn history(rng: &mut ChaCha8Rng, index: usize, entered: NaiveDate, as_of: NaiveDate) -> History {
    let mut days =
        |from: NaiveDate, low: i64, high: i64| from + Duration::days(rng.random_range(low..=high));
    let date_of_birth = days(entered, -5 * 365, 0);
    let seen = |d: NaiveDate| Some(d).filter(|d| *d <= as_of);
    let mut milestones = MilestoneDraft::default();
    let mut decisions = Vec::new();
    let mut ad1 = None;
    let mut plan_change_reason = None;
    let shape = index % 8;

    // Care re-entry: a short first period, home, then the journey in a second one.
    let mut episodes = Vec::new();
    let mut start = entered;
    if shape == 6 && entered + Duration::days(250) < as_of {
        let home = days(entered, 20, 90);
        episodes.extend(period(entered, "V2", "U1", &[], Some((home, "E13")), as_of));
        start = days(home, 30, 150);
    }
    milestones.entered_care_on = Some(start);
    let decided = days(start, 60, 200);
    let order = days(decided, 20, 150);

    let mut changes = Vec::new();
    let mut end = None;
    match shape {
        // Adopted by strangers (also after re-entry), or early permanence (3: the match
        // before the placement order).
        0 | 3 | 6 => {
            let matched = if shape == 3 {
                days(decided, 5, 15)
            } else {
                days(order, 20, 200)
            };
            let order = if shape == 3 {
                days(matched, 5, 60)
            } else {
                order
            };
            let placed = days(matched.max(order), 14, 60);
            let adopted = days(placed, 90, 300);
            changes.push(Change {
                on: order,
                legal_status: Some("E1"),
                placement: None,
            });
            changes.push(Change {
                on: placed,
                legal_status: None,
                placement: Some(("A6", true)),
            });
            end = Some((adopted, "E11"));
            decisions.push((decided, None));
            milestones.shobpa_decision_on = seen(decided);
            milestones.placement_order_on = seen(order);
            if adopted <= as_of {
                ad1 = Some((decided, matched, false, adopted));
                milestones.match_decision_on = Some(matched);
                milestones.placed_on = Some(placed);
                milestones.adoption_order_on = Some(adopted);
            }
        }
        // A broken-down adoptive placement, then a second one that ends in adoption.
        7 => {
            let placed = days(order, 30, 120);
            let broke = days(placed, 20, 120);
            let matched = days(broke, 30, 150);
            let placed_again = days(matched, 14, 60);
            let adopted = days(placed_again, 90, 300);
            changes.push(Change {
                on: order,
                legal_status: Some("E1"),
                placement: None,
            });
            changes.push(Change {
                on: placed,
                legal_status: None,
                placement: Some(("A6", true)),
            });
            changes.push(Change {
                on: broke,
                legal_status: None,
                placement: Some(("U1", true)),
            });
            changes.push(Change {
                on: placed_again,
                legal_status: None,
                placement: Some(("A6", true)),
            });
            end = Some((adopted, "E11"));
            decisions.push((decided, None));
            milestones.shobpa_decision_on = seen(decided);
            milestones.placement_order_on = seen(order);
            if adopted <= as_of {
                ad1 = Some((decided, matched, false, adopted));
                milestones.match_decision_on = Some(matched);
                milestones.placed_on = Some(placed_again);
                milestones.adoption_order_on = Some(adopted);
            }
        }
        // Adopted by the foster carers: to them early, the placement becomes adoptive with
        // the same carers after the match.
        1 => {
            let to_carers = days(start, 5, 50);
            let decided = decided.max(days(to_carers, 1, 30));
            let order = days(decided, 20, 150);
            let matched = days(order, 20, 100);
            let placed = days(matched, 7, 30);
            let adopted = days(placed, 90, 300);
            changes.push(Change {
                on: to_carers,
                legal_status: None,
                placement: Some(("U4", true)),
            });
            changes.push(Change {
                on: order,
                legal_status: Some("E1"),
                placement: None,
            });
            changes.push(Change {
                on: placed,
                legal_status: None,
                placement: Some(("A5", false)),
            });
            end = Some((adopted, "E12"));
            decisions.push((decided, None));
            milestones.shobpa_decision_on = seen(decided);
            milestones.placement_order_on = seen(order);
            if adopted <= as_of {
                ad1 = Some((decided, matched, true, adopted));
                milestones.match_decision_on = Some(matched);
                milestones.placed_on = Some(placed);
                milestones.adoption_order_on = Some(adopted);
                milestones.adopted_by_foster_carers = true;
                milestones.foster_placement_started_on = Some(to_carers);
            }
        }
        // The plan changes away from adoption and the placement order is revoked.
        2 => {
            let changed = days(order, 60, 200);
            let revoked = days(changed, 1, 60);
            let reason = [
                PlanChangeReason::Rd1,
                PlanChangeReason::Rd2,
                PlanChangeReason::Rd3,
                PlanChangeReason::Rd4,
            ][rng.random_range(0..4)];
            changes.push(Change {
                on: order,
                legal_status: Some("E1"),
                placement: None,
            });
            changes.push(Change {
                on: revoked,
                legal_status: Some("C2"),
                placement: None,
            });
            decisions.push((decided, Some((changed, reason))));
            milestones.shobpa_decision_on = seen(decided);
            milestones.placement_order_on = seen(order);
            if changed <= as_of {
                milestones.plan_changed_on = Some(changed);
                plan_change_reason = Some(reason);
            }
            milestones.placement_order_revoked_on = seen(revoked);
        }
        // Waiting: a decision and a placement order, no match yet.
        4 => {
            changes.push(Change {
                on: order,
                legal_status: Some("E1"),
                placement: None,
            });
            decisions.push((decided, None));
            milestones.shobpa_decision_on = seen(decided);
            milestones.placement_order_on = seen(order);
        }
        // In care, no adoption plan.
        _ => {}
    }
    milestones.adoption_plan_on = milestones.shobpa_decision_on;
    episodes.extend(period(start, "C2", "U1", &changes, end, as_of));
    let decisions = decisions
        .into_iter()
        .filter(|(decided, _)| *decided <= as_of)
        .collect();

    let gender = if rng.random_bool(0.5) {
        Gender::Female
    } else {
        Gender::Male
    };
    let ethnic = ETHNIC_CODES[rng.random_range(0..ETHNIC_CODES.len())];
    History {
        reference: format!("R{index:05}"),
        journey: ExpectedJourney {
            date_of_birth,
            gender,
            ethnicity: crate::import::ssda903::files::ethnicity(ethnic)
                .unwrap_or(Ethnicity::NotRecorded),
            milestones,
            plan_change_reason,
        },
        episodes,
        decisions,
        ad1,
    }
}

/// The four files of the return ending in `year`.
fn returns_of(year: i32, histories: &[History]) -> Vec<GeneratedFile> {
    let start = NaiveDate::from_ymd_opt(year - 1, 4, 1).unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(year, 3, 31).unwrap_or_default();
    let date = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
    let mut header = String::from("CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n");
    let mut episodes = String::from(
        "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,\
         PL_POST,URN\n",
    );
    let mut ad1 =
        String::from("CHILD,DOB,DATE_INT,DATE_MATCH,FOSTER_CARE,NB_ADOPTR,SEX_ADOPTR,LS_ADOPTR\n");
    let mut decisions =
        String::from("CHILD,DOB,DATE_PLACED,DATE_PLACED_CEASED,REASON_PLACED_CEASED\n");
    for h in histories {
        let within: Vec<&Episode> = h
            .episodes
            .iter()
            .filter(|e| e.starts_on <= end && e.ended.is_none_or(|(on, _)| on >= start))
            .collect();
        if within.is_empty() {
            continue;
        }
        let j = &h.journey;
        let sex = match (j.gender, year < 2022) {
            (Gender::Male, true) => "1",
            (_, true) => "2",
            (Gender::Male, false) => "M",
            (_, false) => "F",
        };
        let ethnic = match j.ethnicity {
            Ethnicity::WhiteBritish => "WBRI",
            Ethnicity::WhiteOther => "WOTH",
            Ethnicity::Mixed => "MOTH",
            Ethnicity::Asian => "AOTH",
            Ethnicity::Black => "BOTH",
            Ethnicity::Other => "OOTH",
            Ethnicity::NotRecorded => "NOBT",
        };
        let dob = date(j.date_of_birth);
        let _ = writeln!(header, "{},{sex},{dob},{ethnic},UN1,,", h.reference);
        for e in within {
            let (dec, rec) = match e.ended.filter(|(on, _)| *on <= end) {
                Some((on, reason)) => (date(on), reason),
                None => (String::new(), ""),
            };
            let _ = writeln!(
                episodes,
                "{},{},{},{},N1,{},PR1,{dec},{rec},,,,",
                h.reference,
                date(e.starts_on),
                e.reason_new,
                e.legal_status,
                e.placement
            );
        }
        for (decided, reversed) in h.decisions.iter().filter(|(d, _)| *d <= end) {
            let (ceased, reason) = match reversed.filter(|(on, _)| *on <= end) {
                Some((on, reason)) => (date(on), reason.code()),
                None => (String::new(), ""),
            };
            let _ = writeln!(
                decisions,
                "{},{dob},{},{ceased},{reason}",
                h.reference,
                date(*decided)
            );
        }
        if let Some((decided, matched, by_carers, adopted)) = h.ad1
            && start <= adopted
            && adopted <= end
        {
            let _ = writeln!(
                ad1,
                "{},{dob},{},{},{},2,MF,L0",
                h.reference,
                date(decided),
                date(matched),
                u8::from(by_carers)
            );
        }
    }
    [
        (FileKind::Header, header),
        (FileKind::Episodes, episodes),
        (FileKind::Ad1, ad1),
        (FileKind::PlacedForAdoption, decisions),
    ]
    .into_iter()
    .map(|(kind, text)| GeneratedFile {
        name: format!("SSDA903_{year}_{}.csv", kind.name()),
        kind,
        year,
        text,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::ssda903::{code, identify, import};

    fn spec() -> Ssda903Spec {
        Ssda903Spec {
            children: 400,
            first_year: 2016,
            last_year: 2025,
            seed: 17,
        }
    }

    #[test]
    fn the_import_derives_the_journeys_the_files_were_written_from() {
        let generated = generate(&spec());
        assert_eq!(generated.files.len(), 40);
        let result = import(
            None,
            generated.files.iter().map(|f| {
                let file = identify(&f.name).expect("a DfE file name");
                (file, f.text.as_bytes())
            }),
            generated.as_of,
        );
        let errors: Vec<_> = result.problems.iter().filter(|p| p.is_error()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(result.problems_of(code::UNKNOWN_COLUMN).is_empty());
        assert_eq!(result.children.len(), generated.journeys.len());
        let mut adopted = 0;
        for child in &result.children {
            let expected = &generated.journeys[&child.reference];
            assert_eq!(
                child.milestones.edit(),
                expected.milestones,
                "{}",
                child.reference
            );
            assert_eq!(child.date_of_birth, expected.date_of_birth);
            assert_eq!(child.gender, expected.gender);
            assert_eq!(child.ethnicity, expected.ethnicity);
            assert_eq!(child.plan_change_reason, expected.plan_change_reason);
            adopted += usize::from(child.milestones.adoption_order_on.is_some());
        }
        // Enough of every shape to mean something.
        assert!(adopted > 100, "{adopted} adopted");
        assert!(
            result
                .children
                .iter()
                .any(|c| c.milestones.adopted_by_foster_carers)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_files() {
        assert_eq!(generate(&spec()), generate(&spec()));
        let other = generate(&Ssda903Spec { seed: 18, ..spec() });
        assert_ne!(other.files, generate(&spec()).files);
    }
}
