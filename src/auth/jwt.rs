//! Bearer tokens: verification (HS256 or RS256, issuer, audience and expiry checked) and,
//! for development, minting.
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The secret used when none is configured. Production refuses it.
pub const DEVELOPMENT_SECRET: &str = "permanence-development-secret-never-use-in-production";

/// The claims Permanence reads (DESIGN §3).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Not before (Unix seconds): refused until then, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub consortium: String,
    #[serde(default)]
    pub memberships: Vec<MembershipClaim>,
    #[serde(default, rename = "consortiumRoles")]
    pub consortium_roles: Vec<String>,
}

/// Roles held in one authority.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MembershipClaim {
    pub authority: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Clock skew allowed between the token's issuer and this server, in seconds (`exp`,
/// `nbf` and `iat`).
pub const LEEWAY_SECS: u64 = 30;

/// Keys and expectations for tokens.
#[derive(Clone)]
pub struct JwtKeys {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
}

impl JwtKeys {
    /// HS256 with a shared secret (which can also mint tokens).
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        JwtKeys {
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// RS256 with a PEM public key (verification only).
    pub fn rs256(pem: &[u8], issuer: &str, audience: &str) -> anyhow::Result<Self> {
        Ok(JwtKeys {
            algorithm: Algorithm::RS256,
            decoding: DecodingKey::from_rsa_pem(pem)?,
            encoding: None,
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    /// The issuer tokens must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience tokens must carry.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let mut validation = Validation::new(self.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let refused = || AppError::Unauthenticated("invalid or expired token".into());
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(reason = ?e.kind(), "token refused");
                refused()
            })?;
        // A subject of nothing names nobody and could never be revoked.
        if claims.sub.trim().is_empty() {
            tracing::debug!("token refused: empty subject");
            return Err(refused());
        }
        // Revocation refuses tokens issued at or before an instant, so a token claiming to
        // be issued in the future would outlive a revocation made before that time.
        if claims.iat > chrono::Utc::now().timestamp() + LEEWAY_SECS as i64 {
            tracing::debug!("token refused: issued in the future");
            return Err(refused());
        }
        Ok(claims)
    }

    /// Signs `claims` with the configured secret (HS256 only).
    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("tokens can only be minted with an HS256 secret"))?;
        Ok(encode(&Header::new(self.algorithm), claims, key)?)
    }
}
