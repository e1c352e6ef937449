//! Synthetic data at scale, for benchmarks and load tests.
//!
//! `permanence seed synthetic --children N --households N --enquiries N [--seed S]` writes
//! into two consortia, creating them (and their authorities) if absent:
//! - `synthetic`: local authorities `north`, `south`, `east`, `west` and the voluntary
//!   agency `vaa`, with about 95% of the records;
//! - `synthetic-b`: local authorities `hill` and `vale`, with the other 5%, so that a
//!   benchmark can check that one consortium never sees the other's records.
//!
//! Children go to the local authorities only, households to every authority, split evenly.
//! The journeys follow [`Mix::SYNTHETIC`]: about two thirds of the households are approved
//! and waiting (most of them available and shared, so the consortium pool is large) and
//! about 40% of the children are waiting. `--enquiries` is the total number of recruitment
//! events to aim for; the histories are fitted to it as described in
//! [`super::households`] (every household keeps at least its `ENQUIRY`, so the total is
//! never below the number of households).
//!
//! The data depends only on the arguments: dates are drawn relative to the fixed
//! reference date [`AS_OF`], not today, so the same seed gives the same rows on any day
//! (into an empty database; ids follow on from existing rows otherwise).
//!
//! Everything is written in one transaction with multi-row inserts (see [`super::bulk`]).
use std::time::Instant;

use chrono::NaiveDate;
use entity::{authority, consortium};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sea_orm::{ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter};

use super::bulk;
use super::generator::{AuthorityPlan, Mix, Spec, generate};
use crate::cli::SyntheticArgs;
use crate::domain::AuthorityKind;
use crate::store;
use crate::store::tenancy::{create_authority, create_consortium};

/// The reference date of the synthetic set: every history ends on or before it.
pub const AS_OF: NaiveDate = match NaiveDate::from_ymd_opt(2026, 3, 31) {
    Some(date) => date,
    None => panic!("2026-03-31 is a date"),
};

/// What a synthetic load wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyntheticReport {
    /// Children written.
    pub children: usize,
    /// Households written.
    pub households: usize,
    /// Recruitment events written.
    pub events: usize,
    /// Sibling groups written.
    pub sibling_groups: usize,
    /// Households approved, available, not on hold and shared: the consortium pools.
    pub pool_households: usize,
    /// Children with an active plan and no match yet.
    pub waiting_children: usize,
}

/// One authority of the synthetic layout.
struct AuthoritySeed {
    code: &'static str,
    name: &'static str,
    kind: AuthorityKind,
    centre: (f64, f64),
}

/// One consortium of the synthetic layout and its share of the records, in percent.
struct ConsortiumSeed {
    code: &'static str,
    name: &'static str,
    percent: usize,
    authorities: &'static [AuthoritySeed],
}

const fn la(code: &'static str, name: &'static str, centre: (f64, f64)) -> AuthoritySeed {
    AuthoritySeed {
        code,
        name,
        kind: AuthorityKind::LocalAuthority,
        centre,
    }
}

const LAYOUT: [ConsortiumSeed; 2] = [
    ConsortiumSeed {
        code: "synthetic",
        name: "Synthetic Regional Adoption Agency",
        percent: 95,
        authorities: &[
            la("north", "North Synthetic Council", (52.70, -2.00)),
            la("south", "South Synthetic Council", (52.20, -1.90)),
            la("east", "East Synthetic Council", (52.45, -1.45)),
            la("west", "West Synthetic Council", (52.50, -2.40)),
            AuthoritySeed {
                code: "vaa",
                name: "Synthetic Voluntary Adoption Agency",
                kind: AuthorityKind::VoluntaryAgency,
                centre: (52.48, -1.90),
            },
        ],
    },
    ConsortiumSeed {
        code: "synthetic-b",
        name: "Second Synthetic Regional Adoption Agency",
        percent: 5,
        authorities: &[
            la("hill", "Hill Synthetic Council", (52.80, -2.10)),
            la("vale", "Vale Synthetic Council", (52.10, -2.30)),
        ],
    },
];

/// Loads synthetic data (see the module documentation).
pub async fn load(
    db: &DatabaseConnection,
    args: &SyntheticArgs,
) -> anyhow::Result<SyntheticReport> {
    let started = Instant::now();
    let txn = store::begin_write(db).await?;
    let mut plans = Vec::new();
    let (mut children_left, mut households_left) = (args.children, args.households);
    for (n, layout) in LAYOUT.iter().enumerate() {
        // The last consortium takes what is left, so the totals are exact.
        let last = n + 1 == LAYOUT.len();
        let children = if last {
            children_left
        } else {
            args.children * layout.percent / 100
        };
        let households = if last {
            households_left
        } else {
            args.households * layout.percent / 100
        };
        children_left -= children;
        households_left -= households;
        let (consortium_id, authority_ids) = ensure_consortium(&txn, layout).await?;
        // A running service's in-memory copies of this consortium's data are stale now.
        store::bump_data_version(&txn, store::Writes::Consortium(consortium_id)).await?;
        plans.extend(authority_plans(
            layout,
            consortium_id,
            &authority_ids,
            children,
            households,
        ));
    }
    let first_ids = bulk::next_ids(&txn).await?;
    let spec = Spec {
        as_of: AS_OF,
        authorities: &plans,
        mix: &Mix::SYNTHETIC,
        event_target: Some(args.enquiries),
        first_ids,
    };
    let data = generate(&spec, &mut ChaCha8Rng::seed_from_u64(args.seed));
    let report = SyntheticReport {
        children: data.children.len(),
        households: data.households.len(),
        events: data.events.len(),
        sibling_groups: data.sibling_groups.len(),
        pool_households: data.pool_households(),
        waiting_children: data.waiting_children(),
    };
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        ?report,
        "synthetic data generated"
    );
    bulk::insert(&txn, &data).await?;
    bulk::reset_sequences(&txn).await?;
    txn.commit().await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "synthetic data written"
    );
    Ok(report)
}

/// The consortium of `layout` and its authorities' ids (in layout order), created where
/// missing.
async fn ensure_consortium(
    txn: &DatabaseTransaction,
    layout: &ConsortiumSeed,
) -> anyhow::Result<(i64, Vec<i64>)> {
    let consortium_id = match consortium::Entity::find()
        .filter(consortium::Column::Code.eq(layout.code))
        .one(txn)
        .await?
    {
        Some(c) => c.id,
        None => create_consortium(txn, layout.code, layout.name).await?,
    };
    let mut ids = Vec::with_capacity(layout.authorities.len());
    for a in layout.authorities {
        let existing = authority::Entity::find()
            .filter(authority::Column::ConsortiumId.eq(consortium_id))
            .filter(authority::Column::Code.eq(a.code))
            .one(txn)
            .await?;
        ids.push(match existing {
            Some(found) => found.id,
            None => create_authority(txn, consortium_id, a.code, a.name, a.kind).await?,
        });
    }
    Ok((consortium_id, ids))
}

/// Splits the consortium's records evenly: children over its local authorities,
/// households over all its authorities.
fn authority_plans(
    layout: &ConsortiumSeed,
    consortium_id: i64,
    authority_ids: &[i64],
    children: usize,
    households: usize,
) -> Vec<AuthorityPlan> {
    let local = layout
        .authorities
        .iter()
        .filter(|a| a.kind == AuthorityKind::LocalAuthority)
        .count();
    let mut children_split = split(children, local).into_iter();
    let mut households_split = split(households, layout.authorities.len()).into_iter();
    layout
        .authorities
        .iter()
        .zip(authority_ids)
        .map(|(a, id)| AuthorityPlan {
            consortium_id,
            authority_id: *id,
            code: a.code.into(),
            centre: a.centre,
            children: if a.kind == AuthorityKind::LocalAuthority {
                children_split.next().unwrap_or(0)
            } else {
                0
            },
            households: households_split.next().unwrap_or(0),
        })
        .collect()
}

/// `total` in `parts` near-equal shares, the larger ones first.
fn split(total: usize, parts: usize) -> Vec<usize> {
    if parts == 0 {
        return Vec::new();
    }
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use entity::{child, household, recruitment_event, sibling_group};
    use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};

    use super::*;

    fn args(seed: u64) -> SyntheticArgs {
        SyntheticArgs {
            children: 200,
            households: 500,
            enquiries: 3000,
            seed,
        }
    }

    async fn fresh_db(dir: &tempfile::TempDir, name: &str) -> DatabaseConnection {
        let path = dir.path().join(name);
        let db = store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("connect");
        store::migrate(&db).await.expect("migrate");
        db
    }

    #[test]
    fn records_are_split_evenly() {
        assert_eq!(split(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(split(0, 2), vec![0, 0]);
        assert!(split(5, 0).is_empty());
    }

    #[tokio::test]
    async fn a_load_writes_what_it_reports_and_the_same_seed_writes_the_same_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = fresh_db(&dir, "first.db").await;
        let report = load(&first, &args(42)).await.expect("load");
        assert_eq!(report.children, 200);
        assert_eq!(report.households, 500);
        assert!(
            report.events.abs_diff(3000) <= 1,
            "{} events",
            report.events
        );
        assert!(report.pool_households > 250, "a large pool: {report:?}");
        assert!(report.waiting_children > 50, "many waiting: {report:?}");

        assert_eq!(
            child::Entity::find().count(&first).await.expect("count") as usize,
            report.children
        );
        assert_eq!(
            household::Entity::find()
                .count(&first)
                .await
                .expect("count") as usize,
            report.households
        );
        assert_eq!(
            recruitment_event::Entity::find()
                .count(&first)
                .await
                .expect("count") as usize,
            report.events
        );
        assert_eq!(
            sibling_group::Entity::find()
                .count(&first)
                .await
                .expect("count") as usize,
            report.sibling_groups
        );
        let consortia = consortium::Entity::find()
            .all(&first)
            .await
            .expect("consortia");
        let b = consortia
            .iter()
            .find(|c| c.code == "synthetic-b")
            .expect("second consortium");
        let in_b = household::Entity::find()
            .filter(household::Column::ConsortiumId.eq(b.id))
            .count(&first)
            .await
            .expect("count");
        assert_eq!(in_b, 25, "5% of the households");

        let second = fresh_db(&dir, "second.db").await;
        assert_eq!(load(&second, &args(42)).await.expect("load"), report);
        async fn rows(
            db: &DatabaseConnection,
        ) -> (
            Vec<sibling_group::Model>,
            Vec<child::Model>,
            Vec<household::Model>,
            Vec<recruitment_event::Model>,
        ) {
            (
                sibling_group::Entity::find()
                    .order_by_asc(sibling_group::Column::Id)
                    .all(db)
                    .await
                    .expect("rows"),
                child::Entity::find()
                    .order_by_asc(child::Column::Id)
                    .all(db)
                    .await
                    .expect("rows"),
                household::Entity::find()
                    .order_by_asc(household::Column::Id)
                    .all(db)
                    .await
                    .expect("rows"),
                recruitment_event::Entity::find()
                    .order_by_asc(recruitment_event::Column::Id)
                    .all(db)
                    .await
                    .expect("rows"),
            )
        }
        let (a, b) = (rows(&first).await, rows(&second).await);
        assert!(a == b, "the same seed gives the same rows");

        // Another seed gives other rows, appended after the first load's.
        let again = load(&first, &args(43)).await.expect("second load");
        assert_eq!(
            household::Entity::find()
                .count(&first)
                .await
                .expect("count") as usize,
            report.households + again.households
        );
        let consortia_after = consortium::Entity::find()
            .count(&first)
            .await
            .expect("count");
        assert_eq!(consortia_after, 2, "the consortia are reused");
    }
}
