//! Nested records cost a constant number of statements: a page of 5 and a page of 50
//! children with their sibling groups and members, of households with their events, and
//! of links with their children (and those children's groups) and household, each run the
//! same number of reading statements, counted on the serving pool
//! (`AppState::reads`, fed by the database connection's metric callback).
//!
//! Counts, on SQLite and PostgreSQL alike: with the loaders, the children query below runs
//! 4 reads for a page of 5 and for a page of 50, the households query 3 and 3, the links
//! query 8 and 8. With every nested read made row by row, as before the loaders (measured
//! with batches of one key), the children query ran 12 reads for 5 and 102 for 50; the
//! households and links queries likewise ran one more read per household's events and per
//! link's children and household.
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, approved_household, create_household, pool_child};

const CHILDREN: &str = r#"
query($first: Int) {
  children(first: $first) {
    nodes { id siblingGroup { id label members { id profileName } } }
  }
}"#;

const HOUSEHOLDS: &str = r#"
query($first: Int) {
  households(first: $first) {
    nodes { id events { stage occurredOn } }
  }
}"#;

const LINKS: &str = r#"
query($first: Int) {
  links(first: $first) {
    nodes {
      id
      children {
        ... on Child { id siblingGroup { id members { id } } }
        ... on ChildProfile { id siblingGroupSize }
      }
      household {
        ... on Household { id events { stage } }
        ... on HouseholdProfile { id }
      }
    }
  }
}"#;

/// The fewest reading statements `query` ran for a page of `first` in three runs (the
/// revocation poll reads on the same pool now and then; a run it fell into counts more).
async fn reads(app: &TestApp, token: &str, query: &str, first: usize, field: &str) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..3 {
        app.flush_audit().await;
        let before = app.state.reads.load(Ordering::SeqCst);
        let data = app.ok(token, query, json!({ "first": first })).await;
        let after = app.state.reads.load(Ordering::SeqCst);
        let nodes = data[field]["nodes"].as_array().expect("nodes").len();
        assert_eq!(nodes, first, "{field}: a full page of {first}");
        fewest = fewest.min(after - before);
    }
    fewest
}

async fn a_page_of_fifty_costs_what_a_page_of_five_costs(app: TestApp) {
    const N: usize = 50;
    let ff = app.role("alder", "FAMILY_FINDER");
    let sw = app.role("alder", "SOCIAL_WORKER");
    let household = approved_household(&app, "alder", "Rowan").await;
    for i in 1..N {
        create_household(&app, "alder", &format!("Home {i}")).await;
    }
    let mut children = Vec::new();
    for i in 0..N {
        children.push(pool_child(&app, "alder", &format!("Kit {i}")).await);
    }
    for (i, pair) in children.chunks(2).enumerate() {
        app.ok(
            &sw,
            "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id } } }",
            json!({ "input": { "childIds": pair, "label": format!("Pair {i}"), "mustStayTogether": false } }),
        )
        .await;
    }
    for child in &children {
        app.ok(
            &ff,
            "mutation($input: ProposeLinkInput!) { proposeLink(input: $input) { link { id } } }",
            json!({ "input": { "childId": child, "householdId": household } }),
        )
        .await;
    }
    let reader = app.token(
        "reader",
        &[(
            "alder",
            &["SOCIAL_WORKER", "FAMILY_FINDER", "RECRUITMENT_OFFICER"],
        )],
    );
    for (query, field) in [
        (CHILDREN, "children"),
        (HOUSEHOLDS, "households"),
        (LINKS, "links"),
    ] {
        let five = reads(&app, &reader, query, 5, field).await;
        let fifty = reads(&app, &reader, query, N, field).await;
        eprintln!(
            "{:?} {field}: {five} reads for 5, {fifty} for {N}",
            app.backend
        );
        assert_eq!(
            five, fifty,
            "{field}: a page of {N} ran {fifty} reads, a page of 5 ran {five}"
        );
    }
}

both_backends!(a_page_of_fifty_costs_what_a_page_of_five_costs);
