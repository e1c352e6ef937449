//! Link histories: the past links of an authority's children brought in, in the state
//! each ended in (or stands in now), so the flows count their placements and each child
//! matched, placed or adopted is paired with its household.
//!
//! The rows ([`crate::import::links`]) name the children and households by the
//! references an SSDA903 import and an adopter register import gave them; a household may
//! be of another authority of the consortium (a cross-boundary link). Import the children
//! and the households first.
//!
//! **Same rules as the API.** Each link is taken through the steps the API would take
//! (match decision, placement, adoption order or disruption), in the order of the match
//! dates, and every effect a step has through the API it has here:
//! * **The household** takes each step through its stage machine from where its recorded
//!   journey stands: it must be approved and off hold to be matched, the step's date may
//!   not be before its last event, and a household matched or placed cannot be matched
//!   again ([`code::HOUSEHOLD_REFUSED`]). It gets the `MATCHED`, `PLACED` and
//!   `ADOPTION_ORDER` recruitment events; one the history leaves matched, placed or
//!   adopted is no longer available for matching. A disruption returns it to `APPROVED`
//!   without an event, as the API does; its availability is then left as staff set it
//!   since (the review after a disruption came after it).
//! * **The child was waiting** for a family on the match date, as the API's match decision
//!   requires ([`MilestoneDates::is_waiting_on`], the journey's dates for this link left
//!   out of the question; [`code::JOURNEY_CONFLICT`]).
//! * **The child's journey** records the match, placement and adoption order of the link
//!   that led, or leads, to its adoption: a date the child's journey holds must be the
//!   link's ([`code::CHILD_DIFFERS`]), a date it lacks is filled in, and the result must
//!   pass the milestone validation ([`code::JOURNEY_CONFLICT`]). A disrupted link leaves
//!   the child's dates alone, except that the child's match and placement, when they are
//!   that link's, are cleared, as the API's disruption clears them.
//! * **One link at a time.** A link covers its children from its match to its adoption
//!   order or end; no two may cover a child at the same time ([`code::CHILD_HELD`]), and a
//!   household is matched or placed through one at a time (the stage machine). A link left
//!   matched or placed for a child whose journey is further on (placed, adopted) could
//!   never be taken further through the API: [`code::CHILD_DIFFERS`]. A child an open
//!   link covers keeps its dates for that link ([`code::LINK_OWNS_DATE`]), checked again
//!   under the write lock.
//! * **Sibling groups.** A child of a must-stay-together group is linked with its group as
//!   one unit: the group's rows must name every member with the same household and dates
//!   ([`code::SIBLING_GROUP`]).
//! * **Fees** are for links across authorities ([`code::FEE_WITHIN_AUTHORITY`]), agreed
//!   at the match: a link recorded without one does not get one later.
//!
//! **Re-imports.** A link is known again by its child (or group), household and match
//! date. A link held that the history takes further (placed, adopted, disrupted since) is
//! taken through the steps it lacks; one the history describes otherwise is
//! [`code::HISTORY_DIFFERS`] (recorded steps are never rewritten); one it describes as held
//! is unchanged, and so is everything else: the same file again changes nothing.
//!
//! **Who may import.** The child's authority records the match decision and the outcomes
//! of its children's links, so a link history needs what a `DECISION_MAKER` may do there:
//! record decisions for children ([`Capability::DecideForChildren`]), placements and
//! adoption orders ([`Capability::RecordPlacements`]) and take links forward
//! ([`Capability::ProgressLinks`]). A link with another authority's household is one that
//! authority accepted through the API, and it changes that household's record, so each
//! such row also needs [`Capability::ProgressLinks`] in the household's authority (a
//! `FAMILY_FINDER` or `DECISION_MAKER` there), checked before that authority's households
//! are looked up ([`code::NOT_PERMITTED`]). The `permanence import links` command, run by
//! the operator, acts as such a person in every authority of the consortium. One `IMPORT`
//! audit event records the import, as for the other imports, and each other authority
//! whose households it changed gets one too; no notification is sent.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use chrono::{NaiveDate, Utc};
use entity::{child, household, link};
use sea_orm::ActiveValue::Set;
use serde_json::json;

use super::Service;
use super::children::set_milestones;
use super::households::event_row;
use super::imports::{ImportReport, ImportTotals, read_template};
use super::records::{Decoded, target_authority};
use crate::auth::Capability;
use crate::auth::policy::milestones_of;
use crate::domain::links::{LinkState, LinkStep};
use crate::domain::{MilestoneDates, MilestoneDraft, RecruitmentEvent, Stage, StageMachine};
use crate::error::{AppError, AppResult};
use crate::import::links::{self as rows, ImportedLink, LinksImport, RowAt};
use crate::import::{FilesDigest, Problem, code};
use crate::store;
use crate::store::codes::{self as codes, HouseholdCodes};
use crate::store::imports::{ChildChange, HouseholdChange, LinkChange, LinkWrites, NewLink};

/// The authority a link history import by the caller may write to: one of its consortium
/// where it may record its children's decisions, placements and adoption orders and take
/// links forward. Checked before the file is read.
pub fn importing_links_into(svc: Service<'_>, authority_id: Decoded<i64>) -> AppResult<i64> {
    let actor = svc.actor()?;
    let authority_id = target_authority(
        svc,
        actor,
        Some(authority_id),
        Capability::DecideForChildren,
    )?;
    actor.require(Capability::RecordPlacements, authority_id)?;
    actor.require(Capability::ProgressLinks, authority_id)?;
    Ok(authority_id)
}

/// Reads a link history (the template), named `name`, digested as it passes; dates checked
/// as of `today`.
pub fn read_links<R: Read>(name: &str, source: R, today: NaiveDate) -> (LinksImport, FilesDigest) {
    read_template(name, source, today, |name, source, today| {
        rows::read(name, source, today)
    })
}

/// What a link is taken through: a child alone, or a must-stay-together group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Unit {
    Child(i64),
    Group(i64),
}

/// One link of the history: its unit, household, the rows that describe it (one per
/// child) and the children it covers.
struct PlannedLink {
    unit: Unit,
    household_id: i64,
    household_authority_id: i64,
    rows: Vec<ImportedLink>,
    child_ids: Vec<i64>,
}

impl PlannedLink {
    fn link(&self) -> &ImportedLink {
        &self.rows[0]
    }
}

/// A household as the history leaves it: where its journey stands and the events added.
#[derive(Clone)]
struct HouseholdSim {
    machine: StageMachine,
    events: Vec<RecruitmentEvent>,
    changed: bool,
}

/// A child's journey as the history leaves it, and the first row that changed it.
#[derive(Clone)]
struct ChildSim {
    draft: MilestoneDraft,
    changed_by: Option<RowAt>,
}

/// A link of the plan: one held, or one to create (by its index in the plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    Held(i64),
    Planned(usize),
}

/// When a link covered a child: from its match to its adoption order or end (`None`:
/// it still does).
#[derive(Clone, Copy, Debug)]
struct Covering {
    by: Holder,
    from: NaiveDate,
    until: Option<NaiveDate>,
}

impl Covering {
    /// Whether the two links covered the child at the same time (one may begin on the day
    /// the other ended). A link covers at least the day of its match, even one that ended
    /// that day.
    fn overlaps(&self, other: &Covering) -> bool {
        let end = |c: &Covering| c.until.map(|u| u.max(c.from.succ_opt().unwrap_or(c.from)));
        let before = |from: NaiveDate, until: Option<NaiveDate>| until.is_none_or(|u| from < u);
        before(self.from, end(other)) && before(other.from, end(self))
    }
}

/// Imports one authority's link history, read into `import`: creates the links not held
/// yet, takes further those the history has gone on from, with their effects on the
/// children and households, in one transaction with its `IMPORT` event; with `dry_run`, or
/// when any problem is an error, writes nothing and reports what it would do.
pub async fn link_history(
    svc: Service<'_>,
    authority_id: Decoded<i64>,
    import: LinksImport,
    digest: &FilesDigest,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let actor = svc.actor()?;
    let authority_id = importing_links_into(svc, authority_id)?;
    let db = svc.db();
    let today = svc.today();
    let mut problems = import.problems;
    let mut totals = ImportTotals {
        read: import.links.len(),
        ..Default::default()
    };

    // The children, households and groups the rows name.
    let children: HashMap<i64, child::Model> = store::imports::imported_children(db, authority_id)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let child_by_reference: HashMap<&str, i64> = children
        .values()
        .filter_map(|c| c.import_reference.as_deref().map(|r| (r, c.id)))
        .collect();
    let directory = svc.state.directory.current();
    let consortium = directory
        .consortium_by_id(actor.consortium_id)
        .ok_or(AppError::NotFound)?;
    let mut resolved = Vec::with_capacity(import.links.len());
    for row in import.links {
        let household_authority = match &row.household_authority {
            None => Some(authority_id),
            Some(code) => consortium.authority_id(code),
        };
        let Some(household_authority) = household_authority else {
            problems.push(row.problem(
                code::UNKNOWN_AUTHORITY,
                "HOUSEHOLD_AUTHORITY",
                "no authority of the consortium has this code",
            ));
            continue;
        };
        // The household's side accepts a link through the API; here the importer must be
        // allowed to, before anything of that authority's households is looked up.
        if household_authority != authority_id
            && !actor.can(Capability::ProgressLinks, household_authority)
        {
            problems.push(row.problem(
                code::NOT_PERMITTED,
                "HOUSEHOLD_AUTHORITY",
                "your roles do not allow taking links forward for this authority's households \
                 (a FAMILY_FINDER or DECISION_MAKER there may)",
            ));
            continue;
        }
        let Some(child_id) = child_by_reference.get(row.child.as_str()).copied() else {
            problems.push(row.problem(
                code::UNKNOWN_CHILD,
                "CHILD",
                "no child of this authority was imported under this reference; import the \
                 SSDA903 returns first",
            ));
            continue;
        };
        resolved.push((row, child_id, household_authority));
    }
    let household_authorities: Vec<i64> = resolved
        .iter()
        .map(|(_, _, a)| *a)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let households: HashMap<i64, household::Model> =
        store::imports::referenced_households(db, &household_authorities)
            .await?
            .into_iter()
            .map(|h| (h.id, h))
            .collect();
    let household_by_reference: HashMap<(i64, &str), i64> = households
        .values()
        .filter_map(|h| {
            h.import_reference
                .as_deref()
                .map(|r| ((h.authority_id, r), h.id))
        })
        .collect();
    let group_ids: Vec<i64> = resolved
        .iter()
        .filter_map(|(_, c, _)| children[c].sibling_group_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let groups = store::imports::groups_staying_together(db, &group_ids).await?;

    // The rows by link: a child alone, or its group, with a household, matched on a day.
    let mut planned: BTreeMap<(NaiveDate, i64, Unit), PlannedLink> = BTreeMap::new();
    for (row, child_id, household_authority) in resolved {
        let Some(household_id) = household_by_reference
            .get(&(household_authority, row.household.as_str()))
            .copied()
        else {
            problems.push(row.problem(
                code::UNKNOWN_HOUSEHOLD,
                "HOUSEHOLD",
                "no household of its authority was imported under this reference; import \
                 its adopter register first",
            ));
            continue;
        };
        if row.fee_pence.is_some() && household_authority == authority_id {
            problems.push(row.problem(
                code::FEE_WITHIN_AUTHORITY,
                "INTER_AGENCY_FEE",
                "a link within one authority has no inter-agency fee",
            ));
            continue;
        }
        let unit = match children[&child_id].sibling_group_id {
            Some(group) if groups.contains_key(&group) => Unit::Group(group),
            _ => Unit::Child(child_id),
        };
        let link = planned
            .entry((row.matched_on, household_id, unit))
            .or_insert_with(|| PlannedLink {
                unit,
                household_id,
                household_authority_id: household_authority,
                rows: Vec::new(),
                child_ids: Vec::new(),
            });
        if link.child_ids.contains(&child_id) {
            problems.push(row.problem(
                rows::code::DUPLICATE_LINK,
                "MATCHED",
                "this child, household and match date appear more than once in the file; \
                 only the first row is read",
            ));
            continue;
        }
        link.rows.push(row);
        link.child_ids.push(child_id);
    }
    let mut links: Vec<PlannedLink> = Vec::with_capacity(planned.len());
    for (_, mut link) in planned {
        link.child_ids.sort_unstable();
        if let Unit::Group(group) = link.unit
            && let Some(problem) = group_problem(&link, &groups[&group])
        {
            problems.push(problem);
            continue;
        }
        links.push(link);
    }

    // The links held, by what they link and when they were matched; when each child was
    // covered by which link; which children an open link covers.
    let held = store::imports::links_of_children(db, actor.consortium_id, authority_id).await?;
    let mut covering: HashMap<i64, Vec<Covering>> = HashMap::new();
    let mut open: HashSet<i64> = HashSet::new();
    let mut held_by_key: HashMap<(Unit, i64, NaiveDate), &(link::Model, Vec<i64>)> = HashMap::new();
    for entry in &held {
        let (l, child_ids) = entry;
        let state = codes::link_state(l);
        if state.is_some_and(LinkState::is_open) {
            open.extend(child_ids);
        }
        let Some(matched_on) = l.matched_on else {
            continue;
        };
        let until = match state {
            Some(LinkState::Adopted) => l.adoption_order_on,
            Some(s) if s.is_final() => l.ended_on,
            _ => None,
        };
        for c in child_ids {
            covering.entry(*c).or_default().push(Covering {
                by: Holder::Held(l.id),
                from: matched_on,
                until,
            });
        }
        let unit = match (l.sibling_group_id, l.child_id) {
            (Some(group), _) => Unit::Group(group),
            (None, Some(child)) => Unit::Child(child),
            (None, None) => continue,
        };
        held_by_key.insert((unit, l.household_id, matched_on), entry);
    }

    // Each link through its steps, in the order of the match dates.
    let mut house_sims: HashMap<i64, HouseholdSim> = HashMap::new();
    let mut child_sims: HashMap<i64, ChildSim> = HashMap::new();
    let mut writes = LinkWrites::default();
    let now = Utc::now();
    for (index, planned) in links.iter().enumerate() {
        let row = planned.link();
        let rows_of = planned.rows.len();
        let found = held_by_key.get(&(planned.unit, planned.household_id, row.matched_on));
        let steps = match found {
            None => row.steps(),
            Some((l, _)) => match further(l, row) {
                Ok(steps) => steps,
                Err(column) => {
                    problems.push(row.problem(
                        code::HISTORY_DIFFERS,
                        column,
                        "the link is recorded with other dates for this step; recorded \
                         steps are never rewritten, so correct the file or the link",
                    ));
                    continue;
                }
            },
        };
        if steps.is_empty() {
            totals.unchanged += rows_of;
            continue;
        }
        if let Some((_, covered)) = found
            && *covered != planned.child_ids
        {
            problems.push(row.problem(
                code::SIBLING_GROUP,
                "CHILD",
                "the link covers other children than the group's rows name now; record its \
                 steps through the API",
            ));
            continue;
        }
        let state = row.state();
        // Taken on copies, kept only if every step passes.
        let h = &households[&planned.household_id];
        let mut house = house_sims
            .get(&h.id)
            .cloned()
            .unwrap_or_else(|| HouseholdSim {
                machine: StageMachine {
                    stage: h.stage_code(),
                    on_hold: h.on_hold,
                    last_on: h.stage_on,
                    fast_track: h.fast_track,
                },
                events: Vec::new(),
                changed: false,
            });
        let mut kids: Vec<(i64, ChildSim)> = planned
            .child_ids
            .iter()
            .map(|c| {
                let sim = child_sims.get(c).cloned().unwrap_or_else(|| ChildSim {
                    draft: milestones_of(&children[c]).edit(),
                    changed_by: None,
                });
                (*c, sim)
            })
            .collect();
        let taken = steps.iter().try_for_each(|(step, on, column)| {
            take(*step, *on, column, row, state, &mut house, &mut kids, today)
        });
        if let Err(problem) = taken {
            problems.push(*problem);
            continue;
        }
        if let Some((column, step)) = kids.iter().find_map(|(_, k)| beyond(state, &k.draft)) {
            problems.push(row.problem(
                code::CHILD_DIFFERS,
                column,
                format!(
                    "the child's journey records {step}, which this link does not reach; \
                     give the link's {column} date"
                ),
            ));
            continue;
        }
        let me = Covering {
            by: match found {
                Some((l, _)) => Holder::Held(l.id),
                None => Holder::Planned(index),
            },
            from: row.matched_on,
            until: row
                .adoption_order_on
                .or(row.disruption.as_ref().map(|(on, _)| *on)),
        };
        let overlapping = |c: &i64| {
            covering.get(c).is_some_and(|all| {
                all.iter()
                    .any(|other| other.by != me.by && other.overlaps(&me))
            })
        };
        if let Some(child_id) = planned.child_ids.iter().find(|c| overlapping(c)) {
            let reference = children[child_id].import_reference.as_deref().unwrap_or("");
            problems.push(
                row.problem(
                    code::CHILD_HELD,
                    "MATCHED",
                    "another link covers this child at the same time (matched or placed \
                     then); a child has one link at a time",
                )
                .for_reference(reference),
            );
            continue;
        }
        if let Some(child_id) = planned.child_ids.iter().find(|c| {
            open.contains(c)
                && kids
                    .iter()
                    .any(|(k, sim)| k == *c && sim.changed_by.is_some())
        }) {
            let reference = children[child_id].import_reference.as_deref().unwrap_or("");
            problems.push(
                row.problem(
                    code::LINK_OWNS_DATE,
                    "MATCHED",
                    "an open link (proposed or exploring) covers this child and records its \
                     match; decide, withdraw or decline it first",
                )
                .for_reference(reference),
            );
            continue;
        }
        for c in &planned.child_ids {
            let all = covering.entry(*c).or_default();
            all.retain(|other| other.by != me.by);
            all.push(me);
        }
        house_sims.insert(h.id, house);
        for (c, sim) in kids {
            child_sims.insert(c, sim);
        }
        match found {
            None => {
                writes
                    .created
                    .push(new_link(actor.consortium_id, authority_id, planned, now));
                totals.created += rows_of;
            }
            Some((l, _)) => {
                writes.changed.push(changed_link(l, row));
                totals.updated += rows_of;
            }
        }
    }

    // What the children and households become.
    for (c, sim) in &child_sims {
        let Some(at) = &sim.changed_by else { continue };
        let child = &children[c];
        match sim.draft.validate(child.date_of_birth, today) {
            Ok(dates) => {
                let mut changes = child::ActiveModel::default();
                set_milestones(&mut changes, &dates);
                writes.children.push(ChildChange {
                    id: child.id,
                    version: child.version,
                    changes,
                });
            }
            Err(e) => problems.push(
                Problem::error(
                    code::JOURNEY_CONFLICT,
                    format!(
                        "with the link's dates, the child's journey fails validation: {}",
                        e.message
                    ),
                )
                .in_file(&at.file)
                .at_row(at.line)
                .for_reference(child.import_reference.as_deref().unwrap_or(""))
                .in_column(e.field.name()),
            ),
        }
    }
    let mut events_written = 0;
    for (id, sim) in &house_sims {
        if !sim.changed {
            continue;
        }
        let h = &households[id];
        events_written += sim.events.len();
        writes.households.push(HouseholdChange {
            id: h.id,
            version: h.version,
            changes: household_changes(&sim.machine),
            events: sim
                .events
                .iter()
                .map(|e| {
                    event_row(
                        (h.consortium_id, h.authority_id),
                        Some(h.id),
                        e,
                        &actor.subject,
                        now,
                    )
                })
                .collect(),
        });
    }
    writes.children.sort_by_key(|c| c.id);
    writes.households.sort_by_key(|h| h.id);

    let report = ImportReport::new(dry_run, totals, problems, digest);
    if !report.to_write() {
        return Ok(report);
    }
    let extra = json!({
        "links": writes.created.len() + writes.changed.len(),
        "children": writes.children.len(),
        "households": writes.households.len(),
        "events": events_written,
    });
    let mut audit = vec![report.audit(svc, "LINKS", "Link", authority_id, extra)];
    // Each other authority whose households the history changed has the event too.
    let mut others: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for change in &writes.households {
        let h = &households[&change.id];
        if h.authority_id != authority_id {
            let of = others.entry(h.authority_id).or_default();
            of.0 += 1;
            of.1 += change.events.len();
        }
    }
    for (other, (changed, events)) in others {
        let extra =
            json!({ "households": changed, "events": events, "forAuthority": authority_id });
        audit.push(report.audit(svc, "LINKS", "Household", other, extra));
    }
    let open_states = [LinkState::Proposed, LinkState::Exploring];
    store::imports::write_links(db, actor.consortium_id, writes, &open_states, audit).await?;
    Ok(report.written())
}

/// What is wrong with the rows of a must-stay-together group's link, if anything: they
/// must name every member of the group, with the same dates and fee.
fn group_problem(link: &PlannedLink, members: &[i64]) -> Option<Problem> {
    let first = link.link();
    let same = |r: &ImportedLink| {
        r.placed_on == first.placed_on
            && r.adoption_order_on == first.adoption_order_on
            && r.disruption == first.disruption
            && r.fee_pence == first.fee_pence
    };
    if link.child_ids != members {
        Some(first.problem(
            code::SIBLING_GROUP,
            "CHILD",
            format!(
                "the child must stay with its sibling group, which is linked as one unit: \
                 give a row for each of its {} children with the same household and dates",
                members.len()
            ),
        ))
    } else {
        link.rows.iter().find(|r| !same(r)).map(|other| {
            other.problem(
                code::SIBLING_GROUP,
                "CHILD",
                "the rows of a must-stay-together sibling group's link must have the same \
                 dates, disruption and fee",
            )
        })
    }
}

/// The steps the history takes link `l` (held, matched on the row's match date) beyond
/// what it records; `Err` with the column at fault when the row describes the recorded
/// steps otherwise.
fn further(
    l: &link::Model,
    row: &ImportedLink,
) -> Result<Vec<(LinkStep, NaiveDate, &'static str)>, &'static str> {
    let state = codes::link_state(l);
    let ended = state.is_some_and(LinkState::is_final);
    let recorded = |held: Option<NaiveDate>, given: Option<NaiveDate>| match held {
        Some(_) => held == given,
        None => !ended || given.is_none(),
    };
    if !recorded(l.placed_on, row.placed_on) {
        return Err("PLACED");
    }
    if !recorded(l.adoption_order_on, row.adoption_order_on) {
        return Err("ADOPTION_ORDER");
    }
    let disrupted_on = row.disruption.as_ref().map(|(on, _)| *on);
    let held_disruption = (state == Some(LinkState::Disrupted))
        .then_some(l.ended_on)
        .flatten();
    if !recorded(held_disruption, disrupted_on) {
        return Err("DISRUPTED");
    }
    // A fee is agreed at the proposal or the match decision, both behind a held link.
    if row.fee_pence.is_some() && row.fee_pence != l.inter_agency_fee_pence {
        return Err("INTER_AGENCY_FEE");
    }
    Ok(row
        .steps()
        .into_iter()
        .filter(|(step, _, _)| match step {
            LinkStep::DecideMatch => false,
            LinkStep::RecordPlacement => l.placed_on.is_none(),
            LinkStep::RecordAdoptionOrder => l.adoption_order_on.is_none(),
            LinkStep::RecordDisruption => held_disruption.is_none(),
            _ => false,
        })
        .collect())
}

/// Takes one step of link `row` (which ends `state`) on the household's and the
/// children's copies, as the API's step would; the problem, on the step's column, if the
/// API would refuse it.
#[allow(clippy::too_many_arguments)]
fn take(
    step: LinkStep,
    on: NaiveDate,
    column: &'static str,
    row: &ImportedLink,
    state: LinkState,
    house: &mut HouseholdSim,
    kids: &mut [(i64, ChildSim)],
    today: NaiveDate,
) -> Result<(), Box<Problem>> {
    let refused = |message: String| {
        Box::new(row.problem(
            code::HOUSEHOLD_REFUSED,
            column,
            format!("for the household: {message}"),
        ))
    };
    house.changed = true;
    if step == LinkStep::RecordDisruption {
        // The one way back to APPROVED, without an event (see `service::links`).
        if !matches!(house.machine.stage, Stage::Matched | Stage::Placed) {
            return Err(refused("it is not matched or placed".into()));
        }
        if on < house.machine.last_on {
            return Err(refused(format!(
                "the date cannot be before the previous event ({})",
                house.machine.last_on
            )));
        }
        house.machine.stage = Stage::Approved;
        house.machine.last_on = on;
        for (_, kid) in kids.iter_mut() {
            let draft = &mut kid.draft;
            if draft.match_decision_on == Some(row.matched_on) {
                draft.match_decision_on = None;
                if draft.placed_on == row.placed_on {
                    draft.placed_on = None;
                }
                kid.changed_by.get_or_insert_with(|| row.at.clone());
            }
        }
        return Ok(());
    }
    if step == LinkStep::DecideMatch {
        // As the API's match decision: the child was waiting for a family then. The
        // journey's own dates for this link are left out of the question.
        for (_, kid) in kids.iter() {
            let mut before = kid.draft;
            let this_link = |held: &mut Option<NaiveDate>, link: Option<NaiveDate>| {
                if held.is_some() && *held == link {
                    *held = None;
                }
            };
            this_link(&mut before.match_decision_on, Some(row.matched_on));
            this_link(&mut before.placed_on, row.placed_on);
            this_link(&mut before.adoption_order_on, row.adoption_order_on);
            if !MilestoneDates::recorded(before).is_waiting_on(on) {
                return Err(Box::new(row.problem(
                    code::JOURNEY_CONFLICT,
                    column,
                    "the child was not waiting for a family on this date: its journey has \
                     no SHOBPA decision or placement order by then, or a plan change, a \
                     revocation, another match or placement",
                )));
            }
        }
    }
    let stage = match step {
        LinkStep::DecideMatch => Stage::Matched,
        LinkStep::RecordPlacement => Stage::Placed,
        _ => Stage::AdoptionOrder,
    };
    let event = RecruitmentEvent {
        stage,
        occurred_on: on,
        reason: None,
    };
    house.machine = house
        .machine
        .record(event, today)
        .map_err(|e| refused(e.message))?;
    house.events.push(event);
    if state == LinkState::Disrupted {
        // A link that broke down is not the child's journey (see the module header).
        return Ok(());
    }
    for (_, kid) in kids.iter_mut() {
        let date = match step {
            LinkStep::DecideMatch => &mut kid.draft.match_decision_on,
            LinkStep::RecordPlacement => &mut kid.draft.placed_on,
            _ => &mut kid.draft.adoption_order_on,
        };
        match *date {
            Some(held) if held == on => {}
            Some(held) => {
                return Err(Box::new(row.problem(
                    code::CHILD_DIFFERS,
                    column,
                    format!("the child's journey records this step on {held}; the link says {on}"),
                )));
            }
            None => {
                *date = Some(on);
                kid.changed_by.get_or_insert_with(|| row.at.clone());
            }
        }
    }
    Ok(())
}

/// A step the child's journey records beyond where a link ending `state` leaves it (its
/// column, and what it is): a link left matched or placed for a child placed or adopted
/// could never be taken further through the API.
fn beyond(state: LinkState, draft: &MilestoneDraft) -> Option<(&'static str, &'static str)> {
    match state {
        LinkState::Matched if draft.placed_on.is_some() => Some(("PLACED", "a placement")),
        LinkState::Matched | LinkState::Placed if draft.adoption_order_on.is_some() => {
            Some(("ADOPTION_ORDER", "an adoption order"))
        }
        _ => None,
    }
}

/// A link first brought in: proposed and accepted on its match date by the child's
/// authority, in the state its dates reach.
fn new_link(
    consortium_id: i64,
    authority_id: i64,
    planned: &PlannedLink,
    now: chrono::DateTime<Utc>,
) -> NewLink {
    let row = planned.link();
    let state = row.state();
    let cross_boundary = planned.household_authority_id != authority_id;
    let (child_id, sibling_group_id) = match planned.unit {
        Unit::Child(c) => (Some(c), None),
        Unit::Group(g) => (None, Some(g)),
    };
    NewLink {
        link: link::ActiveModel {
            consortium_id: Set(consortium_id),
            child_id: Set(child_id),
            sibling_group_id: Set(sibling_group_id),
            household_id: Set(planned.household_id),
            child_authority_id: Set(authority_id),
            household_authority_id: Set(planned.household_authority_id),
            proposed_by_authority_id: Set(authority_id),
            state: Set(state.code().into()),
            cross_boundary: Set(cross_boundary),
            inter_agency_fee_pence: Set(row.fee_pence),
            end_reason: Set(row.disruption.as_ref().map(|(_, why)| why.clone())),
            proposed_on: Set(row.matched_on),
            accepted_on: Set(Some(row.matched_on)),
            matched_on: Set(Some(row.matched_on)),
            placed_on: Set(row.placed_on),
            adoption_order_on: Set(row.adoption_order_on),
            ended_on: Set(row.disruption.as_ref().map(|(on, _)| *on)),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        },
        child_ids: planned.child_ids.clone(),
        holding: state.holds(),
    }
}

/// Link `l` taken to where `row` leaves it.
fn changed_link(l: &link::Model, row: &ImportedLink) -> LinkChange {
    let state = row.state();
    let was_holding = codes::link_state(l).is_some_and(LinkState::holds);
    let mut changes = link::ActiveModel {
        state: Set(state.code().into()),
        placed_on: Set(row.placed_on),
        adoption_order_on: Set(row.adoption_order_on),
        ..Default::default()
    };
    // Only a disruption the history adds; one recorded stands as recorded.
    if let Some((on, why)) = &row.disruption
        && codes::link_state(l) != Some(LinkState::Disrupted)
    {
        changes.ended_on = Set(Some(*on));
        changes.end_reason = Set(Some(why.clone()));
    }
    LinkChange {
        id: l.id,
        version: l.version,
        changes,
        holding: (was_holding != state.holds()).then_some(state.holds()),
    }
}

/// Where a household stands after the history: its stage and the date of its last event;
/// a household the history leaves matched, placed or adopted is not available for
/// matching (one it leaves approved, after a disruption, keeps the availability staff
/// gave it since).
fn household_changes(machine: &StageMachine) -> household::ActiveModel {
    let mut changes = household::ActiveModel {
        stage: Set(machine.stage.code().into()),
        stage_on: Set(machine.last_on),
        ..Default::default()
    };
    if machine.stage.is_link_outcome() {
        changes.available_for_matching = Set(false);
    }
    changes
}
