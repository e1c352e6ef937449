//! The publication of a consortium at a quarter end: its figures read and computed as they
//! are, its cells withheld jointly ([`suppression::suppress`]) and audited
//! ([`suppression::audit`]). See [`crate::domain::publication`] for the tables.
use chrono::NaiveDate;
use sea_orm::DatabaseConnection;

use super::board::sufficiency_of;
use crate::domain::publication::{self, Figures, Periods};
use crate::domain::suppression::{self, Audit, Decision, Model};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::recruitment::{JourneyScope, JourneySnapshot};
use crate::store::snapshots::Snapshot;

/// A publication: its model, the decision, and who it is of.
pub struct Publication {
    pub consortium_id: i64,
    pub periods: Periods,
    pub authorities: Vec<i64>,
    pub model: Model,
    pub decision: Decision,
}

impl Publication {
    /// The audit of the decision.
    pub fn audit(&self) -> Audit {
        suppression::audit(&self.model, &self.decision)
    }
}

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

/// Builds the consortium's publication at `quarter_end`: every figure, the cells withheld.
pub async fn build(
    db: &DatabaseConnection,
    consortium_id: i64,
    authorities: &[i64],
    quarter_end: NaiveDate,
) -> AppResult<Publication> {
    let figures = figures(db, consortium_id, authorities, quarter_end).await?;
    let model = publication::model(&figures);
    // The solver is CPU-bound: off the async workers.
    let (model, decision) = tokio::task::spawn_blocking(move || {
        let decision = suppression::suppress(&model);
        (model, decision)
    })
    .await
    .map_err(|e| AppError::from(anyhow::Error::from(e)))?;
    Ok(Publication {
        consortium_id,
        periods: figures.periods,
        authorities: authorities.to_vec(),
        model,
        decision,
    })
}
