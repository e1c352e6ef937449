//! From the stacked returns to each child's journey (DESIGN §2), one rule at a time.
//!
//! **Stacking the years.** Each return lists every episode open at any time in its year,
//! so an episode that spans 31 March appears in both returns, often with its end (`DEC`,
//! `REC`) only in the later one; and a later return may correct an earlier year. The key of
//! an episode is (`CHILD`, `DECOM`), of a decision (`CHILD`, `DATE_PLACED`), of a `header` or
//! `ad1` row the `CHILD`: where two years carry the same key, **the later year wins**. An
//! earlier year's episode whose dates reach into the window of a later episodes return
//! (1 April to 31 March) that does not carry it was corrected away by that return: it is
//! dropped, with a [`SUPERSEDED_EPISODE`](code::SUPERSEDED_EPISODE) warning.
//!
//! **Periods of care.** The guide defines a period of care as the unbroken run of episodes
//! from the day a child starts to be looked after to the day they cease to be. An episode
//! *continues* the period of the one before when it commences the day that one ceased
//! (`DECOM` = previous `DEC`) and that one ceased with `REC` `X1` ("episode ceases and new
//! episode begins on same day, for any reason"); an episode with `RNE` `S` ("started to be
//! looked after"), or one after a gap or after a `REC` other than `X1`, starts a new period.
//!
//! **The journey's period.** A child may be looked after more than once; the journey
//! belongs to the latest period with any sign of adoption (a legal status `E1`/`D1`, a
//! placement `A3`–`A6`, an episode ceasing `E11`/`E12`, or a decision that the child should
//! be placed for adoption dated within it), else to the latest period. The milestones are
//! taken from that period only; the rules for each are at the functions below.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use super::FileKind;
use super::files::{Ad1Row, DecisionRow, EpisodeRow, HeaderRow, Rows};
use super::{ImportedChild, SuppliedFile, code, collection_window};
use crate::domain::{MilestoneDraft, MilestoneField};
use crate::import::{Problem, Severity};

/// Legal statuses that give the authority the court's authority to place for adoption:
/// `E1` placement order granted, `D1` freeing order granted (DESIGN §2: "a freeing order
/// counts the same").
fn is_placement_order(legal_status: &str) -> bool {
    matches!(legal_status, "E1" | "D1")
}

/// Placement types of a child placed for adoption: `A3` with placement consent, with
/// current foster carer(s); `A4` with placement consent, not with current foster carer(s);
/// `A5` with a placement order, with current foster carer(s); `A6` with a placement order,
/// not with current foster carer(s).
fn is_adoptive(placement: &str) -> bool {
    matches!(placement, "A3" | "A4" | "A5" | "A6")
}

/// The adoptive placement types "with current foster carer(s)" (DfE rule 335 pairs them
/// with `FOSTER_CARE` 1).
fn is_with_foster_carer(placement: &str) -> bool {
    matches!(placement, "A3" | "A5")
}

/// Reasons an episode ceased that mean the child was adopted: `E11` adopted, application
/// for an adoption order unopposed; `E12` adopted, consent dispensed with by the court.
fn is_adoption(reason_ended: Option<&str>) -> bool {
    matches!(reason_ended, Some("E11" | "E12"))
}

/// Whether an episode began with the child staying with the same carer(s) as in the
/// episode before: `RNE` `L` (legal status changed only), `B` (placement changed, carers
/// unchanged) or `U` (legal status and placement changed, carers unchanged). `P` and `T`
/// are a change of carer; `S` is the start of care.
fn same_carer(episode: &EpisodeRow) -> bool {
    matches!(episode.reason_new.as_str(), "L" | "B" | "U")
}

/// Whether `next` continues the period of care of `previous` (see the module docs).
fn continues(previous: &EpisodeRow, next: &EpisodeRow) -> bool {
    next.reason_new != "S"
        && previous.ends_on == Some(next.starts_on)
        && previous.reason_ended.as_deref().is_none_or(|r| r == "X1")
}

/// Whether an episode's dates reach into the collection ending in `year`.
fn reaches_into(episode: &EpisodeRow, year: i32) -> bool {
    let Some((start, end)) = collection_window(year) else {
        return false;
    };
    episode.starts_on <= end && episode.ends_on.is_none_or(|ends| ends >= start)
}

/// Keeps, of rows sharing a key, the one of the latest year (the later return wins).
fn latest_by<K: std::hash::Hash + Eq, T>(
    rows: Vec<T>,
    key: impl Fn(&T) -> K,
    year: impl Fn(&T) -> i32,
) -> HashMap<K, T> {
    let mut kept: HashMap<K, T> = HashMap::new();
    for row in rows {
        match kept.get(&key(&row)) {
            Some(held) if year(held) >= year(&row) => {}
            _ => {
                kept.insert(key(&row), row);
            }
        }
    }
    kept
}

/// What one child's rows are, once stacked.
struct ChildRows<'a> {
    reference: &'a str,
    header: &'a HeaderRow,
    /// By `DECOM`.
    episodes: &'a [EpisodeRow],
    ad1: Option<&'a Ad1Row>,
    /// By `DATE_PLACED`.
    decisions: &'a [DecisionRow],
}

/// Stacks the years and derives every child's journey; the children whose journey could
/// not be derived or failed validation are left out, with an error in `problems`.
pub(super) fn derive_all(
    files: &[SuppliedFile],
    rows: Rows,
    today: NaiveDate,
    problems: &mut Vec<Problem>,
) -> Vec<ImportedChild> {
    let name = |at: usize| files.get(at).map_or("", |f| f.name.as_str());
    let headers = latest_by(rows.headers, |r| r.child.clone(), |r| r.year);
    let ad1 = latest_by(rows.ad1, |r| r.child.clone(), |r| r.year);
    let episode_years: BTreeSet<i32> = files
        .iter()
        .filter(|f| f.kind == FileKind::Episodes)
        .map(|f| f.year)
        .collect();

    let mut episodes: BTreeMap<String, Vec<EpisodeRow>> = BTreeMap::new();
    let mut notes: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    for (_, episode) in latest_by(
        rows.episodes,
        |r| (r.child.clone(), r.starts_on),
        |r| r.year,
    ) {
        if let Some(later) = episode_years
            .range(episode.year + 1..)
            .find(|&&year| reaches_into(&episode, year))
        {
            notes.entry(episode.child.clone()).or_default().push(
                Problem::warning(
                    code::SUPERSEDED_EPISODE,
                    format!(
                        "this episode of the {} return reaches into the {later} return, \
                         which does not carry it; the later return wins and the episode is \
                         left out",
                        episode.year
                    ),
                )
                .in_file(name(episode.at.file))
                .at_row(episode.at.row)
                .for_reference(&episode.child)
                .in_column("DECOM")
                .with_value(&episode.starts_on.format("%d/%m/%Y").to_string()),
            );
            continue;
        }
        episodes
            .entry(episode.child.clone())
            .or_default()
            .push(episode);
    }
    let mut decisions: HashMap<String, Vec<DecisionRow>> = HashMap::new();
    for (_, decision) in latest_by(
        rows.decisions,
        |r| (r.child.clone(), r.decided_on),
        |r| r.year,
    ) {
        decisions
            .entry(decision.child.clone())
            .or_default()
            .push(decision);
    }

    let mut children = Vec::new();
    let mut without_episodes: Vec<&HeaderRow> = headers
        .values()
        .filter(|h| !episodes.contains_key(&h.child))
        .collect();
    without_episodes.sort_by(|a, b| a.child.cmp(&b.child));
    for header in without_episodes {
        problems.push(
            Problem::warning(
                code::NO_EPISODES,
                "this child has no episode in any episodes file supplied; the child is not \
                 imported",
            )
            .in_file(name(header.at.file))
            .at_row(header.at.row)
            .for_reference(&header.child),
        );
    }
    for (reference, child_episodes) in &mut episodes {
        let mut child_problems = notes.remove(reference).unwrap_or_default();
        let Some(header) = headers.get(reference) else {
            problems.extend(child_problems);
            problems.push(
                Problem::error(
                    code::NO_HEADER,
                    "this child has episodes but no row in any header file supplied, so \
                     their date of birth, sex and ethnicity are not known",
                )
                .for_reference(reference),
            );
            continue;
        };
        child_episodes.sort_by_key(|e| e.starts_on);
        let child_decisions = match decisions.get_mut(reference) {
            Some(list) => {
                list.sort_by_key(|d| d.decided_on);
                list.as_slice()
            }
            None => &[],
        };
        let child = ChildRows {
            reference,
            header,
            episodes: child_episodes,
            ad1: ad1.get(reference.as_str()),
            decisions: child_decisions,
        };
        let derived = derive_child(&child, files, today, &mut child_problems);
        if let Some(mut imported) = derived {
            imported.notes = child_problems
                .iter()
                .filter(|p| p.severity == Severity::Warning)
                .cloned()
                .collect();
            children.push(imported);
        }
        problems.extend(child_problems);
    }
    children
}

/// Derives one child's journey, or `None` (with an error in `problems`).
fn derive_child(
    child: &ChildRows<'_>,
    files: &[SuppliedFile],
    today: NaiveDate,
    problems: &mut Vec<Problem>,
) -> Option<ImportedChild> {
    let name = |at: usize| files.get(at).map_or("", |f| f.name.as_str());
    let at_episode = |p: Problem, e: &EpisodeRow| -> Problem {
        p.in_file(name(e.at.file))
            .at_row(e.at.row)
            .for_reference(child.reference)
    };
    let date = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
    let episodes = child.episodes;

    // Episodes of one child follow one another: none starts before the one before ended.
    for pair in episodes.windows(2) {
        let [previous, next] = pair else { continue };
        if previous.ends_on.is_none_or(|ends| ends > next.starts_on) {
            problems.push(at_episode(
                Problem::error(
                    code::EPISODES_OVERLAP,
                    "this episode commences before the child's previous episode ceased",
                )
                .in_column("DECOM")
                .with_value(&date(next.starts_on)),
                next,
            ));
            return None;
        }
    }

    // Periods of care: (first, last) episode indices, inclusive.
    let mut periods: Vec<(usize, usize)> = Vec::new();
    for (i, episode) in episodes.iter().enumerate() {
        match periods.last_mut() {
            Some((_, last)) if continues(&episodes[*last], episode) => *last = i,
            _ => periods.push((i, i)),
        }
    }
    // The bounds of each period for decisions: from its start (or, when its start is not
    // in the returns, the end of the period before) to its end.
    let bounds = |index: usize| -> (NaiveDate, NaiveDate) {
        let (first, last) = periods[index];
        let from = if episodes[first].reason_new == "S" {
            episodes[first].starts_on
        } else if index == 0 {
            NaiveDate::MIN
        } else {
            let (_, before) = periods[index - 1];
            episodes[before]
                .ends_on
                .unwrap_or(episodes[first].starts_on)
        };
        (from, episodes[last].ends_on.unwrap_or(NaiveDate::MAX))
    };
    let signs_of_adoption = |index: usize| -> bool {
        let (first, last) = periods[index];
        let (from, to) = bounds(index);
        episodes[first..=last].iter().any(|e| {
            is_placement_order(&e.legal_status)
                || is_adoptive(&e.placement)
                || is_adoption(e.reason_ended.as_deref())
        }) || child
            .decisions
            .iter()
            .any(|d| from <= d.decided_on && d.decided_on <= to)
    };
    let journey = (0..periods.len())
        .rev()
        .find(|&i| signs_of_adoption(i))
        .unwrap_or(periods.len().saturating_sub(1));
    let (first, last) = *periods.get(journey)?;
    let (from, to) = bounds(journey);
    let period = &episodes[first..=last];
    let opening = &period[0];
    let closing = &period[period.len() - 1];

    let mut draft = MilestoneDraft::default();

    // enteredCareOn: "the date the child started to be looked after" — the DECOM of the
    // period's first episode, when that episode's RNE is S. Otherwise the period began
    // before the earliest return supplied, and the date is not guessed.
    let care_start_known = opening.reason_new == "S";
    if care_start_known {
        draft.entered_care_on = Some(opening.starts_on);
    }

    // adoptionOrderOn: the DEC of the episode that ceased with REC E11/E12 ("adopted");
    // it closes the period.
    let adopted = is_adoption(closing.reason_ended.as_deref()) && closing.ends_on.is_some();
    if adopted {
        draft.adoption_order_on = closing.ends_on;
    }

    // placementOrderOn: the DECOM of the period's first episode with LS E1 (placement order
    // granted) or D1 (freeing order granted): a change of legal status starts an episode.
    draft.placement_order_on = period
        .iter()
        .find(|e| is_placement_order(&e.legal_status))
        .map(|e| e.starts_on);

    // placementOrderRevokedOn: a child not adopted whose legal status after the last
    // E1/D1 episode is another one has had the order revoked on the day that next episode
    // commenced; one who ceased to be looked after (other than by adoption) under E1/D1
    // had it end with the episode (its DEC).
    if !adopted
        && let Some(i) = period
            .iter()
            .rposition(|e| is_placement_order(&e.legal_status))
    {
        draft.placement_order_revoked_on = match period.get(i + 1) {
            Some(next) => Some(next.starts_on),
            None => period[i].ends_on,
        };
    }

    // shobpaDecisionOn: placed_for_adoption.DATE_PLACED is "the date of the decision that
    // the child should be placed for adoption" — the agency decision, not the day the child
    // moved. Of the decisions dated within the journey's period, the latest stands (an
    // earlier one was superseded by it). Where there is none, ad1.DATE_INT (the same
    // decision, as recorded on adoption) of an adopted child is used.
    let decision = child
        .decisions
        .iter()
        .rev()
        .find(|d| from <= d.decided_on && d.decided_on <= to);
    let ad1 = child.ad1.filter(|_| adopted);
    draft.shobpa_decision_on = decision
        .map(|d| d.decided_on)
        .or(ad1.and_then(|a| a.decided_on));
    if let (Some(decision), Some(decided_on)) = (decision, ad1.and_then(|a| a.decided_on))
        && decided_on != decision.decided_on
    {
        problems.push(
            Problem::warning(
                code::SHOBPA_DATES_DIFFER,
                format!(
                    "ad1 DATE_INT ({}) differs from placed_for_adoption DATE_PLACED ({}); \
                     shobpaDecisionOn takes DATE_PLACED",
                    date(decided_on),
                    date(decision.decided_on)
                ),
            )
            .in_file(name(decision.at.file))
            .at_row(decision.at.row)
            .for_reference(child.reference)
            .in_column("DATE_PLACED")
            .with_value(&date(decision.decided_on)),
        );
    }
    // adoptionPlanOn: the returns carry no date for the plan agreed at review; the
    // decision that the child should be placed for adoption is the latest day it can have
    // been agreed, so the plan takes that date (and a plan change has a plan to change).
    draft.adoption_plan_on = draft.shobpa_decision_on;

    // planChangedOn and its reason: DATE_PLACED_CEASED, "the date of the decision that the
    // child should no longer be placed for adoption", and REASON_PLACED_CEASED (RD1 the
    // child's needs changed, RD2 the court did not make a placement order, RD3 prospective
    // adopters could not be found, RD4 any other reason), of the standing decision.
    let plan_change_reason = decision.and_then(|d| d.reason);
    draft.plan_changed_on = decision.and_then(|d| d.ceased_on);

    // matchDecisionOn: ad1.DATE_MATCH, "the date the child was matched with the prospective
    // adopter(s)", completed for children adopted in the year.
    draft.match_decision_on = ad1.and_then(|a| a.matched_on);

    // Runs of adoptive placement: consecutive A3–A6 episodes with the same carer(s) (each
    // after the first began with RNE L, B or U). placedOn is the first day of the run that
    // ended in the adoption order; any other run ended without one (a disruption).
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, episode) in period.iter().enumerate() {
        if !is_adoptive(&episode.placement) {
            continue;
        }
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i && same_carer(episode) => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let final_run = runs
        .last()
        .copied()
        .filter(|&(_, end)| end + 1 == period.len());
    for &(start, end) in &runs {
        let ongoing = Some((start, end)) == final_run && (adopted || closing.ends_on.is_none());
        if !ongoing {
            problems.push(at_episode(
                Problem::warning(
                    code::PLACEMENT_DISRUPTED,
                    format!(
                        "the adoptive placement that began on {} ended without an adoption \
                         order; it does not count as placedOn",
                        date(period[start].starts_on)
                    ),
                )
                .in_column("PLACE")
                .with_value(&period[start].placement),
                &period[start],
            ));
        }
    }
    let mut adoptive_start = None;
    if adopted {
        match final_run {
            Some((start, _)) => adoptive_start = Some(start),
            None => {
                problems.push(at_episode(
                    Problem::error(
                        code::ADOPTED_NOT_PLACED,
                        "this episode ceased with an adoption (E11/E12) but its placement is \
                         not a placement for adoption (A3–A6)",
                    )
                    .in_column("PLACE")
                    .with_value(&closing.placement),
                    closing,
                ));
                return None;
            }
        }
    } else if let Some((start, _)) = final_run
        && closing.ends_on.is_none()
    {
        if draft.match_decision_on.is_some() {
            adoptive_start = Some(start);
        } else {
            problems.push(at_episode(
                Problem::warning(
                    code::PLACED_NOT_MATCHED,
                    format!(
                        "placed for adoption since {}, but the returns give the match date \
                         only on adoption (ad1), so placedOn is left for the service to record",
                        date(period[start].starts_on)
                    ),
                )
                .in_column("PLACE")
                .with_value(&period[start].placement),
                &period[start],
            ));
        }
    }
    draft.placed_on = adoptive_start.map(|i| period[i].starts_on);

    // adoptedByFosterCarers: ad1.FOSTER_CARE 1, "adopted by the child's foster carer(s)";
    // without ad1, the adoptive placement type (A3/A5: with current foster carer(s)).
    // fosterPlacementStartedOn (A10): the first day of the unbroken placement with the
    // carers who adopt — from the adoptive placement, back over every episode that began
    // with the same carer(s) (RNE L, B, U) to the one where the child came to them.
    if let Some(start) = adoptive_start {
        let with_carer = is_with_foster_carer(&closing.placement);
        let by_foster_carers = ad1.and_then(|a| a.by_foster_carers).unwrap_or(with_carer);
        if let Some(a) = ad1
            && a.by_foster_carers.is_some_and(|flag| flag != with_carer)
        {
            problems.push(
                Problem::warning(
                    code::FOSTER_CARE_MISMATCH,
                    format!(
                        "FOSTER_CARE says the child was{} adopted by the foster carer, but \
                         the placement {} is one {} the current foster carer; FOSTER_CARE is \
                         taken",
                        if by_foster_carers { "" } else { " not" },
                        closing.placement,
                        if with_carer { "with" } else { "not with" }
                    ),
                )
                .in_file(name(a.at.file))
                .at_row(a.at.row)
                .for_reference(child.reference)
                .in_column("FOSTER_CARE"),
            );
        }
        if by_foster_carers {
            let mut with_them = start;
            while with_them > 0 && same_carer(&period[with_them]) {
                with_them -= 1;
            }
            draft.adopted_by_foster_carers = true;
            draft.foster_placement_started_on = Some(period[with_them].starts_on);
        }
    }

    if !care_start_known {
        let severity = if draft.latest().is_some() {
            Severity::Error
        } else {
            Severity::Warning
        };
        problems.push(at_episode(
            Problem::new(
                code::CARE_START_UNKNOWN,
                severity,
                format!(
                    "care started before the earliest return supplied: the first episode of \
                     this period of care in the files commences on {} with RNE {}, not S, so \
                     enteredCareOn is not known{}",
                    date(opening.starts_on),
                    opening.reason_new,
                    if severity == Severity::Error {
                        "; supply the return of the year the child started to be looked after"
                    } else {
                        ""
                    }
                ),
            )
            .in_column("RNE")
            .with_value(&opening.reason_new),
            opening,
        ));
        if severity == Severity::Error {
            return None;
        }
    }

    // The same validation as the API.
    match draft.validate(child.header.date_of_birth, today) {
        Ok(milestones) => Some(ImportedChild {
            reference: child.reference.to_owned(),
            date_of_birth: child.header.date_of_birth,
            gender: child.header.gender,
            ethnicity: child.header.ethnicity,
            milestones,
            plan_change_reason,
            notes: Vec::new(),
        }),
        Err(error) => {
            let mut problem = Problem::error(
                code::JOURNEY_INVALID,
                format!(
                    "the journey derived from the returns is refused: {}",
                    error.message
                ),
            )
            .for_reference(child.reference)
            .in_column(error.field.name());
            if let Some(value) = field_value(&draft, error.field) {
                problem = problem.with_value(&value);
            }
            problems.push(problem);
            None
        }
    }
}

/// The value of a milestone field, as a problem shows it.
fn field_value(draft: &MilestoneDraft, field: MilestoneField) -> Option<String> {
    use MilestoneField::*;
    let date = match field {
        EnteredCareOn => draft.entered_care_on,
        AdoptionPlanOn => draft.adoption_plan_on,
        ShobpaDecisionOn => draft.shobpa_decision_on,
        PlacementOrderOn => draft.placement_order_on,
        MatchDecisionOn => draft.match_decision_on,
        PlacedOn => draft.placed_on,
        AdoptionOrderOn => draft.adoption_order_on,
        FosterPlacementStartedOn => draft.foster_placement_started_on,
        PlanChangedOn => draft.plan_changed_on,
        PlacementOrderRevokedOn => draft.placement_order_revoked_on,
        AdoptedByFosterCarers => return Some(draft.adopted_by_foster_carers.to_string()),
    };
    date.map(|d| d.format("%d/%m/%Y").to_string())
}
