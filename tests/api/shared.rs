//! What the replica tests (in one process, `replicas`) and the process tests (`permanence
//! serve` children, `processes`) ask of a server alike: the scorecard with its cache
//! status, an adoption recorded in its period, a revocation, whether a token is taken and
//! whether two servers spend from one rate-limit bucket.
use std::future::Future;

use serde_json::{Value, json};

use crate::helpers::{TestApp, cost, error_code};
use crate::process::Server;

pub const SCORECARD: &str = r#"{ scorecard(asOf: "2024-06-01", period: { from: "2021-04-01", to: "2024-03-31" }) {
  period { total { cohort { value suppressed } } } } }"#;
pub const VIEWER: &str = "{ viewer { subject } }";
/// Costs 4 points (three fields and `viewer`).
pub const VIEWER_4: &str = "{ viewer { subject name consortiumRoles } }";
pub const REVOKE: &str = "mutation($input: RevokeSessionsInput!) { revokeSessions(input: $input) { subject revokedAt } }";
pub const MILESTONES: &str = "mutation($input: RecordChildMilestonesInput!) { recordChildMilestones(input: $input) { child { version } } }";
pub const DECISION: &str = "mutation($input: RecordChildDecisionInput!) { recordChildDecision(input: $input) { child { version } } }";

/// A server the tests send GraphQL to: in this process or a child process.
pub trait Ask {
    /// POSTs a GraphQL request; the response body.
    fn ask(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> impl Future<Output = Value>;
}

/// The servers whose own `gql` is their `ask`.
macro_rules! ask_by_gql {
    ($($server:ty),*) => { $(
        impl Ask for $server {
            fn ask(
                &self,
                token: Option<&str>,
                query: &str,
                variables: Value,
            ) -> impl Future<Output = Value> {
                self.gql(token, query, variables)
            }
        }
    )* };
}

ask_by_gql!(TestApp, Server);

/// Like `ask`, but fails on any error and returns `data`.
async fn ask_ok(server: &impl Ask, token: &str, query: &str, variables: Value) -> Value {
    let body = server.ask(Some(token), query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"].clone()
}

/// The scorecard's cohort (children adopted in 2021-24) as `token` sees it, and whether the
/// report came from the cache (`HIT`, `MISS` or `BYPASS`).
pub async fn scorecard(server: &impl Ask, token: &str) -> (u64, String) {
    let body = server.ask(Some(token), SCORECARD, json!({})).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    let cohort = body["data"]["scorecard"]["period"]["total"]["cohort"]["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("cohort shown: {body:#}"));
    let status = body["extensions"]["reportCache"][0]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("cache status: {body:#}"))
        .to_owned();
    (cohort, status)
}

/// Records the journey of the alder child `id` (at version `v`, in care since 2022-01-10)
/// to an adoption order in 2023, in the scorecard's period, as its social worker `sw` and
/// decision maker `dm`.
pub async fn record_adoption(server: &impl Ask, (sw, dm): (&str, &str), id: &str, mut v: i64) {
    // Each step: who takes it, the mutation, the field it answers in, and its input.
    #[rustfmt::skip]
    let steps = [
        (sw, MILESTONES, "recordChildMilestones", json!({ "adoptionPlanOn": "2022-03-01", "placementOrderOn": "2022-06-01" })),
        (dm, DECISION, "recordChildDecision", json!({ "decision": "SHOBPA", "decidedOn": "2022-04-01" })),
        (dm, DECISION, "recordChildDecision", json!({ "decision": "MATCH", "decidedOn": "2022-09-01" })),
        (sw, MILESTONES, "recordChildMilestones", json!({ "placedOn": "2022-10-01", "adoptionOrderOn": "2023-05-01" })),
    ];
    for (token, document, field, mut input) in steps {
        input["id"] = json!(id);
        input["expectedVersion"] = json!(v);
        let data = ask_ok(server, token, document, json!({ "input": input })).await;
        v = data[field]["child"]["version"].as_i64().expect("version");
    }
}

/// Revokes `subject`'s sessions through `server` as `admin`; the revocation instant as
/// returned.
pub async fn revoke(server: &impl Ask, admin: &str, subject: &str) -> String {
    let data = ask_ok(
        server,
        admin,
        REVOKE,
        json!({ "input": { "subject": subject } }),
    )
    .await;
    assert_eq!(data["revokeSessions"]["subject"], subject);
    data["revokeSessions"]["revokedAt"]
        .as_str()
        .expect("revokedAt")
        .to_owned()
}

/// Whether `server` accepts `token` (refusing it, it must be as UNAUTHENTICATED).
pub async fn accepted(server: &impl Ask, token: &str) -> bool {
    let body = server.ask(Some(token), VIEWER, json!({})).await;
    match error_code(&body) {
        None => true,
        Some(code) => {
            assert_eq!(code, "UNAUTHENTICATED", "{body:#}");
            false
        }
    }
}

/// Spends from a 40-point bucket on `a`, then on `b`, as `token`: the first answer costs 2
/// of the 40, and `b` is left less than `a` was (it spends from the same bucket).
pub async fn one_bucket_spent_from_both(a: &impl Ask, b: &impl Ask, token: &str) {
    let first = a.ask(Some(token), VIEWER, json!({})).await;
    let (requested, remaining) = cost(&first);
    assert_eq!((requested, remaining), (2, 38), "{first:#}");
    assert_eq!(first["extensions"]["cost"]["limit"], 40);
    let (_, remaining_b) = cost(&b.ask(Some(token), VIEWER, json!({})).await);
    assert!(
        remaining_b < remaining,
        "B spends from the bucket A spent from ({remaining} then {remaining_b})"
    );
}
