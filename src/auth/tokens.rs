//! Minting development tokens: `permanence token`, the tokens `serve --demo` prints and the
//! load driver (`permanence-bench`) all build their claims here and sign them with the
//! configured HS256 secret. Each of them refuses to mint when `PERMANENCE_ENV=production`.
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;

use super::jwt::{Claims, JwtKeys, MembershipClaim};
use crate::cli::TokenArgs;

/// What a minted token grants: who, in which consortium, with which roles, for how long.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Subject (`sub`).
    pub subject: String,
    /// Display name.
    pub name: Option<String>,
    /// Consortium code.
    pub consortium: String,
    /// Roles in each authority.
    pub memberships: Vec<MembershipClaim>,
    /// Consortium roles.
    pub consortium_roles: Vec<String>,
    /// Lifetime from now.
    pub ttl: Duration,
}

impl Grant {
    /// The grant the `token` command's flags describe: `--authority` with its `--role`s,
    /// then each `--membership CODE:ROLE,ROLE`.
    pub fn from_args(args: &TokenArgs) -> anyhow::Result<Self> {
        let mut memberships: Vec<MembershipClaim> = Vec::new();
        if let Some(authority) = &args.authority {
            memberships.push(MembershipClaim {
                authority: authority.clone(),
                roles: args.roles.clone(),
            });
        } else if !args.roles.is_empty() {
            bail!("--role needs --authority (or use --membership CODE:ROLE,ROLE)");
        }
        for m in &args.memberships {
            let (code, roles) = m
                .split_once(':')
                .with_context(|| format!("bad --membership {m}: use CODE:ROLE,ROLE"))?;
            memberships.push(MembershipClaim {
                authority: code.to_owned(),
                roles: roles
                    .split(',')
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .collect(),
            });
        }
        Ok(Grant {
            subject: args.sub.clone(),
            name: args.name.clone(),
            consortium: args.consortium.clone(),
            memberships,
            consortium_roles: args.consortium_roles.clone(),
            ttl: args.ttl,
        })
    }
}

/// Signs `grant` with `keys` (HS256 only): issued now, with a fresh `jti`.
pub fn mint(keys: &JwtKeys, grant: Grant) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: grant.subject,
        name: grant.name,
        iss: keys.issuer().to_owned(),
        aud: keys.audience().to_owned(),
        iat: now,
        exp: now + grant.ttl.as_secs() as i64,
        jti: Some(uuid::Uuid::new_v4().to_string()),
        nbf: None,
        consortium: grant.consortium,
        memberships: grant.memberships,
        consortium_roles: grant.consortium_roles,
    };
    keys.mint(&claims)
}
