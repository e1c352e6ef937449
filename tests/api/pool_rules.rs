//! One definition each of "in the pool" and "waiting for a match" (`policy::child_in_pool`,
//! `policy::household_in_pool`, `MilestoneDates::is_waiting`): the SQL filters the store
//! uses for the pool lists and the matching pool give exactly the records the definitions
//! give, on a synthetic consortium varied so that every clause of the rules decides some
//! record.
use std::collections::BTreeSet;

use entity::{child, consortium, household};
use permanence::auth::policy::{child_in_pool, household_in_pool, milestones_of};
use permanence::cli::SyntheticArgs;
use permanence::store::matching::{pool_households, waiting_and_pooled_children};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, IntoActiveModel, QueryFilter,
};
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(the_pool_and_waiting_filters_in_sql_are_the_policys_rules);

/// The ids of the `rows` that `keep` holds for.
fn ids_where<T>(rows: &[T], keep: impl Fn(&T) -> bool, id: impl Fn(&T) -> i64) -> BTreeSet<i64> {
    rows.iter().filter(|r| keep(r)).map(id).collect()
}

/// The rows of entity `E` whose `column` holds the consortium id `cid`.
async fn of_consortium<E: EntityTrait>(
    db: &DatabaseConnection,
    column: E::Column,
    cid: i64,
) -> Vec<E::Model> {
    E::find()
        .filter(column.eq(cid))
        .all(db)
        .await
        .expect("rows")
}

async fn the_pool_and_waiting_filters_in_sql_are_the_policys_rules(app: TestApp) {
    let db = &app.state.db;
    permanence::seed::synthetic::load(
        db,
        &SyntheticArgs {
            children: 400,
            households: 400,
            enquiries: 1600,
            seed: 11,
        },
    )
    .await
    .expect("synthetic data");
    let consortium = consortium::Entity::find()
        .filter(consortium::Column::Code.eq("synthetic"))
        .one(db)
        .await
        .expect("read")
        .expect("the synthetic consortium");
    let cid = consortium.id;

    // Vary what the generator keeps uniform: sharing, plan changes, revocations,
    // availability and holds, each on a different stride of ids.
    let children = of_consortium::<child::Entity>(db, child::Column::ConsortiumId, cid).await;
    for c in children {
        let (id, since) = (c.id, c.shobpa_decision_on.or(c.placement_order_on));
        let mut am = c.into_active_model();
        if id % 5 == 0 {
            am.shared_with_consortium = Set(false);
        }
        if id % 7 == 0 && since.is_some() {
            am.plan_changed_on = Set(since);
            am.plan_change_reason = Set(Some("RD4".into()));
        }
        if id % 11 == 0 {
            am.placement_order_revoked_on = Set(am.placement_order_on.clone().unwrap());
        }
        am.update(db).await.expect("child varied");
    }
    let households =
        of_consortium::<household::Entity>(db, household::Column::ConsortiumId, cid).await;
    for h in households {
        let id = h.id;
        let mut am = h.into_active_model();
        if id % 5 == 0 {
            am.shared_with_consortium = Set(false);
        }
        if id % 3 == 0 {
            am.available_for_matching = Set(false);
        }
        if id % 7 == 0 {
            am.on_hold = Set(true);
        }
        am.update(db).await.expect("household varied");
    }
    // Rows written outside the API bump the consortium's data version (see the README).
    db.execute_unprepared(&format!(
        "UPDATE consortium SET data_version = data_version + 1 WHERE id = {cid}"
    ))
    .await
    .expect("version bumped");
    app.state.directory.reload(db).await.expect("directory");

    // What the definitions say.
    let children = of_consortium::<child::Entity>(db, child::Column::ConsortiumId, cid).await;
    let pooled = ids_where(&children, child_in_pool, |c| c.id);
    let waiting = ids_where(&children, |c| milestones_of(c).is_waiting(), |c| c.id);
    let households =
        of_consortium::<household::Entity>(db, household::Column::ConsortiumId, cid).await;
    let pool_homes = ids_where(&households, household_in_pool, |h| h.id);
    // Every clause decides something: the test can tell the rules apart.
    let unshared_waiting = children
        .iter()
        .filter(|c| !c.shared_with_consortium && waiting.contains(&c.id))
        .count();
    let plan_ended = children
        .iter()
        .filter(|c| c.plan_changed_on.is_some() || c.placement_order_revoked_on.is_some())
        .count();
    assert!(pooled.len() > 20, "{} pooled", pooled.len());
    assert!(unshared_waiting > 0 && plan_ended > 0 && waiting.len() < children.len());
    assert!(
        pool_homes.len() > 10,
        "{} households in the pool",
        pool_homes.len()
    );
    for clause in [
        households
            .iter()
            .filter(|h| !h.shared_with_consortium)
            .count(),
        households
            .iter()
            .filter(|h| !h.available_for_matching)
            .count(),
        households.iter().filter(|h| h.on_hold).count(),
        households.iter().filter(|h| h.stage != "APPROVED").count(),
    ] {
        assert!(clause > 0);
    }

    // The matching pool's SQL.
    let (_, rows) = waiting_and_pooled_children(db, cid, None)
        .await
        .expect("matching children");
    let sql_pooled = ids_where(&rows, |r| r.pooled, |r| r.child.id);
    let sql_waiting = ids_where(&rows, |r| r.waiting, |r| r.child.id);
    assert_eq!(sql_pooled, pooled, "children in the pool");
    assert_eq!(sql_waiting, waiting, "children waiting");
    let homes = pool_households(db, cid, None)
        .await
        .expect("matching households");
    let sql_homes = ids_where(&homes, |h| h.shared, |h| h.candidate.id);
    assert_eq!(sql_homes, pool_homes, "households in the pool");

    // The pool lists' SQL, through the API.
    let authority = entity::authority::Entity::find()
        .filter(entity::authority::Column::ConsortiumId.eq(cid))
        .one(db)
        .await
        .expect("read")
        .expect("an authority");
    let ff = app.token_with(
        "pool-rules-ff",
        "synthetic",
        &[(authority.code.as_str(), &["FAMILY_FINDER"])],
        &[],
    );
    let data = app
        .ok(
            &ff,
            "{ poolChildren(first: 1) { totalCount } poolHouseholds(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["poolChildren"]["totalCount"], pooled.len());
    assert_eq!(data["poolHouseholds"]["totalCount"], pool_homes.len());
}
