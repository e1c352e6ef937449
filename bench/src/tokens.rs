//! The fixed mix of tokens a benchmark run uses, minted in-process with the same JWT
//! settings as the server (`--jwt-secret`, `--jwt-issuer`, `--jwt-audience`).
//!
//! | who | claims | used by |
//! | --- | --- | --- |
//! | `bench-manager` | `MANAGER` of every authority | funnel, scorecard |
//! | `bench-admin` | consortium role `CONSORTIUM_ADMIN` | the authorities, the audit check |
//! | `bench-ff-CODE` | `FAMILY_FINDER` of one authority | suggestions, child, children, ids |
//! | `bench-writer-RUN-N` | `SOCIAL_WORKER`, `RECRUITMENT_OFFICER`, `FAMILY_FINDER` of every authority | one per write client |
//!
//! The writers' subjects carry a run id so that the audit check can count exactly the
//! events of this run.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use permanence::auth::jwt::MembershipClaim;
use permanence::auth::tokens::{self, Grant};
use permanence::config::Config;

/// How long the minted tokens live: longer than any sensible run.
const TTL: Duration = Duration::from_secs(12 * 3600);

/// Roles of the write clients in every authority.
const WRITER_ROLES: [&str; 3] = ["SOCIAL_WORKER", "RECRUITMENT_OFFICER", "FAMILY_FINDER"];

/// A token and the subject it speaks for.
#[derive(Clone, Debug)]
pub struct Token {
    pub subject: String,
    pub bearer: String,
}

/// Mints the run's tokens.
pub struct Minter<'a> {
    config: &'a Config,
    consortium: String,
    /// Distinguishes this run's write subjects from earlier runs'.
    run_id: String,
}

impl<'a> Minter<'a> {
    /// A minter for `consortium`.
    pub fn new(config: &'a Config, consortium: &str) -> Self {
        Minter {
            config,
            consortium: consortium.to_owned(),
            run_id: Utc::now().format("%Y%m%d%H%M%S%3f").to_string(),
        }
    }

    /// A manager of every authority of `codes`: the reports it asks are computed from the
    /// records for any period (board analysts are answered from the quarterly publication
    /// instead, which costs a lookup).
    pub fn manager(&self, codes: &[String]) -> anyhow::Result<Token> {
        self.mint(
            "bench-manager",
            codes
                .iter()
                .map(|code| membership(code, &["MANAGER"]))
                .collect(),
            &[],
        )
    }

    /// A consortium administrator (reads the whole consortium's audit log).
    pub fn consortium_admin(&self) -> anyhow::Result<Token> {
        self.mint("bench-admin", Vec::new(), &["CONSORTIUM_ADMIN"])
    }

    /// A family finder of the authority `code`.
    pub fn family_finder(&self, code: &str) -> anyhow::Result<Token> {
        self.mint(
            &format!("bench-ff-{code}"),
            vec![membership(code, &["FAMILY_FINDER"])],
            &[],
        )
    }

    /// Write client number `n`, with the writing roles in every authority of `codes`.
    pub fn writer(&self, n: usize, codes: &[String]) -> anyhow::Result<Token> {
        self.mint(
            &format!("bench-writer-{}-{n}", self.run_id),
            codes
                .iter()
                .map(|code| membership(code, &WRITER_ROLES))
                .collect(),
            &[],
        )
    }

    /// A family finder for each authority of `codes`, by code.
    pub fn family_finders(&self, codes: &[String]) -> anyhow::Result<BTreeMap<String, Token>> {
        codes
            .iter()
            .map(|code| Ok((code.clone(), self.family_finder(code)?)))
            .collect()
    }

    fn mint(
        &self,
        subject: &str,
        memberships: Vec<MembershipClaim>,
        consortium_roles: &[&str],
    ) -> anyhow::Result<Token> {
        let grant = Grant {
            subject: subject.to_owned(),
            name: Some(format!("Benchmark {subject}")),
            consortium: self.consortium.clone(),
            memberships,
            consortium_roles: consortium_roles.iter().map(|r| (*r).to_owned()).collect(),
            ttl: TTL,
        };
        Ok(Token {
            subject: subject.to_owned(),
            bearer: tokens::mint(&self.config.jwt, grant)?,
        })
    }
}

fn membership(code: &str, roles: &[&str]) -> MembershipClaim {
    MembershipClaim {
        authority: code.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}
