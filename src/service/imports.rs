//! Imports: an authority's existing records brought in through the same rules as the API.
//!
//! A reader in [`crate::import`] turns the files into records and problems; the use cases
//! here set those records against what the service already holds and write them — all of
//! them or none. Each imported child keeps the authority's own reference (SSDA903 `CHILD`)
//! as its import reference, unique within the authority, so importing the same files again
//! changes nothing and next year's return changes only what changed.
//!
//! **Who may import.** An SSDA903 import records children's journeys, decisions included,
//! so it needs both what a `SOCIAL_WORKER` may do (create and change children, record
//! milestones) and what a `DECISION_MAKER` may do (record the SHOBPA and match decisions)
//! in the authority: a person holding both roles there, or the `permanence import` command
//! run by the operator, which acts as such a person (audited as `cli/<user>`).
//!
//! **What an import sets.** A new child gets the return's date of birth, gender,
//! ethnicity and milestones; the return carries no name, so its legal name is
//! `SSDA903 <CHILD>` (seen only by the authority's own staff) and its profile name
//! [`NOT_YET_NAMED`] until the social worker records them, it has no needs recorded
//! and it is not shared with the consortium. A child imported before gets the return's
//! date of birth, gender, ethnicity and dates: a date the return carries replaces the one
//! held, a date it does not carry is kept ([`MilestoneDraft::laid_over`];
//! [`code::DATE_KEPT`] says so), and the result must pass the API's milestone validation.
//! Nothing else of the record (names, needs, profile, sharing) is touched. The dates a link
//! records (match, placement, adoption order) are not changed for a child a link covers
//! ([`code::LINK_OWNS_DATE`]), as the API refuses.
//!
//! **What is written with it.** One `IMPORT` audit event per import that writes: who,
//! the authority, the kind, how many files and children, what was created, updated and left
//! unchanged, and the SHA-256 digest of the files — no reference or date. A dry run writes
//! nothing, the audit event included. No per-child notification is sent: an import is not
//! news about one child.
use std::collections::HashMap;
use std::io::Read;

use chrono::{NaiveDate, Utc};
use entity::{child, household};
use sea_orm::ActiveValue::Set;
use serde_json::json;

use super::Service;
use super::children::{
    LINKS_HOLDING_DATES, adult_on, link_owned_change, set_milestones, set_needs,
};
use super::households::{NewHousehold, event_row, registered};
use super::records::{Decoded, target_authority};
use crate::auth::Capability;
use crate::auth::policy::milestones_of;
use crate::domain::{AuditAction, NeedLevels, RecruitmentEvent, RecruitmentReason, Stage};
use crate::error::AppResult;
pub use crate::import::FilesDigest;
use crate::import::adopters::{self, AdoptersImport, ImportedHousehold};
use crate::import::ssda903::{self as files, ImportedChild, Ssda903Import, Ssda903Reader};
use crate::import::{Hashing, MAX_REFERENCE_CHARS, code};
pub use crate::import::{Problem, Severity};
use crate::store;
use crate::store::imports::{ChildChange, ChildWrites, HouseholdChange, HouseholdWrites};

/// The profile name of an imported child or household until staff record one: profiles
/// are read across the consortium, so they never carry the authority's own reference.
pub const NOT_YET_NAMED: &str = "Not yet named";

/// What an import did, or would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportTotals {
    /// Records the files describe (children, for SSDA903).
    pub read: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Records read but not imported (with a warning saying why).
    pub skipped: usize,
}

/// The outcome of an import: what it did (or, for a dry run or an import with errors,
/// what it would have done), every problem, and the digest of the files.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Whether anything was written: false for a dry run and for any import with an error.
    pub written: bool,
    pub totals: ImportTotals,
    pub problems: Vec<Problem>,
    pub files: usize,
    pub digest: String,
}

impl ImportReport {
    /// The report of an import not (yet) written.
    pub(super) fn new(
        dry_run: bool,
        totals: ImportTotals,
        problems: Vec<Problem>,
        digest: &FilesDigest,
    ) -> Self {
        ImportReport {
            dry_run,
            written: false,
            totals,
            problems,
            files: digest.files(),
            digest: digest.hex(),
        }
    }

    /// Whether any problem is an error (then nothing was written).
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    /// Whether the import is to be written: not a dry run, and no error.
    pub(super) fn to_write(&self) -> bool {
        !self.dry_run && !self.has_errors()
    }

    /// The import's `IMPORT` audit event on `authority_id`: the kind, the counts, the
    /// digest of the files, and `extra` fields — nothing of any record.
    pub(super) fn audit(
        &self,
        svc: Service<'_>,
        kind: &str,
        entity: &str,
        authority_id: i64,
        extra: serde_json::Value,
    ) -> entity::audit_event::ActiveModel {
        let t = &self.totals;
        let mut detail = json!({
            "kind": kind,
            "files": self.files,
            "digest": self.digest,
            "read": t.read,
            "created": t.created,
            "updated": t.updated,
            "unchanged": t.unchanged,
            "skipped": t.skipped,
        });
        if let (Some(detail), serde_json::Value::Object(extra)) = (detail.as_object_mut(), extra) {
            detail.extend(extra);
        }
        svc.audit_row(
            AuditAction::Import,
            entity,
            None,
            Some(authority_id),
            detail,
        )
    }

    /// The report once written.
    pub(super) fn written(mut self) -> Self {
        self.written = true;
        self
    }
}

/// The authority an SSDA903 import by the caller may write to: one of its consortium where
/// it may both write children and record their decisions. Checked before any file is read.
pub fn importing_into(svc: Service<'_>, authority_id: Decoded<i64>) -> AppResult<i64> {
    let actor = svc.actor()?;
    let authority_id = target_authority(svc, actor, Some(authority_id), Capability::WriteChildren)?;
    actor.require(Capability::DecideForChildren, authority_id)?;
    Ok(authority_id)
}

/// Reads one authority's SSDA903 files, each given by its name as supplied (the table and
/// year are told from it, as the DfE names the files) and streamed once, digested as it
/// passes. A name that says no table or year is a problem of the import, as is every
/// problem met reading and deriving; the journeys are validated as of `today`.
pub fn read_ssda903<R: Read>(
    supplied: impl IntoIterator<Item = (String, R)>,
    today: NaiveDate,
) -> (Ssda903Import, FilesDigest) {
    let mut reader = Ssda903Reader::new(None);
    let mut digest = FilesDigest::default();
    let mut named = Vec::new();
    for (name, source) in supplied {
        match files::identify(&name) {
            Ok(file) => {
                let mut source = Hashing::new(source);
                reader.read(file, &mut source);
                digest.add(source);
            }
            Err(problem) => named.push(*problem),
        }
    }
    let mut import = reader.finish(today);
    named.append(&mut import.problems);
    import.problems = named;
    (import, digest)
}

/// What an import writes, and what it found.
struct Planned {
    writes: ChildWrites,
    totals: ImportTotals,
}

/// Imports one authority's SSDA903 returns, read into `import`: creates the children not
/// held yet and updates those held whose return says something new, in one transaction
/// with its `IMPORT` event; with `dry_run`, or when any problem is an error, writes
/// nothing and reports what it would do.
pub async fn ssda903(
    svc: Service<'_>,
    authority_id: Decoded<i64>,
    import: Ssda903Import,
    digest: &FilesDigest,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let actor = svc.actor()?;
    let authority_id = importing_into(svc, authority_id)?;
    let mut problems = import.problems;
    let held: HashMap<String, child::Model> =
        store::imports::imported_children(svc.db(), authority_id)
            .await?
            .into_iter()
            .filter_map(|c| c.import_reference.clone().map(|r| (r, c)))
            .collect();
    let plan = plan_children(
        svc,
        actor.consortium_id,
        authority_id,
        import.children,
        &held,
        &mut problems,
    )
    .await?;
    let report = ImportReport::new(dry_run, plan.totals, problems, digest);
    if !report.to_write() {
        return Ok(report);
    }
    let audit = report.audit(svc, "SSDA903", "Child", authority_id, json!({}));
    store::imports::write_children(
        svc.db(),
        actor.consortium_id,
        authority_id,
        plan.writes,
        &LINKS_HOLDING_DATES,
        audit,
    )
    .await?;
    Ok(report.written())
}

/// Sets each child of the files against the one held under its reference.
async fn plan_children(
    svc: Service<'_>,
    consortium_id: i64,
    authority_id: i64,
    children: Vec<ImportedChild>,
    held: &HashMap<String, child::Model>,
    problems: &mut Vec<Problem>,
) -> AppResult<Planned> {
    let today = svc.today();
    let now = Utc::now();
    let mut plan = Planned {
        writes: ChildWrites::default(),
        totals: ImportTotals {
            read: children.len(),
            ..Default::default()
        },
    };
    for child in children {
        let reference = child.reference.trim();
        if reference.is_empty() || reference.chars().count() > MAX_REFERENCE_CHARS {
            problems.push(
                Problem::error(
                    code::BAD_REFERENCE,
                    format!("a child's reference must be 1 to {MAX_REFERENCE_CHARS} characters"),
                )
                .for_reference(reference)
                .in_column("CHILD"),
            );
            continue;
        }
        if adult_on(child.date_of_birth, today) {
            problems.push(
                Problem::warning(
                    code::AGED_OUT,
                    "the child is 18 or over today; the service holds children only, so \
                     this child is not imported",
                )
                .for_reference(reference)
                .in_column("DOB"),
            );
            plan.totals.skipped += 1;
            continue;
        }
        match held.get(reference) {
            None => {
                plan.writes.created.push(new_child(
                    consortium_id,
                    authority_id,
                    reference,
                    &child,
                    now,
                ));
                plan.totals.created += 1;
            }
            Some(c) => match changed_child(svc, c, &child, today, problems).await? {
                Some((change, link_dates_change)) => {
                    if link_dates_change {
                        plan.writes.link_dates_changed.push(change.id);
                    }
                    plan.writes.changed.push(change);
                    plan.totals.updated += 1;
                }
                None => plan.totals.unchanged += 1,
            },
        }
    }
    Ok(plan)
}

/// A child first brought in: what the return says, and nothing it does not.
fn new_child(
    consortium_id: i64,
    authority_id: i64,
    reference: &str,
    child: &ImportedChild,
    now: chrono::DateTime<Utc>,
) -> child::ActiveModel {
    let legal_name = format!("SSDA903 {reference}");
    let mut am = child::ActiveModel {
        consortium_id: Set(consortium_id),
        authority_id: Set(authority_id),
        version: Set(1),
        legal_name: Set(legal_name),
        date_of_birth: Set(child.date_of_birth),
        profile_name: Set(NOT_YET_NAMED.into()),
        gender: Set(child.gender.code().into()),
        ethnicity: Set(child.ethnicity.code().into()),
        religion: Set(None),
        language: Set(None),
        culture: Set(None),
        identity_notes: Set(None),
        requires_early_permanence: Set(false),
        birth_family_lat: Set(None),
        birth_family_lon: Set(None),
        min_distance_km: Set(None),
        birth_family_details: Set(None),
        notes: Set(None),
        sibling_group_id: Set(None),
        profile_text: Set(String::new()),
        shared_with_consortium: Set(false),
        plan_change_reason: Set(child.plan_change_reason.map(|r| r.code().into())),
        import_reference: Set(Some(reference.to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    set_needs(&mut am, NeedLevels::default());
    set_milestones(&mut am, &child.milestones);
    am
}

/// The change the return makes to child `c`, if any, and whether it changes a date a link
/// records; its problems go to `problems` (an error leaves the child unchanged in the
/// plan, and the import is not written anyway).
async fn changed_child(
    svc: Service<'_>,
    c: &child::Model,
    child: &ImportedChild,
    today: NaiveDate,
    problems: &mut Vec<Problem>,
) -> AppResult<Option<(ChildChange, bool)>> {
    let reference = child.reference.trim();
    let before = milestones_of(c);
    let (merged, kept) = child.milestones.edit().laid_over(&before.edit());
    for field in kept {
        problems.push(
            Problem::warning(
                code::DATE_KEPT,
                "the service holds this date and the returns do not carry it; it is kept as \
                 recorded",
            )
            .for_reference(reference)
            .in_column(field.name()),
        );
    }
    let after = match merged.validate(child.date_of_birth, today) {
        Ok(after) => after,
        Err(e) => {
            problems.push(
                Problem::error(
                    code::JOURNEY_CONFLICT,
                    format!(
                        "with the dates the service holds, the journey fails validation: {}",
                        e.message
                    ),
                )
                .for_reference(reference)
                .in_column(e.field.name()),
            );
            return Ok(None);
        }
    };
    let reason = child
        .plan_change_reason
        .map(|r| r.code().to_owned())
        .or_else(|| c.plan_change_reason.clone());
    let same = after == before
        && c.date_of_birth == child.date_of_birth
        && c.gender == child.gender.code()
        && c.ethnicity == child.ethnicity.code()
        && c.plan_change_reason == reason;
    if same {
        return Ok(None);
    }
    let link_dates_change = link_owned_change(&before, &after);
    if let Some(field) = link_dates_change
        && covered_by_link(svc, c.id).await?
    {
        problems.push(
            Problem::error(
                code::LINK_OWNS_DATE,
                "a link covering this child records this date; record it on the link",
            )
            .for_reference(reference)
            .in_column(field),
        );
        return Ok(None);
    }
    let mut am = child::ActiveModel {
        date_of_birth: Set(child.date_of_birth),
        gender: Set(child.gender.code().into()),
        ethnicity: Set(child.ethnicity.code().into()),
        plan_change_reason: Set(reason),
        ..Default::default()
    };
    set_milestones(&mut am, &after);
    let change = ChildChange {
        id: c.id,
        version: c.version,
        changes: am,
    };
    Ok(Some((change, link_dates_change.is_some())))
}

/// Whether a link that records dates (one not closed) covers child `id`.
async fn covered_by_link(svc: Service<'_>, id: i64) -> AppResult<bool> {
    Ok(
        !store::links::covering_child(svc.db(), id, &LINKS_HOLDING_DATES)
            .await?
            .is_empty(),
    )
}

// ---------------------------------------------------------------------------------------
// Adopter registers
// ---------------------------------------------------------------------------------------

/// The authority an adopter register import by the caller may write to: one of its
/// consortium where it may both write households and record their approval (a
/// RECRUITMENT_OFFICER and a DECISION_MAKER there). Checked before the file is read.
pub fn importing_households_into(svc: Service<'_>, authority_id: Decoded<i64>) -> AppResult<i64> {
    let actor = svc.actor()?;
    let authority_id =
        target_authority(svc, actor, Some(authority_id), Capability::WriteHouseholds)?;
    actor.require(Capability::ApproveHouseholds, authority_id)?;
    Ok(authority_id)
}

/// Reads an adopter register (the template), named `name`, digested as it passes;
/// journeys validated as of `today`.
pub fn read_adopters<R: Read>(
    name: &str,
    source: R,
    today: NaiveDate,
) -> (AdoptersImport, FilesDigest) {
    read_template(name, source, today, |name, source, today| {
        adopters::read(name, source, today)
    })
}

/// Reads one template file, named `name`, with `read`, digested as it passes; dates
/// checked as of `today`.
pub(super) fn read_template<R: Read, T>(
    name: &str,
    source: R,
    today: NaiveDate,
    read: impl FnOnce(&str, &mut Hashing<R>, NaiveDate) -> T,
) -> (T, FilesDigest) {
    let mut source = Hashing::new(source);
    let import = read(name, &mut source, today);
    let mut digest = FilesDigest::default();
    digest.add(source);
    (import, digest)
}

/// Imports one authority's adopter register, read into `import`: creates the households
/// not held yet with their events, and adds to a household held the events the register
/// has beyond those recorded, in one transaction with its `IMPORT` event; with `dry_run`,
/// or when any problem is an error, writes nothing and reports what it would do.
///
/// Recorded events are never rewritten: a household whose recorded events are its
/// register row's, or begin with them (events recorded here since — a match, a pause —
/// stand), is unchanged; one whose register row goes on from its recorded events gets the
/// rest; any other difference is [`code::HISTORY_DIFFERS`]. An imported household is not
/// made available for matching: its approval profile is to be recorded first.
pub async fn adopter_register(
    svc: Service<'_>,
    authority_id: Decoded<i64>,
    import: AdoptersImport,
    digest: &FilesDigest,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let actor = svc.actor()?;
    let authority_id = importing_households_into(svc, authority_id)?;
    let mut problems = import.problems;
    let held: HashMap<String, (household::Model, Vec<RecruitmentEvent>)> =
        store::imports::imported_households(svc.db(), authority_id)
            .await?
            .into_iter()
            .filter_map(|(h, events)| {
                let events = events.iter().filter_map(recorded_event).collect();
                h.import_reference.clone().map(|r| (r, (h, events)))
            })
            .collect();
    let now = Utc::now();
    let owner = (actor.consortium_id, authority_id);
    let mut writes = HouseholdWrites::default();
    let mut totals = ImportTotals {
        read: import.households.len(),
        ..Default::default()
    };
    let mut events_written = 0;
    for household in import.households {
        let reference = household.reference.trim();
        if reference.chars().count() > MAX_REFERENCE_CHARS {
            problems.push(
                Problem::error(
                    code::BAD_REFERENCE,
                    format!(
                        "a household's reference must be at most {MAX_REFERENCE_CHARS} characters"
                    ),
                )
                .for_reference(reference)
                .in_column("HOUSEHOLD"),
            );
            continue;
        }
        let rows = |events: &[RecruitmentEvent], id: Option<i64>| -> Vec<_> {
            events
                .iter()
                .map(|e| event_row(owner, id, e, &actor.subject, now))
                .collect()
        };
        match held.get(reference) {
            None => {
                events_written += household.events.len();
                let events = rows(&household.events, None);
                writes.created.push(store::imports::NewHousehold {
                    household: new_household(owner, reference, &household, now),
                    events,
                });
                totals.created += 1;
            }
            Some((h, _)) if h.fast_track != household.fast_track => problems.push(
                Problem::error(
                    code::HISTORY_DIFFERS,
                    "FAST_TRACK differs from the household's as recorded, and its steps are \
                     checked against it; correct the household through the API",
                )
                .for_reference(reference)
                .in_column("FAST_TRACK"),
            ),
            Some((_, recorded)) if recorded.starts_with(&household.events) => {
                totals.unchanged += 1;
            }
            Some((h, recorded)) if household.events.starts_with(recorded) => {
                let added = &household.events[recorded.len()..];
                events_written += added.len();
                writes.changed.push(HouseholdChange {
                    id: h.id,
                    version: h.version,
                    changes: stage_changes(&household),
                    events: rows(added, Some(h.id)),
                });
                totals.updated += 1;
            }
            Some(_) => problems.push(
                Problem::error(
                    code::HISTORY_DIFFERS,
                    "the register's dates differ from the events recorded for this \
                     household; recorded events are never rewritten, so record the \
                     correction on the household",
                )
                .for_reference(reference),
            ),
        }
    }
    let report = ImportReport::new(dry_run, totals, problems, digest);
    if !report.to_write() {
        return Ok(report);
    }
    let extra = json!({ "events": events_written });
    let audit = report.audit(svc, "ADOPTERS", "Household", authority_id, extra);
    store::imports::write_households(svc.db(), actor.consortium_id, authority_id, writes, audit)
        .await?;
    Ok(report.written())
}

/// A recorded event as the domain reads it (`None` for a row with a code it does not
/// know, which the stage machine would not have written).
fn recorded_event(e: &entity::recruitment_event::Model) -> Option<RecruitmentEvent> {
    Some(RecruitmentEvent {
        stage: Stage::from_code(&e.stage)?,
        occurred_on: e.occurred_on,
        reason: match e.reason.as_deref() {
            None => None,
            Some(code) => Some(RecruitmentReason::from_code(code)?),
        },
    })
}

/// Where the household stands after its register row's events. As when the API records
/// an exit, a household that left is no longer available for matching; otherwise its
/// availability is left as staff set it.
fn stage_changes(household: &ImportedHousehold) -> household::ActiveModel {
    let state = household.state;
    let mut am = household::ActiveModel {
        stage: Set(state.stage.code().into()),
        stage_on: Set(state.last_on),
        on_hold: Set(state.on_hold),
        approved_on: Set(approved_on(household)),
        ..Default::default()
    };
    if state.stage.is_exit() {
        am.available_for_matching = Set(false);
    }
    am
}

/// The date of the household's approval, if the register has one.
fn approved_on(household: &ImportedHousehold) -> Option<NaiveDate> {
    household
        .events
        .iter()
        .find(|e| e.stage == Stage::Approved)
        .map(|e| e.occurred_on)
}

/// A household first brought in: registered at its enquiry, then where its events leave
/// it.
fn new_household(
    (consortium_id, authority_id): (i64, i64),
    reference: &str,
    household: &ImportedHousehold,
    now: chrono::DateTime<Utc>,
) -> household::ActiveModel {
    let enquiry = household.events[0].occurred_on;
    let mut am = registered(
        consortium_id,
        authority_id,
        NewHousehold {
            authority_id: None,
            applicant_one_name: household
                .applicant_one
                .clone()
                .unwrap_or_else(|| format!("Household {reference}")),
            applicant_two_name: household.applicant_two.clone(),
            address: None,
            notes: None,
            profile_name: NOT_YET_NAMED.into(),
            ethnicity: household.ethnicity,
            channel: household.channel,
            enquiry_on: enquiry,
            fast_track: household.fast_track,
        },
        now,
    );
    let changes = stage_changes(household);
    am.stage = changes.stage;
    am.stage_on = changes.stage_on;
    am.on_hold = changes.on_hold;
    am.approved_on = changes.approved_on;
    am.import_reference = Set(Some(reference.to_owned()));
    am
}
