//! The publication of a consortium at a quarter end: its figures read and computed as they
//! are, its cells withheld jointly ([`suppression::suppress`]) and audited
//! ([`suppression::audit`]). See [`crate::domain::publication`] for the tables.
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use super::Service;
use super::board::sufficiency_of;
use crate::domain::Period;
use crate::domain::publication::{self, Figures, Periods};
use crate::domain::published::{self, Published, Scope};
use crate::domain::suppression::{self, Audit};
use crate::error::{AppError, AppResult};
use crate::state::{AppState, Ticks};
use crate::store;
use crate::store::recruitment::{JourneyScope, JourneySnapshot};
use crate::store::snapshots::Snapshot;

/// Reads and computes every figure of the consortium's publication at `quarter_end` (a
/// `BAD_USER_INPUT` on `quarterEnd` when the date does not end a quarter).
pub async fn figures(
    db: &DatabaseConnection,
    consortium_id: i64,
    authorities: &[i64],
    quarter_end: NaiveDate,
) -> AppResult<Figures> {
    let periods = Periods::at(quarter_end).ok_or_else(|| {
        AppError::bad_input(
            "quarterEnd",
            "a quarter end is 30 June, 30 September, 31 December or 31 March",
        )
    })?;
    let children =
        store::reports::adopted_children(db, consortium_id, authorities, &periods.scorecard)
            .await?;
    let snapshot = JourneySnapshot::load(db, consortium_id).await?;
    let scope = JourneyScope {
        consortium_id,
        authority_ids: authorities.to_vec(),
    };
    // The households touching the year or the quarter, once each.
    let mut journeys: Vec<_> = snapshot
        .journeys(&scope, Some(&periods.year), quarter_end)
        .collect();
    let seen: std::collections::BTreeSet<i64> = journeys.iter().map(|j| j.household_id).collect();
    journeys.extend(
        snapshot
            .journeys(&scope, Some(&periods.quarter), quarter_end)
            .filter(|j| !seen.contains(&j.household_id)),
    );
    let quarter = store::reports::placements(db, consortium_id, &periods.quarter).await?;
    let year = store::reports::placements(db, consortium_id, &periods.year).await?;
    let mut sufficiency = Vec::new();
    for a in authorities {
        sufficiency.push(sufficiency_of(db, consortium_id, &[*a], quarter_end).await?);
    }
    sufficiency.push(sufficiency_of(db, consortium_id, authorities, quarter_end).await?);
    Ok(publication::figures(
        periods,
        authorities,
        &children,
        &journeys,
        [&quarter, &year],
        sufficiency,
    ))
}

/// How many other kept publications a publication is decided and audited with, at most.
const MAX_JOINED: usize = 16;

/// The other kept publications of the consortium that a publication at `quarter_end` may
/// share figures with: those within four years either side (a scorecard window's years,
/// and a financial year's funnel and flows, recur in the quarters around them), the
/// nearest first, at most [`MAX_JOINED`].
async fn others(
    db: &DatabaseConnection,
    consortium_id: i64,
    quarter_end: NaiveDate,
) -> AppResult<Vec<Published>> {
    let mut near: Vec<NaiveDate> = store::publications::quarter_ends(db, consortium_id)
        .await?
        .into_iter()
        .filter(|q| *q != quarter_end && (*q - quarter_end).num_days().abs() <= 4 * 366)
        .collect();
    near.sort_by_key(|q| ((*q - quarter_end).num_days().abs(), *q));
    let mut out = Vec::new();
    for q in near.into_iter().take(MAX_JOINED) {
        out.extend(kept(db, consortium_id, q).await?);
    }
    Ok(out)
}

/// Builds the consortium's publication at `quarter_end`: every figure, the cells withheld
/// jointly with the other kept publications it shares figures with (their decisions
/// binding).
pub async fn build(
    db: &DatabaseConnection,
    consortium_id: i64,
    authorities: &[i64],
    quarter_end: NaiveDate,
) -> AppResult<Published> {
    let figures = figures(db, consortium_id, authorities, quarter_end).await?;
    let model = publication::model(&figures);
    let medians = publication::medians(&figures);
    let others = others(db, consortium_id, quarter_end).await?;
    // The solver is CPU-bound: off the async workers.
    let (model, decision) = tokio::task::spawn_blocking(move || {
        let others: Vec<&Published> = others.iter().collect();
        let joint = published::joint(&model, &others);
        let decision = decide(&joint).first(joint.own);
        (model, decision)
    })
    .await
    .map_err(|e| AppError::from(anyhow::Error::from(e)))?;
    Ok(Published {
        quarter_end,
        authorities: authorities.to_vec(),
        model,
        decision,
        medians,
    })
}

/// How many decisions are remembered by their input.
const REMEMBERED: usize = 8;

/// Decides a joint model ([`suppression::suppress_decided`]). Deciding is deterministic and
/// costly, so the last few decisions are remembered by a hash of their input: the same
/// figures published again in one process (an attempt that lost the race to keep, a
/// refused one retried, a test suite's repeated fixture) are not decided twice. One
/// decision is made at a time in a process.
fn decide(joint: &published::Joint) -> suppression::Decision {
    use std::hash::{Hash, Hasher};
    static REMEMBER: std::sync::Mutex<Vec<(u64, suppression::Decision)>> =
        std::sync::Mutex::new(Vec::new());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&joint.model)
        .unwrap_or_default()
        .hash(&mut hasher);
    joint.decided.hash(&mut hasher);
    let key = hasher.finish();
    // One decision at a time: a second asking for the same one waits and finds it.
    static DECIDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _deciding = DECIDING.lock().unwrap_or_else(|e| e.into_inner());
    let remembered = {
        let held = REMEMBER.lock().unwrap_or_else(|e| e.into_inner());
        held.iter().find(|(h, _)| *h == key).map(|(_, d)| d.clone())
    };
    if let Some(decision) = remembered {
        return decision;
    }
    let decision = suppression::suppress_decided(&joint.model, &joint.decided);
    let mut held = REMEMBER.lock().unwrap_or_else(|e| e.into_inner());
    if held.len() >= REMEMBERED {
        held.remove(0);
    }
    held.push((key, decision.clone()));
    decision
}

/// A publication with its audit over the joint model with the other kept publications it
/// shares figures with ([`published::joint`]), computed off the async workers.
pub async fn audited(
    db: &DatabaseConnection,
    consortium_id: i64,
    published: Published,
) -> AppResult<(Published, Audit)> {
    let others = others(db, consortium_id, published.quarter_end).await?;
    tokio::task::spawn_blocking(move || {
        let others: Vec<&Published> = others.iter().collect();
        let joint = published::joint(&published.model, &others);
        let audit = suppression::audit(&joint.model, &joint.decision(&published.decision));
        (published, audit)
    })
    .await
    .map_err(|e| AppError::from(anyhow::Error::from(e)))
}

/// The consortium's publication at `quarter_end` as kept, if it was made.
pub async fn kept(
    db: &DatabaseConnection,
    consortium_id: i64,
    quarter_end: NaiveDate,
) -> AppResult<Option<Published>> {
    let Some(row) = store::publications::find(db, consortium_id, quarter_end).await? else {
        return Ok(None);
    };
    Ok(Some(parse(&row.body)?))
}

fn parse(body: &str) -> AppResult<Published> {
    let published: Published = serde_json::from_str(body)
        .map_err(|e| AppError::from(anyhow::anyhow!("a kept publication does not read: {e}")))?;
    Ok(published.loaded())
}

/// What [`publish`] did.
pub enum Made {
    /// The publication was made, its audit passed, and it is kept.
    Kept(Published, Audit),
    /// One was kept already (made here or by another replica); it stands.
    Already(Published),
    /// The publication was made but its audit failed: it is not kept.
    Refused(Published, Audit),
}

/// Makes and keeps the consortium's publication at `quarter_end` unless one is kept: built
/// over the consortium's authorities as they are, audited, and kept only when the audit
/// passes. The first one kept stands, whoever made it.
pub async fn publish(
    db: &DatabaseConnection,
    consortium_id: i64,
    authorities: &[i64],
    quarter_end: NaiveDate,
) -> AppResult<Made> {
    if let Some(p) = kept(db, consortium_id, quarter_end).await? {
        return Ok(Made::Already(p));
    }
    let built = build(db, consortium_id, authorities, quarter_end).await?;
    let (built, audit) = audited(db, consortium_id, built).await?;
    if !audit.passes() {
        return Ok(Made::Refused(built, audit));
    }
    let body = serde_json::to_string(&built).map_err(|e| AppError::from(anyhow::Error::from(e)))?;
    let (row, inserted) =
        store::publications::keep_first(db, consortium_id, quarter_end, body).await?;
    Ok(if inserted {
        Made::Kept(built, audit)
    } else {
        // Another maker won the race: its publication stands.
        Made::Already(parse(&row.body)?)
    })
}

/// The consortium's publication at `quarter_end`, from memory or the database.
async fn load(
    svc: &Service<'_>,
    consortium_id: i64,
    quarter_end: NaiveDate,
) -> AppResult<Arc<Published>> {
    let cache = &svc.state.publications;
    if let Some(p) = cache.get(consortium_id, quarter_end) {
        return Ok(p);
    }
    let published = kept(svc.db(), consortium_id, quarter_end)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(cache.insert(consortium_id, quarter_end, published))
}

/// The periods a report is published for at a quarter end, the default first.
pub type Offered = fn(&Periods) -> Vec<Period>;

/// The scorecard: the three-year window, then its years.
pub fn scorecard_periods(p: &Periods) -> Vec<Period> {
    std::iter::once(p.scorecard)
        .chain(p.scorecard_years())
        .collect()
}

/// The funnel and the flows: the quarter, then the financial year.
pub fn quarter_and_year(p: &Periods) -> Vec<Period> {
    vec![p.quarter, p.year]
}

fn spans(periods: &[Period]) -> String {
    periods
        .iter()
        .map(|p| format!("{}..{}", p.from(), p.to()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The publication and period a report for a protected audience answers from: at `as_of`
/// when given (one of the quarter ends published), else the latest publication offering
/// the period; the period one of those the publication offers (by default the first). A
/// `BAD_USER_INPUT` names what may be asked.
pub async fn choose(
    svc: &Service<'_>,
    as_of: Option<NaiveDate>,
    period: Option<(NaiveDate, NaiveDate)>,
    offered: Offered,
) -> AppResult<(Arc<Published>, Period)> {
    let consortium_id = svc.actor()?.consortium_id;
    let published = store::publications::quarter_ends(svc.db(), consortium_id).await?;
    let Some(latest) = published.first().copied() else {
        return Err(AppError::bad_input(
            "asOf",
            "figures beyond your own authorities are served from the consortium's quarterly \
             publication, and none has been made yet",
        ));
    };
    let listed = || {
        let mut s = published
            .iter()
            .take(8)
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if published.len() > 8 {
            s.push_str(", …");
        }
        s
    };
    let candidates: Vec<NaiveDate> = match as_of {
        Some(d) if published.contains(&d) => vec![d],
        Some(_) => {
            return Err(AppError::bad_input(
                "asOf",
                format!(
                    "figures beyond your own authorities are published as at the quarter \
                     ends {}: ask for one of them, or leave asOf out for the latest",
                    listed()
                ),
            ));
        }
        None => published.clone(),
    };
    let offered_at = |q: NaiveDate| Periods::at(q).map(|p| offered(&p)).unwrap_or_default();
    let quarter_end = match period {
        None => candidates[0],
        Some((from, to)) => {
            let fits = |q: &NaiveDate| {
                offered_at(*q)
                    .iter()
                    .any(|p| p.from() == from && p.to() == to)
            };
            match candidates.iter().find(|q| fits(q)) {
                Some(q) => *q,
                None => {
                    let q = as_of.unwrap_or(latest);
                    return Err(AppError::bad_input(
                        "period",
                        format!(
                            "figures beyond your own authorities are published for fixed \
                             periods: as at {q}, {}",
                            spans(&offered_at(q))
                        ),
                    ));
                }
            }
        }
    };
    let period = match period {
        Some((from, to)) => offered_at(quarter_end)
            .into_iter()
            .find(|p| p.from() == from && p.to() == to),
        None => offered_at(quarter_end).into_iter().next(),
    }
    .ok_or(AppError::NotFound)?;
    Ok((load(svc, consortium_id, quarter_end).await?, period))
}

/// The quarter ends the caller's consortium has kept publications at, the latest first:
/// what a board analyst may ask figures as at. Any authenticated caller of the consortium
/// may know them (they are only dates).
pub async fn published_quarter_ends(svc: &Service<'_>) -> AppResult<Vec<NaiveDate>> {
    let consortium_id = svc.actor()?.consortium_id;
    Ok(store::publications::quarter_ends(svc.db(), consortium_id).await?)
}

/// The rows of a published table the authorities of a report ask for: all of the
/// publication's (the consortium) or one; anything else is a `BAD_USER_INPUT`.
pub fn scope(published: &Published, authorities: &[i64]) -> AppResult<Scope> {
    let all: BTreeSet<i64> = published.authorities.iter().copied().collect();
    let asked: BTreeSet<i64> = authorities.iter().copied().collect();
    if asked == all {
        return Ok(Scope::Consortium);
    }
    match authorities {
        [one] if all.contains(one) => Ok(Scope::Authority(*one)),
        _ => Err(AppError::bad_input(
            "authorityIds",
            "figures beyond your own authorities are published for each authority and for \
             the whole consortium: name one authority, or all of them (or none)",
        )),
    }
}

/// How often a replica looks for a quarter to publish.
const PUBLISH_EVERY: Duration = Duration::from_secs(3600);

/// Makes the latest completed quarter's publication for every consortium that has none
/// (see [`publish_due`]): at start, then every [`PUBLISH_EVERY`]. Replicas may race; the
/// first publication kept stands.
pub fn start_publishing(state: Weak<AppState>, stopping: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut refused = BTreeSet::new();
        let mut ticks = Ticks::every(state, stopping, PUBLISH_EVERY);
        while let Some(state) = ticks.next().await {
            let today = Utc::now().date_naive();
            if let Err(e) = publish_due(&state, today, &mut refused).await {
                tracing::warn!(error = ?e, "publishing failed; retried later");
            }
        }
    });
}

/// Makes the publication at the latest quarter end before `today` for each consortium
/// that has none, skipping those `refused` (their audit failed; not retried until
/// restart). Returns the publications kept.
pub async fn publish_due(
    state: &AppState,
    today: NaiveDate,
    refused: &mut BTreeSet<(i64, NaiveDate)>,
) -> AppResult<Vec<(i64, NaiveDate)>> {
    let quarter_end = publication::latest_quarter_end(today);
    let directory = state.directory.current();
    let mut kept = Vec::new();
    for consortium in directory.consortia() {
        let authorities: Vec<i64> = consortium.authorities.iter().map(|a| a.id).collect();
        if authorities.is_empty() || refused.contains(&(consortium.id, quarter_end)) {
            continue;
        }
        match publish(&state.db, consortium.id, &authorities, quarter_end).await? {
            Made::Kept(..) => {
                tracing::info!(consortium = %consortium.code, %quarter_end, "publication kept");
                kept.push((consortium.id, quarter_end));
            }
            Made::Already(_) => {}
            Made::Refused(_, audit) => {
                tracing::warn!(
                    consortium = %consortium.code,
                    %quarter_end,
                    too_narrow = audit.failures().count(),
                    "the publication failed its audit and is not kept"
                );
                refused.insert((consortium.id, quarter_end));
            }
        }
    }
    Ok(kept)
}
