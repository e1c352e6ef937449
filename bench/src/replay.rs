//! Replays: one GraphQL operation sent with variables drawn from a list, to any GraphQL
//! server over HTTP — the load of the paired comparison (`scripts/bench-compare`), which
//! sends each server the same kind of request for the same records.
//!
//! A replay file is JSON: `{"name": …, "bearer": …, "query": …, "variables": [{…}, …]}`.
//! Each request takes the next variables of a client's own seeded random draw; an answer
//! with `errors` (or none at all) counts as an error under its code.
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::client::Gql;
use super::driver::Until;
use super::stats::Stats;

/// One operation and the variables to send it with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    pub name: String,
    /// Sent as `Authorization: Bearer …`; empty for none.
    #[serde(default)]
    pub bearer: String,
    pub query: String,
    pub variables: Vec<Value>,
}

impl Replay {
    /// Reads a replay file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the replay {}", path.display()))?;
        let replay: Replay = serde_json::from_str(&text)
            .with_context(|| format!("the replay {} is not one", path.display()))?;
        if replay.variables.is_empty() {
            bail!("the replay {} has no variables to send", path.display());
        }
        Ok(replay)
    }
}

/// One client of a replay: requests until `until`, each with variables drawn from `seed`.
pub async fn replay_client(gql: Gql, replay: Arc<Replay>, seed: u64, until: Until) -> Stats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Stats::default();
    while until.another() {
        let variables = replay.variables.choose(&mut rng).expect("checked").clone();
        let reply = gql
            .post::<IgnoredAny>(&replay.bearer, &replay.query, variables)
            .await;
        stats.record(reply.latency, reply.outcome.err().as_deref());
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_replay_and_refuses_an_empty_one() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let good = dir.path().join("good.json");
        std::fs::write(
            &good,
            r#"{"name":"child","query":"query($id: ID!) { child(id: $id) { id } }","variables":[{"id":"1"}]}"#,
        )
        .expect("write");
        let replay = Replay::load(&good).expect("a replay");
        assert_eq!(
            (replay.name.as_str(), replay.bearer.as_str()),
            ("child", "")
        );
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, r#"{"name":"x","query":"{ a }","variables":[]}"#).expect("write");
        assert!(Replay::load(&empty).is_err());
        let unknown = dir.path().join("unknown.json");
        std::fs::write(
            &unknown,
            r#"{"name":"x","query":"{ a }","variables":[{}],"extra":1}"#,
        )
        .expect("write");
        assert!(Replay::load(&unknown).is_err());
    }
}
