//! Trusted OpenID Connect issuers: each member council's identity provider, and what it may
//! say.
//!
//! A consortium is a federation: every council signs its staff in with its own directory
//! (Microsoft Entra ID, Keycloak, any OpenID Connect provider). The trusted-issuers file
//! (`PERMANENCE_TRUSTED_ISSUERS`, TOML, format below) lists, per issuer, where its signing
//! keys are, the audience its tokens must carry, **the authorities it may speak for** and the
//! consortium roles it may grant, and how the values of its role or group claims map to
//! Permanence memberships.
//!
//! ```toml
//! [[issuer]]
//! name = "alder"                                  # short, unique: names the issuer in audit
//! consortium = "demo"                             # the consortium its staff belong to
//! issuer = "https://login.microsoftonline.com/TENANT-ID/v2.0"   # `iss`, exactly
//! audience = "api://permanence"                   # `aud` its tokens must carry
//! # Where the keys are: OpenID Connect discovery (the default), or one of
//! # jwks_uri = "https://…/keys"   or   jwks_file = "/etc/permanence/alder.jwks.json"
//! authorities = ["alder"]                         # the only authorities it may speak for
//! consortium_roles = []                           # BOARD_ANALYST, CONSORTIUM_ADMIN
//! role_claims = ["roles"]                         # claim paths: "groups", "realm_access.roles"
//! name_claim = "name"                             # optional: the display name
//! key_lifetime = "1h"                             # longest keys are used without a fetch
//! refresh_interval = "30s"                        # least time between two fetches
//! leeway = "30s"                                  # clock skew allowed (exp, nbf, iat)
//!
//! [issuer.grants]                                 # claim value → what it grants
//! "Permanence.FamilyFinder" = ["alder:FAMILY_FINDER"]
//! "Permanence.Manager" = ["alder:MANAGER", "consortium:BOARD_ANALYST"]
//! ```
//!
//! **Browser sign-in** (optional, per issuer): with an `[issuer.browser]` table, the board
//! pack page (`/board`) offers "Sign in with LABEL", the OAuth 2.0 authorization-code flow
//! with PKCE (S256) against the issuer, as a public client (no secret):
//!
//! ```toml
//! [issuer.browser]
//! client_id = "permanence-board"        # a public client registered at the provider, with
//!                                       # the redirect URI https://PERMANENCE-HOST/board
//! label = "Alder Council"               # shown on the button (default: the issuer's name)
//! scopes = ["openid", "profile"]        # the default; must include "openid"
//! # Extra authorization request parameters, when the provider needs them for the access
//! # token to carry Permanence's `audience` (Entra ID: a scope "api://permanence/.default"
//! # in `scopes`; Auth0: audience; RFC 8707 providers: resource).
//! authorization_params = { resource = "api://permanence" }
//! ```
//!
//! The page learns the authorization and token endpoints from `GET /board/config.json`,
//! which takes them from the issuer's discovery document (fetched by the server, kept for
//! `key_lifetime`, tried again at most once per `refresh_interval` when the provider does
//! not answer; an issuer whose discovery cannot be read is left out until it can). The
//! board page's `connect-src` names exactly those token endpoints' origins. At load: the
//! client id is 1–200 printable ASCII characters, the label 1–80 characters with no control
//! characters, the scopes OAuth scope tokens (at most 20), the parameters at most 10, named
//! `[A-Za-z0-9_.-]` and none of the flow's own (`client_id`, `redirect_uri`,
//! `response_type`, `scope`, `state`, `nonce`, `code_challenge`, `code_challenge_method`,
//! `response_mode`), values at most 500 characters; and `issuer` must be an http(s) URL.
//!
//! A claim value that is not in `grants` but is itself spelled as a grant (`alder:MANAGER`,
//! `consortium:BOARD_ANALYST`, as a Keycloak realm role can be) grants just that; any other
//! value (another application's groups) is ignored.
//!
//! **The trust boundary.** A token whose grants reach beyond its issuer's `authorities` or
//! `consortium_roles` is refused as a whole (`UNAUTHENTICATED`), not trimmed: a directory
//! that says such a thing is misconfigured or compromised, and nothing it says about that
//! person is to be relied on. The refusal is audited as `DENIED` (entity `token`) with the
//! issuer's name and the grants it had no right to make. The file itself may not map a
//! value outside its issuer's boundary (the service refuses to start).
//!
//! **Who a person is.** Issuer and subject together: the actor's subject is
//! `NAME/SUB` (the issuer's name, a slash, the token's `sub`), so the same `sub` at two
//! issuers is two people in the audit log and for session revocation.
//!
//! **Keys.** Fetched (discovery → `jwks_uri`, or the JWKS URL, or the file read again) when
//! first needed, kept for the JWKS response's `Cache-Control: max-age` bounded by
//! `refresh_interval` below and `key_lifetime` above (`key_lifetime` when it gives none),
//! and fetched again from half that time on, or when a token names a `kid` not among
//! them — never more often than once per `refresh_interval`, so a flood of made-up `kid`s
//! costs the provider one request per interval. A provider that does not answer leaves the
//! keys in use until their lifetime ends; after that its tokens are refused
//! (`UNAUTHENTICATED`) until it answers again. Only `RS256`, `PS256` and `ES256` (P-256) are
//! accepted; symmetric keys in a JWKS are ignored. Each replica fetches for itself, by the
//! same rules.
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::jwt::{Claims, LEEWAY_SECS, MembershipClaim};
use crate::domain::Role;
use crate::error::AppError;

/// The algorithms a trusted issuer's tokens may be signed with.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];
/// The longest token looked at (bytes): a bearer token is a few kilobytes at most.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The largest discovery document or JWKS read from a provider (bytes).
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The most claim values a token's role claims are read for.
const MAX_CLAIM_VALUES: usize = 500;
/// How long a provider has to answer one request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The grant prefix of consortium roles (`consortium:BOARD_ANALYST`).
const CONSORTIUM_PREFIX: &str = "consortium";

/// What the trusted-issuers file says about one issuer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    name: String,
    consortium: String,
    issuer: String,
    audience: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    jwks_file: Option<PathBuf>,
    #[serde(default)]
    authorities: Vec<String>,
    #[serde(default)]
    consortium_roles: Vec<String>,
    #[serde(default = "default_role_claims")]
    role_claims: Vec<String>,
    #[serde(default)]
    name_claim: Option<String>,
    #[serde(default, with = "humantime_serde_opt")]
    key_lifetime: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    refresh_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    leeway: Option<Duration>,
    #[serde(default)]
    grants: HashMap<String, Vec<String>>,
    #[serde(default)]
    browser: Option<BrowserEntry>,
}

/// The `[issuer.browser]` table: the board page's sign-in with this issuer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrowserEntry {
    client_id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default)]
    authorization_params: std::collections::BTreeMap<String, String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}

/// The authorization request parameters the page sets itself: a configured parameter may
/// not name one.
const FLOW_PARAMETERS: [&str; 9] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
];

fn default_role_claims() -> Vec<String> {
    vec!["roles".into()]
}

/// `"30s"`, `"1h"`: durations as humantime spells them.
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuersFile {
    #[serde(default)]
    issuer: Vec<IssuerEntry>,
}

/// One thing a claim value grants: a role in an authority, or a consortium role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    Member { authority: String, role: Role },
    Consortium(Role),
}

impl Grant {
    /// `alder:FAMILY_FINDER` or `consortium:BOARD_ANALYST`; `None` for anything else.
    fn parse(text: &str) -> Option<Grant> {
        let (scope, role) = text.trim().split_once(':')?;
        let role = Role::from_code(role.trim())?;
        let scope = scope.trim();
        if scope.is_empty() {
            return None;
        }
        let consortium_role = matches!(role, Role::BoardAnalyst | Role::ConsortiumAdmin);
        if scope == CONSORTIUM_PREFIX {
            return consortium_role.then_some(Grant::Consortium(role));
        }
        (!consortium_role).then(|| Grant::Member {
            authority: scope.to_owned(),
            role,
        })
    }

    fn spelled(&self) -> String {
        match self {
            Grant::Member { authority, role } => format!("{authority}:{}", role.code()),
            Grant::Consortium(role) => format!("{CONSORTIUM_PREFIX}:{}", role.code()),
        }
    }
}

/// Where an issuer's keys come from.
#[derive(Debug)]
enum KeySource {
    Discovery,
    Uri(String),
    File(PathBuf),
}

/// The keys of one issuer as last fetched.
#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    /// Until when the keys may be used.
    usable_until: Option<Instant>,
    /// From when they are fetched again (half their lifetime).
    refresh_from: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    last_attempt: Option<Instant>,
    /// The `jwks_uri` discovery gave.
    jwks_uri: Option<String>,
}

/// An issuer's browser sign-in settings, checked.
#[derive(Clone, Debug)]
struct BrowserSettings {
    client_id: String,
    label: String,
    scopes: Vec<String>,
    params: std::collections::BTreeMap<String, String>,
}

/// The endpoints of the issuer's discovery document the browser flow uses.
#[derive(Default)]
struct BrowserEndpoints {
    /// `(authorization_endpoint, token_endpoint)` as last read.
    endpoints: Option<(String, String)>,
    /// Until when they are used without reading discovery again.
    fresh_until: Option<Instant>,
    /// When discovery was last tried, successful or not.
    last_attempt: Option<Instant>,
}

/// One issuer's browser sign-in, as the board page is told it (`GET /board/config.json`).
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct BrowserSignIn {
    /// The issuer's short name.
    pub name: String,
    /// What the button says ("Sign in with LABEL").
    pub label: String,
    /// The issuer identifier (`iss`).
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Extra authorization request parameters (`resource`, `audience`, …).
    pub authorization_params: std::collections::BTreeMap<String, String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
}

impl BrowserSignIn {
    /// The origin of the token endpoint (`https://host[:port]`), for the page's
    /// `connect-src`.
    pub fn token_origin(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.token_endpoint).ok()?;
        let origin = url.origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    }
}

/// A trusted issuer.
pub struct Issuer {
    name: String,
    consortium: String,
    issuer: String,
    audience: String,
    source: KeySource,
    authorities: BTreeSet<String>,
    consortium_roles: BTreeSet<Role>,
    role_claims: Vec<Vec<String>>,
    name_claim: Option<String>,
    key_lifetime: Duration,
    refresh_interval: Duration,
    leeway: Duration,
    grants: HashMap<String, Vec<Grant>>,
    keys: Mutex<Keys>,
    browser: Option<BrowserSettings>,
    endpoints: Mutex<BrowserEndpoints>,
}

/// A token whose issuer granted what it may not: refused, and audited with these.
#[derive(Debug)]
pub struct Breach {
    /// The issuer's name.
    pub issuer: String,
    pub consortium: String,
    /// The qualified subject (`NAME/SUB`).
    pub subject: String,
    /// The grants beyond the issuer's boundary, spelled `alder:MANAGER`.
    pub outside: Vec<String>,
}

/// Why a token was refused.
#[derive(Debug)]
pub enum Untrusted {
    /// A bad, expired or unverifiable token.
    Token(AppError),
    /// A good token with grants beyond its issuer's boundary.
    Breach(Breach),
}

impl From<AppError> for Untrusted {
    fn from(e: AppError) -> Self {
        Untrusted::Token(e)
    }
}

fn refused(reason: &'static str) -> AppError {
    tracing::debug!(reason, "token refused");
    AppError::Unauthenticated("invalid or expired token".into())
}

/// The trusted issuers of the deployment (none by default).
#[derive(Default)]
pub struct TrustedIssuers {
    by_issuer: HashMap<String, Arc<Issuer>>,
    /// The issuers offering browser sign-in, in the file's order.
    browser: Vec<Arc<Issuer>>,
    client: Option<reqwest::Client>,
}

impl TrustedIssuers {
    /// Reads and checks the trusted-issuers file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<TrustedIssuers> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the trusted issuers {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base)
            .with_context(|| format!("in the trusted issuers {}", path.display()))
    }

    /// Parses a trusted-issuers file (relative `jwks_file`s are taken from `base`).
    pub fn parse(text: &str, base: &Path) -> anyhow::Result<TrustedIssuers> {
        let file: IssuersFile = toml::from_str(text)?;
        let mut by_issuer = HashMap::new();
        let mut browser = Vec::new();
        let mut names = BTreeSet::new();
        for entry in file.issuer {
            let issuer = Issuer::from_entry(entry, base)?;
            if !names.insert(issuer.name.clone()) {
                bail!("issuer name {:?} is given twice", issuer.name);
            }
            if by_issuer.contains_key(&issuer.issuer) {
                bail!("issuer {:?} is given twice", issuer.issuer);
            }
            let issuer = Arc::new(issuer);
            if issuer.browser.is_some() {
                browser.push(issuer.clone());
            }
            by_issuer.insert(issuer.issuer.clone(), issuer);
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(TrustedIssuers {
            by_issuer,
            browser,
            client: Some(client),
        })
    }

    /// Whether any issuer offers browser sign-in.
    pub fn offers_browser_sign_in(&self) -> bool {
        !self.browser.is_empty()
    }

    /// The browser sign-in of every issuer offering one whose endpoints are known (read from
    /// its discovery document, see the module docs), in the file's order.
    pub async fn browser_sign_in(&self) -> Vec<BrowserSignIn> {
        let Some(client) = &self.client else {
            return Vec::new();
        };
        let mut offered = Vec::new();
        for issuer in &self.browser {
            if let Some(sign_in) = issuer.browser_sign_in(client).await {
                offered.push(sign_in);
            }
        }
        offered
    }

    /// Whether no issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }

    /// Whether `iss` names a trusted issuer.
    pub fn trusts(&self, iss: &str) -> bool {
        self.by_issuer.contains_key(iss)
    }

    /// Verifies a token of a trusted issuer (`iss` as the token claims it, unverified) and
    /// maps it to Permanence claims.
    pub async fn verify(&self, iss: &str, token: &str) -> Result<Claims, Untrusted> {
        let (Some(issuer), Some(client)) = (self.by_issuer.get(iss), &self.client) else {
            return Err(refused("unknown issuer").into());
        };
        issuer.verify(client, token).await
    }
}

/// The `iss` a token claims, read without verifying anything (to choose the keys).
pub fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

impl Issuer {
    fn from_entry(entry: IssuerEntry, base: &Path) -> anyhow::Result<Issuer> {
        let name = entry.name.trim().to_owned();
        if name.is_empty()
            || name.len() > 40
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            bail!(
                "issuer name {:?}: 1 to 40 letters, digits, '-', '_' or '.'",
                entry.name
            );
        }
        let context = |what: &str| format!("issuer {name:?}: {what}");
        if entry.issuer.trim().is_empty() || entry.audience.trim().is_empty() {
            bail!(context("`issuer` and `audience` must not be empty"));
        }
        if entry.consortium.trim().is_empty() {
            bail!(context("`consortium` must not be empty"));
        }
        let source = match (entry.jwks_uri, entry.jwks_file) {
            (Some(_), Some(_)) => bail!(context("give `jwks_uri` or `jwks_file`, not both")),
            (Some(uri), None) => {
                http_url(&uri).with_context(|| context("jwks_uri"))?;
                KeySource::Uri(uri)
            }
            (None, Some(file)) => KeySource::File(base.join(file)),
            (None, None) => {
                http_url(&entry.issuer).with_context(|| context("issuer (for discovery)"))?;
                KeySource::Discovery
            }
        };
        let authorities: BTreeSet<String> = entry
            .authorities
            .iter()
            .map(|a| a.trim().to_owned())
            .collect();
        if authorities.contains(CONSORTIUM_PREFIX) {
            bail!(context("\"consortium\" is not an authority code"));
        }
        let mut consortium_roles = BTreeSet::new();
        for role in &entry.consortium_roles {
            match Role::from_code(role.trim()) {
                Some(r @ (Role::BoardAnalyst | Role::ConsortiumAdmin)) => {
                    consortium_roles.insert(r);
                }
                _ => bail!(context(&format!(
                    "consortium_roles: {role:?} is not BOARD_ANALYST or CONSORTIUM_ADMIN"
                ))),
            }
        }
        let mut grants = HashMap::new();
        for (value, granted) in entry.grants {
            let mut parsed = Vec::new();
            for text in granted {
                let grant = Grant::parse(&text).with_context(|| {
                    context(&format!(
                        "grants.{value:?}: {text:?} is not AUTHORITY:ROLE or consortium:ROLE"
                    ))
                })?;
                let within = match &grant {
                    Grant::Member { authority, .. } => authorities.contains(authority),
                    Grant::Consortium(role) => consortium_roles.contains(role),
                };
                if !within {
                    bail!(context(&format!(
                        "grants.{value:?}: {text:?} is beyond what the issuer may grant \
                         (its authorities and consortium_roles)"
                    )));
                }
                parsed.push(grant);
            }
            grants.insert(value, parsed);
        }
        if entry.role_claims.is_empty() {
            bail!(context("role_claims must name at least one claim"));
        }
        let role_claims = entry
            .role_claims
            .iter()
            .map(|p| p.split('.').map(str::to_owned).collect())
            .collect();
        let refresh_interval = entry.refresh_interval.unwrap_or(Duration::from_secs(30));
        let key_lifetime = entry.key_lifetime.unwrap_or(Duration::from_secs(3600));
        if refresh_interval.is_zero() || key_lifetime < refresh_interval {
            bail!(context(
                "refresh_interval must be positive and key_lifetime at least as long"
            ));
        }
        if key_lifetime > Duration::from_secs(7 * 24 * 3600) {
            bail!(context("key_lifetime may be at most a week"));
        }
        if entry.leeway.is_some_and(|l| l > Duration::from_secs(300)) {
            bail!(context("leeway may be at most 5 minutes"));
        }
        let browser = match entry.browser {
            None => None,
            Some(b) => {
                http_url(&entry.issuer)
                    .with_context(|| context("issuer (for browser sign-in discovery)"))?;
                Some(
                    BrowserSettings::check(b, &name)
                        .with_context(|| context("[issuer.browser]"))?,
                )
            }
        };
        Ok(Issuer {
            name,
            consortium: entry.consortium.trim().to_owned(),
            issuer: entry.issuer,
            audience: entry.audience,
            source,
            authorities,
            consortium_roles,
            role_claims,
            name_claim: entry.name_claim,
            key_lifetime,
            refresh_interval,
            leeway: entry.leeway.unwrap_or(Duration::from_secs(LEEWAY_SECS)),
            grants,
            keys: Mutex::new(Keys::default()),
            browser,
            endpoints: Mutex::new(BrowserEndpoints::default()),
        })
    }

    /// This issuer's browser sign-in, with its endpoints from discovery (read again once
    /// `key_lifetime` has passed, tried at most once per `refresh_interval`); `None` when it
    /// offers none or its endpoints have never been read.
    async fn browser_sign_in(&self, client: &reqwest::Client) -> Option<BrowserSignIn> {
        let settings = self.browser.as_ref()?;
        let mut cached = self.endpoints.lock().await;
        let now = Instant::now();
        let fresh = cached.fresh_until.is_some_and(|f| now < f);
        let may_fetch = cached
            .last_attempt
            .is_none_or(|t| now.duration_since(t) >= self.refresh_interval);
        if !fresh && may_fetch {
            cached.last_attempt = Some(now);
            match self.discovery(client).await {
                Ok(doc) => match (doc.authorization_endpoint, doc.token_endpoint) {
                    (Some(authorization), Some(token)) => {
                        cached.endpoints = Some((authorization, token));
                        cached.fresh_until = Some(Instant::now() + self.key_lifetime);
                    }
                    _ => tracing::warn!(
                        issuer = %self.name,
                        "the discovery document names no authorization or token endpoint"
                    ),
                },
                Err(e) => {
                    tracing::warn!(issuer = %self.name, error = %e, "discovery could not be read for browser sign-in");
                }
            }
        }
        let (authorization_endpoint, token_endpoint) = cached.endpoints.clone()?;
        Some(BrowserSignIn {
            name: self.name.clone(),
            label: settings.label.clone(),
            issuer: self.issuer.clone(),
            client_id: settings.client_id.clone(),
            scopes: settings.scopes.clone(),
            authorization_params: settings.params.clone(),
            authorization_endpoint,
            token_endpoint,
        })
    }

    async fn verify(&self, client: &reqwest::Client, token: &str) -> Result<Claims, Untrusted> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("bad header"))?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(refused("algorithm not accepted").into());
        }
        let (key, key_alg) = self.key(client, header.kid.as_deref()).await?;
        if key_alg != header.alg {
            return Err(refused("algorithm does not match the key").into());
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        let payload = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| {
                tracing::debug!(issuer = %self.name, reason = ?e.kind(), "token refused");
                AppError::Unauthenticated("invalid or expired token".into())
            })?
            .claims;
        self.claims(&payload)
    }

    /// The Permanence claims of a verified payload.
    fn claims(&self, payload: &Map<String, Value>) -> Result<Claims, Untrusted> {
        let sub = payload
            .get("sub")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refused("empty subject"))?;
        let number = |name: &str| payload.get(name).and_then(Value::as_i64);
        let iat = number("iat").ok_or_else(|| refused("no iat"))?;
        if iat > chrono::Utc::now().timestamp() + self.leeway.as_secs() as i64 {
            return Err(refused("issued in the future").into());
        }
        let exp = number("exp").ok_or_else(|| refused("no exp"))?;
        let subject = format!("{}/{sub}", self.name);

        let mut granted = BTreeSet::new();
        let mut seen = 0;
        for path in &self.role_claims {
            for value in claim_values(payload, path) {
                seen += 1;
                if seen > MAX_CLAIM_VALUES {
                    return Err(refused("too many claim values").into());
                }
                match self.grants.get(value) {
                    Some(grants) => granted.extend(grants.iter().cloned()),
                    None => granted.extend(Grant::parse(value)),
                }
            }
        }
        let outside: Vec<String> = granted
            .iter()
            .filter(|g| match g {
                Grant::Member { authority, .. } => !self.authorities.contains(authority),
                Grant::Consortium(role) => !self.consortium_roles.contains(role),
            })
            .map(Grant::spelled)
            .collect();
        if !outside.is_empty() {
            return Err(Untrusted::Breach(Breach {
                issuer: self.name.clone(),
                consortium: self.consortium.clone(),
                subject,
                outside,
            }));
        }
        let mut memberships: Vec<MembershipClaim> = Vec::new();
        let mut consortium_roles = Vec::new();
        for grant in granted {
            match grant {
                Grant::Consortium(role) => consortium_roles.push(role.code().to_owned()),
                Grant::Member { authority, role } => {
                    match memberships.iter_mut().find(|m| m.authority == authority) {
                        Some(m) => m.roles.push(role.code().to_owned()),
                        None => memberships.push(MembershipClaim {
                            authority,
                            roles: vec![role.code().to_owned()],
                        }),
                    }
                }
            }
        }
        let name = self
            .name_claim
            .as_deref()
            .and_then(|c| payload.get(c))
            .and_then(Value::as_str)
            .map(|n| n.chars().take(200).collect());
        Ok(Claims {
            sub: subject,
            name,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp,
            jti: None,
            nbf: None,
            consortium: self.consortium.clone(),
            memberships,
            consortium_roles,
        })
    }

    /// The key `kid` names (with no `kid`: the only key), fetching the keys when they are
    /// unknown, old or missing, within the rules of the module docs.
    async fn key(
        &self,
        client: &reqwest::Client,
        kid: Option<&str>,
    ) -> Result<(DecodingKey, Algorithm), AppError> {
        // One fetch at a time per issuer: the others wait for it and use its keys.
        let mut keys = self.keys.lock().await;
        let now = Instant::now();
        let usable = keys.usable_until.is_some_and(|u| now < u);
        let stale = keys.refresh_from.is_none_or(|r| now >= r);
        let known = usable && find(&keys.by_kid, kid).is_some();
        let may_fetch = keys
            .last_attempt
            .is_none_or(|t| now.duration_since(t) >= self.refresh_interval);
        if (!known || stale) && may_fetch {
            keys.last_attempt = Some(now);
            match self.fetch(client, &mut keys).await {
                Ok((by_kid, max_age)) => {
                    let lifetime = max_age
                        .unwrap_or(self.key_lifetime)
                        .clamp(self.refresh_interval, self.key_lifetime);
                    let fetched = Instant::now();
                    keys.by_kid = by_kid;
                    keys.usable_until = Some(fetched + lifetime);
                    keys.refresh_from = Some(fetched + lifetime / 2);
                    tracing::info!(issuer = %self.name, keys = keys.by_kid.len(), "signing keys fetched");
                }
                Err(e) => {
                    tracing::warn!(issuer = %self.name, error = %e, "signing keys could not be fetched");
                }
            }
        }
        if keys.usable_until.is_none_or(|u| Instant::now() >= u) {
            return Err(refused("no usable keys"));
        }
        find(&keys.by_kid, kid)
            .cloned()
            .ok_or_else(|| refused("unknown kid"))
    }

    /// Fetches the keys and how long the provider says they may be kept.
    async fn fetch(
        &self,
        client: &reqwest::Client,
        keys: &mut Keys,
    ) -> anyhow::Result<(HashMap<String, (DecodingKey, Algorithm)>, Option<Duration>)> {
        let (body, max_age) = match &self.source {
            KeySource::File(path) => (std::fs::read(path)?, None),
            KeySource::Uri(uri) => get(client, uri).await?,
            KeySource::Discovery => {
                let uri = match &keys.jwks_uri {
                    Some(uri) => uri.clone(),
                    None => {
                        let uri = self.discover(client).await?;
                        keys.jwks_uri = Some(uri.clone());
                        uri
                    }
                };
                get(client, &uri).await?
            }
        };
        Ok((parse_jwks(&body)?, max_age))
    }

    /// The `jwks_uri` of the issuer's discovery document.
    async fn discover(&self, client: &reqwest::Client) -> anyhow::Result<String> {
        self.discovery(client)
            .await?
            .jwks_uri
            .context("the discovery document names no jwks_uri")
    }

    /// The issuer's discovery document (whose `issuer` must be exactly the configured
    /// one), its URLs checked: absolute http(s), at most 2,000 characters.
    async fn discovery(&self, client: &reqwest::Client) -> anyhow::Result<Discovery> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let (body, _) = get(client, &url).await?;
        let discovery: Discovery = serde_json::from_slice(&body)?;
        if discovery.issuer != self.issuer {
            bail!("the discovery document names another issuer");
        }
        for url in [
            &discovery.jwks_uri,
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
        ]
        .into_iter()
        .flatten()
        {
            if url.len() > 2000 {
                bail!("the discovery document names a URL longer than 2,000 characters");
            }
            http_url(url)?;
        }
        Ok(discovery)
    }
}

/// What is read of a discovery document.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
}

impl BrowserSettings {
    /// Checks the `[issuer.browser]` table (see the module docs for the rules).
    fn check(entry: BrowserEntry, name: &str) -> anyhow::Result<BrowserSettings> {
        let client_id = entry.client_id.trim().to_owned();
        if client_id.is_empty()
            || client_id.len() > 200
            || !client_id.chars().all(|c| c.is_ascii_graphic())
        {
            bail!("client_id: 1 to 200 printable ASCII characters, no spaces");
        }
        let label = entry
            .label
            .map(|l| l.trim().to_owned())
            .unwrap_or_else(|| name.to_owned());
        if label.is_empty() || label.chars().count() > 80 || label.chars().any(char::is_control) {
            bail!("label: 1 to 80 characters, no control characters");
        }
        let scope_token = |s: &str| {
            !s.is_empty()
                && s.len() <= 200
                && s.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        };
        if entry.scopes.len() > 20 || !entry.scopes.iter().all(|s| scope_token(s)) {
            bail!(
                "scopes: at most 20 OAuth scope tokens (printable ASCII, no spaces, quotes or backslashes)"
            );
        }
        if !entry.scopes.iter().any(|s| s == "openid") {
            bail!("scopes must include \"openid\"");
        }
        if entry.authorization_params.len() > 10 {
            bail!("authorization_params: at most 10");
        }
        for (key, value) in &entry.authorization_params {
            if key.is_empty()
                || key.len() > 64
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
            {
                bail!(
                    "authorization_params: {key:?} is not a parameter name ([A-Za-z0-9_.-], at most 64)"
                );
            }
            if FLOW_PARAMETERS.contains(&key.as_str()) {
                bail!("authorization_params: {key:?} is set by the sign-in flow itself");
            }
            if value.len() > 500 || value.chars().any(char::is_control) {
                bail!("authorization_params.{key}: at most 500 characters, no control characters");
            }
        }
        Ok(BrowserSettings {
            client_id,
            label,
            scopes: entry.scopes,
            params: entry.authorization_params,
        })
    }
}

/// The key for `kid`; with no `kid`, the only key there is.
fn find<'k>(
    keys: &'k HashMap<String, (DecodingKey, Algorithm)>,
    kid: Option<&str>,
) -> Option<&'k (DecodingKey, Algorithm)> {
    match kid {
        Some(kid) => keys.get(kid),
        None if keys.len() == 1 => keys.values().next(),
        None => None,
    }
}

/// The string values at `path` in `payload`: one string, or the strings of an array.
fn claim_values<'p>(payload: &'p Map<String, Value>, path: &[String]) -> Vec<&'p str> {
    let mut value = None;
    for (i, part) in path.iter().enumerate() {
        value = if i == 0 {
            payload.get(part)
        } else {
            value.and_then(|v: &Value| v.get(part))
        };
    }
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The signing keys of a JWKS document: RSA keys (for RS256 or PS256, as their `alg`
/// says; RS256 without one) and P-256 keys (ES256), each with a `kid` (or the only key),
/// not marked for encryption. Anything else is skipped.
fn parse_jwks(body: &[u8]) -> anyhow::Result<HashMap<String, (DecodingKey, Algorithm)>> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(body).context("not a JWKS document")?;
    let mut keys = HashMap::new();
    let count = set.keys.len();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let alg = match (&jwk.algorithm, &jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::PS256)) => Algorithm::PS256,
            (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
                if p.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let kid = match jwk.common.key_id {
            Some(kid) => kid,
            None if count == 1 => String::new(),
            None => continue,
        };
        keys.insert(kid, (key, alg));
    }
    Ok(keys)
}

/// GETs `url` (at most [`MAX_DOCUMENT_BYTES`]): the body and the `Cache-Control` max-age.
async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<(Vec<u8>, Option<Duration>)> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await?
        .error_for_status()?;
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            bail!("the document is larger than {MAX_DOCUMENT_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, max_age))
}

/// The `max-age` of a `Cache-Control` value (`no-store`/`no-cache`: zero).
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

/// Checks `url` is an absolute http(s) URL.
fn http_url(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("{url:?} is not an http(s) URL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[issuer]]
name = "alder"
consortium = "demo"
issuer = "https://idp.alder.example/realms/staff"
audience = "permanence"
authorities = ["alder"]
consortium_roles = ["BOARD_ANALYST"]
role_claims = ["roles", "realm_access.roles"]
[issuer.grants]
"Permanence.FamilyFinder" = ["alder:FAMILY_FINDER"]
"Permanence.Board" = ["consortium:BOARD_ANALYST"]
"#;

    fn alder() -> Arc<Issuer> {
        let issuers = TrustedIssuers::parse(FILE, Path::new(".")).expect("parses");
        issuers.by_issuer["https://idp.alder.example/realms/staff"].clone()
    }

    fn payload(value: Value) -> Map<String, Value> {
        let mut base = serde_json::json!({
            "sub": "abc", "iat": chrono::Utc::now().timestamp(), "exp": 4_000_000_000i64,
        });
        base.as_object_mut()
            .expect("object")
            .extend(value.as_object().expect("object").clone());
        base.as_object().expect("object").clone()
    }

    #[test]
    fn mapped_and_spelled_values_grant_within_the_boundary() {
        let claims = alder()
            .claims(&payload(serde_json::json!({
                "roles": ["Permanence.FamilyFinder", "SomeOtherApp.Admin"],
                "realm_access": { "roles": ["alder:MANAGER", "Permanence.Board"] },
            })))
            .expect("within the boundary");
        assert_eq!(claims.sub, "alder/abc");
        assert_eq!(claims.consortium, "demo");
        assert_eq!(claims.memberships.len(), 1);
        let mut roles = claims.memberships[0].roles.clone();
        roles.sort();
        assert_eq!(roles, ["FAMILY_FINDER", "MANAGER"]);
        assert_eq!(claims.consortium_roles, ["BOARD_ANALYST"]);
    }

    #[test]
    fn a_grant_beyond_the_boundary_refuses_the_token() {
        for value in ["birch:FAMILY_FINDER", "consortium:CONSORTIUM_ADMIN"] {
            let refusal = alder()
                .claims(&payload(
                    serde_json::json!({ "roles": ["Permanence.FamilyFinder", value] }),
                ))
                .expect_err("beyond the boundary");
            let Untrusted::Breach(breach) = refusal else {
                panic!("a breach, not {refusal:?}");
            };
            assert_eq!(breach.outside, [value]);
            assert_eq!(breach.issuer, "alder");
            assert_eq!(breach.subject, "alder/abc");
        }
    }

    #[test]
    fn the_file_may_not_map_beyond_the_boundary() {
        let file = FILE.replace(
            "\"Permanence.Board\" = [\"consortium:BOARD_ANALYST\"]",
            "\"Permanence.Board\" = [\"birch:MANAGER\"]",
        );
        let error = TrustedIssuers::parse(&file, Path::new("."))
            .err()
            .expect("refused");
        assert!(format!("{error:#}").contains("beyond what the issuer may grant"));
        let twice = format!(
            "{FILE}\n{}",
            FILE.replace("name = \"alder\"", "name = \"other\"")
        );
        let error = TrustedIssuers::parse(&twice, Path::new("."))
            .err()
            .expect("refused");
        assert!(format!("{error:#}").contains("given twice"), "{error:#}");
    }

    #[test]
    fn browser_sign_in_settings_are_checked_at_load() {
        let with = |table: &str| {
            TrustedIssuers::parse(
                &format!("{FILE}\n[issuer.browser]\n{table}"),
                Path::new("."),
            )
        };
        let issuers = with(
            "client_id = \"board\"\nauthorization_params = { resource = \"api://permanence\" }",
        )
        .expect("parses");
        assert!(issuers.offers_browser_sign_in());
        let settings = issuers.browser[0].browser.clone().expect("settings");
        assert_eq!(settings.label, "alder");
        assert_eq!(settings.scopes, ["openid", "profile"]);
        assert!(
            !TrustedIssuers::parse(FILE, Path::new("."))
                .expect("parses")
                .offers_browser_sign_in()
        );
        for (table, says) in [
            ("client_id = \"\"", "client_id"),
            ("client_id = \"a b\"", "client_id"),
            ("client_id = \"b\"\nlabel = \"x\\ny\"", "label"),
            ("client_id = \"b\"\nscopes = [\"profile\"]", "openid"),
            (
                "client_id = \"b\"\nscopes = [\"openid\", \"a b\"]",
                "scopes",
            ),
            (
                "client_id = \"b\"\nauthorization_params = { state = \"x\" }",
                "set by the sign-in flow",
            ),
            (
                "client_id = \"b\"\nauthorization_params = { \"a b\" = \"x\" }",
                "not a parameter name",
            ),
            ("client_id = \"b\"\nsecret = \"x\"", "unknown field"),
        ] {
            let error = with(table).err().expect("refused");
            assert!(format!("{error:#}").contains(says), "{table}: {error:#}");
        }
    }

    #[test]
    fn the_token_origin_is_scheme_host_and_port() {
        let sign_in = |token_endpoint: &str| BrowserSignIn {
            name: "a".into(),
            label: "a".into(),
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            scopes: vec![],
            authorization_params: Default::default(),
            authorization_endpoint: "https://idp.example/auth".into(),
            token_endpoint: token_endpoint.into(),
        };
        assert_eq!(
            sign_in("https://idp.example/realms/x/token?a=b")
                .token_origin()
                .as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(
            sign_in("http://127.0.0.1:8080/alder/token")
                .token_origin()
                .as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }

    #[test]
    fn cache_control_gives_the_max_age() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn symmetric_and_unknown_keys_are_skipped() {
        let jwks = br#"{"keys":[
            {"kty":"oct","kid":"s","k":"c2VjcmV0"},
            {"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"},
            {"kty":"weird","kid":"w"}
        ]}"#;
        assert!(parse_jwks(jwks).expect("parses").is_empty());
    }
}
