//! `Config`, built once from the command line and environment.
use anyhow::{Context, bail};

use crate::auth::jwt::{DEVELOPMENT_SECRET, JwtKeys};
use crate::cli::{Environment, GlobalArgs};

/// Everything the service needs to know about its surroundings.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub environment: Environment,
    pub jwt: JwtKeys,
}

impl Config {
    /// Builds the configuration; production refuses the built-in development secret.
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<Self> {
        let production = args.environment == Environment::Production;
        let jwt = match (&args.jwt_public_key_file, &args.jwt_secret) {
            (Some(path), _) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading JWT public key {}", path.display()))?;
                JwtKeys::rs256(&pem, &args.jwt_issuer, &args.jwt_audience)?
            }
            (None, Some(secret)) => {
                if production && secret == DEVELOPMENT_SECRET {
                    bail!("PERMANENCE_ENV=production refuses the built-in development JWT secret");
                }
                if secret.len() < 32 {
                    bail!("JWT_SECRET must be at least 32 bytes");
                }
                JwtKeys::hs256(secret.as_bytes(), &args.jwt_issuer, &args.jwt_audience)
            }
            (None, None) => {
                if production {
                    bail!("PERMANENCE_ENV=production needs JWT_SECRET or JWT_PUBLIC_KEY_FILE");
                }
                JwtKeys::hs256(
                    DEVELOPMENT_SECRET.as_bytes(),
                    &args.jwt_issuer,
                    &args.jwt_audience,
                )
            }
        };
        Ok(Config {
            database_url: args.database_url.clone(),
            redis_url: args.redis_url.clone(),
            environment: args.environment,
            jwt,
        })
    }

    /// Whether production protections apply.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}
