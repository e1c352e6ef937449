//! Persisted documents: automatic persisted queries (APQ) for frontends, and the trusted
//! documents of a manifest, which production may make the only documents it runs.
//!
//! **APQ** (Apollo's protocol): a client sends `extensions.persistedQuery = { version: 1,
//! sha256Hash }` without `query`; an unknown hash is answered `PERSISTED_QUERY_NOT_FOUND`
//! (message `PersistedQueryNotFound`, which Apollo Client and other APQ links look for),
//! and the client sends the document again with its hash, which registers it. The hash
//! must be the SHA-256 (lowercase hex) of the document's exact bytes, or the request is
//! refused (`BAD_USER_INPUT`, `extensions.field = "extensions"`). A document is
//! registered only once its operation has passed every check — the limits, validation,
//! the rate limit — and only for an authenticated caller, so that anonymous clients
//! cannot fill the store; they may still send documents by hash.
//!
//! Registered documents are kept in an in-process LRU bounded in entries and bytes, and,
//! with Redis configured, also in Redis under the key prefix (`{prefix}:cache:apq:{hash}`,
//! for [`APQ_TTL`]), so that a document registered on one replica is found on every other.
//! What comes back from Redis is checked against its hash before it is used. No stored
//! document is larger than the query-size limit (`PERMANENCE_MAX_QUERY_BYTES`).
//!
//! **Trusted documents**: a manifest (`PERMANENCE_TRUSTED_DOCUMENTS`) maps SHA-256 hashes
//! to documents, read and checked at start ([`TrustedDocuments::load`]). Its documents are
//! always found by hash. With `PERMANENCE_TRUSTED_DOCUMENTS_ONLY`, they are the only
//! documents the service runs: any other document — sent inline, by an unknown hash, or
//! to be registered by APQ — is refused with `PERSISTED_QUERY_NOT_ALLOWED`, before it is
//! parsed. A registered document may be sent by hash alone or in full.
//!
//! The hash is resolved to the document's *text* before anything else sees the request
//! (the extension is registered first), so every limit, the parse cache and the operation
//! trace apply to a persisted document exactly as to one sent inline.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::DocumentOperations;
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult, Value};
use sha2::{Digest, Sha256};

use super::AppSchema;
use super::context::RequestContext;
use super::limits::{self, QueryLimits};
use crate::infra::shared::SharedStore;
use crate::state::AppState;

/// The code of an APQ hash this service does not know (the client should send the
/// document with its hash).
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
/// The code of a document refused because it is not in the trusted-documents manifest
/// (`PERMANENCE_TRUSTED_DOCUMENTS_ONLY`).
pub const PERSISTED_QUERY_NOT_ALLOWED: &str = "PERSISTED_QUERY_NOT_ALLOWED";
/// How long a document registered by APQ is kept in Redis (each registration renews it).
pub const APQ_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most documents the in-process LRU keeps.
const LOCAL_DOCUMENTS: usize = 1000;
/// Most bytes of documents the in-process LRU keeps.
const LOCAL_BYTES: usize = 16 * 1024 * 1024;

/// The SHA-256 of `text`, in lowercase hex (what APQ and the manifests use).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether `hash` looks like a SHA-256 in hex (64 hex digits, either case).
fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------------------

/// The documents of a trusted-documents manifest, by SHA-256 (lowercase hex). Each was
/// checked at load: its hash is its SHA-256, it is within the size and nesting limits,
/// and it parses. ([`check_all`] checks them against the schema.)
#[derive(Debug, Default)]
pub struct TrustedDocuments {
    documents: HashMap<String, String>,
}

/// The manifest formats read: GraphQL Codegen's `persisted-documents.json` (a map of hash
/// to document; the client preset with `persistedDocuments: { hashAlgorithm: 'sha256' }`)
/// and Apollo's persisted query manifest (`@apollo/generate-persisted-query-manifest`).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Manifest {
    Apollo {
        format: String,
        version: u32,
        operations: Vec<ApolloOperation>,
    },
    Map(HashMap<String, String>),
}

#[derive(serde::Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

const APOLLO_FORMAT: &str = "apollo-persisted-query-manifest";

impl TrustedDocuments {
    /// Reads the manifest at `path`; an error names the file and the first problem.
    pub fn load(path: &Path, limits: &QueryLimits) -> anyhow::Result<TrustedDocuments> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the trusted documents {}", path.display()))?;
        TrustedDocuments::parse(&text, limits)
            .with_context(|| format!("the trusted documents {} are not usable", path.display()))
    }

    /// The documents of a manifest's text.
    pub fn parse(text: &str, limits: &QueryLimits) -> anyhow::Result<TrustedDocuments> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "not a manifest: expected a JSON object mapping each document's SHA-256 (hex) \
                 to the document, or an Apollo persisted query manifest ({e})"
            )
        })?;
        let entries = match manifest {
            Manifest::Apollo {
                format,
                version,
                operations,
            } => {
                if format != APOLLO_FORMAT || version != 1 {
                    bail!(
                        "an Apollo manifest must have \"format\": \"{APOLLO_FORMAT}\" and \
                         \"version\": 1"
                    );
                }
                operations.into_iter().map(|o| (o.id, o.body)).collect()
            }
            Manifest::Map(map) => map.into_iter().collect::<Vec<_>>(),
        };
        if entries.is_empty() {
            bail!("the manifest holds no documents");
        }
        let mut documents = HashMap::with_capacity(entries.len());
        for (hash, document) in entries {
            let shown: String = hash.chars().take(80).collect();
            if !is_sha256_hex(&hash) {
                bail!("{shown:?} is not a SHA-256 in hex (64 hex digits)");
            }
            let hash = hash.to_ascii_lowercase();
            let actual = sha256_hex(&document);
            if actual != hash {
                bail!(
                    "the document under {hash} has the SHA-256 {actual}: each key must be the \
                     SHA-256 of its document's exact text (GraphQL Codegen: set \
                     persistedDocuments.hashAlgorithm to 'sha256')"
                );
            }
            limits::check_document(&document, limits)
                .map_err(|e| anyhow::anyhow!("the document {hash}: {}", e.message))?;
            async_graphql::parser::parse_query(&document)
                .map_err(|e| anyhow::anyhow!("the document {hash} does not parse: {e}"))?;
            documents.insert(hash, document);
        }
        Ok(TrustedDocuments { documents })
    }

    /// How many documents the manifest holds.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether the manifest holds no documents (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The document under `hash` (lowercase hex).
    pub fn get(&self, hash: &str) -> Option<&str> {
        self.documents.get(hash).map(String::as_str)
    }

    /// The documents, by hash, in hash order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut documents: Vec<_> = self
            .documents
            .iter()
            .map(|(h, d)| (h.as_str(), d.as_str()))
            .collect();
        documents.sort_unstable();
        documents.into_iter()
    }
}

/// A document of the manifest that the schema refuses.
#[derive(Debug)]
pub struct Problem {
    pub hash: String,
    /// The operation, in a document of several.
    pub operation: Option<String>,
    pub messages: Vec<String>,
}

/// Checks every document of `documents` against the schema and the limits, as a request
/// would be checked (parse, limits, validation), running nothing; the documents refused.
/// Each operation of a document of several is checked, without values for its variables.
pub async fn check_all(documents: &TrustedDocuments, limits: QueryLimits) -> Vec<Problem> {
    let schema = checker(limits);
    let mut problems = Vec::new();
    for (hash, text) in documents.iter() {
        // Parsed at load.
        let Ok(document) = async_graphql::parser::parse_query(text) else {
            continue;
        };
        let operations: Vec<(Option<String>, Vec<String>)> = match &document.operations {
            DocumentOperations::Single(op) => vec![(None, variable_names(&op.node))],
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| (Some(name.to_string()), variable_names(&op.node)))
                .collect(),
        };
        for (operation, variables) in operations {
            // No values for the variables: validation checks how each is used, not a value
            // (a required variable given as null would be refused). What needs a value —
            // the complexity of a field whose cost depends on its arguments — reports the
            // declared variable as "not defined"; that is the missing value, not a fault.
            let mut request = Request::new(text);
            if let Some(name) = &operation {
                request = request.operation_name(name);
            }
            let response = schema.execute(request).await;
            let unvalued: Vec<String> = variables
                .iter()
                .map(|v| format!("Variable {v} is not defined."))
                .collect();
            let messages: Vec<String> = response
                .errors
                .into_iter()
                .map(|e| e.message)
                .filter(|m| !unvalued.contains(m))
                .collect();
            if !messages.is_empty() {
                problems.push(Problem {
                    hash: hash.to_owned(),
                    operation,
                    messages,
                });
            }
        }
    }
    problems
}

fn variable_names(op: &async_graphql::parser::types::OperationDefinition) -> Vec<String> {
    op.variable_definitions
        .iter()
        .map(|v| v.node.name.node.to_string())
        .collect()
}

/// [`check_all`], as an error listing the refused documents (at most ten).
pub async fn ensure_valid(documents: &TrustedDocuments, limits: QueryLimits) -> anyhow::Result<()> {
    let problems = check_all(documents, limits).await;
    if problems.is_empty() {
        return Ok(());
    }
    let mut listed = String::new();
    for p in problems.iter().take(10) {
        let operation = p
            .operation
            .as_deref()
            .map(|o| format!(" (operation {o})"))
            .unwrap_or_default();
        listed.push_str(&format!(
            "\n  {}{operation}: {}",
            p.hash,
            p.messages.join("; ")
        ));
    }
    bail!(
        "{} of the {} trusted documents are refused by the schema or the limits:{listed}",
        problems.len(),
        documents.len()
    )
}

/// A schema that checks documents and runs none: the limits, then validation.
fn checker(limits: QueryLimits) -> AppSchema {
    super::builder()
        .extension(limits::Admitted::check_only(limits))
        .finish()
}

// ---------------------------------------------------------------------------------------
// The documents a request may name
// ---------------------------------------------------------------------------------------

/// The documents requests may name by hash: the manifest's, and (unless only the
/// manifest's are allowed) those registered by APQ. One per router, shared by the schema
/// extension and the HTTP layer.
pub struct PersistedDocuments {
    trusted: Option<Arc<TrustedDocuments>>,
    only_trusted: bool,
    max_query_bytes: usize,
    local: Mutex<Lru>,
    /// Redis, when configured: documents registered on any replica.
    shared: Option<SharedStore>,
}

impl PersistedDocuments {
    /// The documents of the configuration in `state`.
    pub fn new(state: &AppState) -> PersistedDocuments {
        let clients = &state.config.clients;
        PersistedDocuments {
            trusted: clients.trusted_documents.clone(),
            only_trusted: clients.trusted_documents_only,
            max_query_bytes: state.config.limits.max_query_bytes,
            local: Mutex::new(Lru::default()),
            shared: (state.shared.backend() == "redis").then(|| state.shared.clone()),
        }
    }

    /// Whether the manifest holds the document under `hash` (lowercase hex).
    fn is_trusted(&self, hash: &str) -> bool {
        self.trusted.as_ref().is_some_and(|t| t.get(hash).is_some())
    }

    /// Whether the manifest holds `text` (a document over the size limit is in no
    /// manifest: not worth hashing).
    fn is_trusted_text(&self, text: &str) -> bool {
        text.len() <= self.max_query_bytes && self.is_trusted(&sha256_hex(text))
    }

    /// The document under `hash` (lowercase hex), if any is known.
    async fn lookup(&self, hash: &str) -> Option<String> {
        if let Some(text) = self.trusted.as_ref().and_then(|t| t.get(hash)) {
            return Some(text.to_owned());
        }
        if self.only_trusted {
            return None;
        }
        if let Some(text) = self.lock().get(hash) {
            return Some(text);
        }
        let text = self.shared.as_ref()?.cache_get(&redis_key(hash)).await?;
        // Another replica's (or anyone's with access to Redis): used only if it is what
        // the hash says, and within the size limit.
        if text.len() > self.max_query_bytes || sha256_hex(&text) != hash {
            tracing::warn!("a persisted document in Redis does not match its hash; ignored");
            return None;
        }
        self.lock().put(hash, &text);
        Some(text)
    }

    /// Registers `text` under `hash` (already checked to be its SHA-256).
    async fn register(&self, hash: &str, text: &str) {
        if text.len() > self.max_query_bytes
            || self.is_trusted(hash)
            || self.lock().get(hash).is_some()
        {
            return;
        }
        self.lock().put(hash, text);
        if let Some(shared) = &self.shared {
            shared.cache_put(&redis_key(hash), text, APQ_TTL).await;
        }
    }

    /// Fills in the document of a request sent by hash alone, when it is known: what the
    /// HTTP layer does before checks it makes on the text itself (mutations over GET).
    /// Anything else is left to the schema extension, which answers for it.
    pub async fn fill(&self, request: &mut Request) {
        if !request.query.is_empty() {
            return;
        }
        let Some(Ok(hash)) = request.extensions.get("persistedQuery").map(persisted_hash) else {
            return;
        };
        if let Some(text) = self.lookup(&hash).await {
            request.query = text;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn redis_key(hash: &str) -> String {
    format!("apq:{hash}")
}

/// The hash of a request's `extensions.persistedQuery` (lowercase), or why it is refused.
fn persisted_hash(value: &Value) -> ServerResult<String> {
    let Value::Object(fields) = value else {
        return Err(bad_extension("extensions.persistedQuery must be an object"));
    };
    match fields.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => {
            return Err(bad_extension(
                "extensions.persistedQuery.version must be 1 (the only version there is)",
            ));
        }
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash)) if is_sha256_hex(hash) => Ok(hash.to_ascii_lowercase()),
        _ => Err(bad_extension(
            "extensions.persistedQuery.sha256Hash must be the SHA-256 of the document, in hex",
        )),
    }
}

fn error(code: &str, field: Option<&str>, message: impl Into<String>) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    if let Some(field) = field {
        extensions.set("field", field);
    }
    let mut error = ServerError::new(message, None);
    error.extensions = Some(extensions);
    error
}

fn bad_extension(message: &str) -> ServerError {
    error("BAD_USER_INPUT", Some("extensions"), message)
}

fn not_allowed() -> ServerError {
    error(
        PERSISTED_QUERY_NOT_ALLOWED,
        None,
        "only the registered (trusted) documents are run here: send one of them, by its \
         hash or in full",
    )
}

/// In-process documents, least recently used dropped first, bounded in entries and bytes.
#[derive(Default)]
struct Lru {
    /// Document and last use by hash.
    entries: HashMap<String, (Arc<str>, u64)>,
    /// Hash by last use.
    order: BTreeMap<u64, String>,
    clock: u64,
    bytes: usize,
}

impl Lru {
    fn get(&mut self, hash: &str) -> Option<String> {
        self.clock += 1;
        let (text, used) = self.entries.get_mut(hash)?;
        self.order.remove(used);
        *used = self.clock;
        self.order.insert(self.clock, hash.to_owned());
        Some(text.to_string())
    }

    fn put(&mut self, hash: &str, text: &str) {
        self.clock += 1;
        if let Some((old, used)) = self.entries.remove(hash) {
            self.order.remove(&used);
            self.bytes -= old.len();
        }
        self.entries
            .insert(hash.to_owned(), (Arc::from(text), self.clock));
        self.order.insert(self.clock, hash.to_owned());
        self.bytes += text.len();
        while self.entries.len() > LOCAL_DOCUMENTS || self.bytes > LOCAL_BYTES {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((text, _)) = self.entries.remove(&oldest) {
                self.bytes -= text.len();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The steps of the schema's extension
// ---------------------------------------------------------------------------------------

/// Persisted documents for one request ([`super::pipeline`] runs it first, so that every
/// other step sees the document's text): the document it registers once it has passed
/// every check.
#[derive(Default)]
pub struct Registering(Mutex<Option<(String, String)>>);

impl Registering {
    /// Before anything else: the text of a document named by hash, or the check of a
    /// registration (held until validation has passed).
    pub async fn prepare(
        &self,
        documents: &PersistedDocuments,
        mut request: Request,
    ) -> ServerResult<Request> {
        let hash = match request.extensions.remove("persistedQuery") {
            Some(value) => Some(persisted_hash(&value)?),
            None => None,
        };
        match hash {
            Some(hash) if request.query.is_empty() => match documents.lookup(&hash).await {
                Some(text) => request.query = text,
                None if documents.only_trusted => return Err(not_allowed()),
                None => {
                    return Err(error(
                        PERSISTED_QUERY_NOT_FOUND,
                        None,
                        "PersistedQueryNotFound",
                    ));
                }
            },
            Some(hash) => {
                if sha256_hex(&request.query) != hash {
                    return Err(bad_extension(
                        "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                    ));
                }
                if documents.is_trusted(&hash) {
                    // Registered already.
                } else if documents.only_trusted {
                    return Err(not_allowed());
                } else {
                    *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((hash, request.query.clone()));
                }
            }
            None if documents.only_trusted && !documents.is_trusted_text(&request.query) => {
                return Err(not_allowed());
            }
            None => {}
        }
        Ok(request)
    }

    /// Once the operation has passed validation and every limit: registers the document,
    /// if the request registers one and its actor is authenticated.
    pub async fn validated(&self, ctx: &ExtensionContext<'_>, documents: &PersistedDocuments) {
        let registering = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let authenticated = ctx
            .data_opt::<RequestContext>()
            .is_some_and(|r| r.actor.is_some());
        if let Some((hash, text)) = registering
            && authenticated
        {
            documents.register(&hash, &text).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = "{ viewer { subject } }";

    #[test]
    fn a_manifest_is_a_map_of_sha256_to_document_or_an_apollo_manifest() {
        let hash = sha256_hex(DOCUMENT);
        let limits = QueryLimits::default();
        let map = serde_json::json!({ hash.to_ascii_uppercase(): DOCUMENT }).to_string();
        let documents = TrustedDocuments::parse(&map, &limits).expect("a map");
        assert_eq!(documents.get(&hash), Some(DOCUMENT));
        let apollo = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": hash, "body": DOCUMENT, "name": "Viewer", "type": "query" }]
        })
        .to_string();
        let documents = TrustedDocuments::parse(&apollo, &limits).expect("Apollo's");
        assert_eq!(documents.len(), 1);
        assert_eq!(documents.get(&hash), Some(DOCUMENT));
    }

    #[test]
    fn a_bad_manifest_says_what_is_wrong() {
        let limits = QueryLimits::default();
        let refused = |text: String| {
            TrustedDocuments::parse(&text, &limits)
                .expect_err("refused")
                .to_string()
        };
        assert!(refused("[]".into()).contains("not a manifest"));
        assert!(refused("{}".into()).contains("no documents"));
        assert!(refused(serde_json::json!({ "abc": DOCUMENT }).to_string()).contains("SHA-256"));
        let wrong = sha256_hex("{ other }");
        assert!(
            refused(serde_json::json!({ wrong: DOCUMENT }).to_string()).contains("has the SHA-256")
        );
        let broken = "{ viewer { ";
        assert!(
            refused(serde_json::json!({ sha256_hex(broken): broken }).to_string())
                .contains("does not parse")
        );
        let large = format!("{{ viewer {{ subject }} }} #{}", "x".repeat(30_000));
        assert!(
            refused(serde_json::json!({ sha256_hex(&large): large }).to_string())
                .contains("too large")
        );
    }

    #[test]
    fn the_lru_drops_the_least_recently_used_document() {
        let mut lru = Lru::default();
        for i in 0..LOCAL_DOCUMENTS {
            lru.put(&i.to_string(), "{ a }");
        }
        assert!(lru.get("0").is_some(), "used again: now the most recent");
        lru.put("new", "{ b }");
        assert_eq!(lru.entries.len(), LOCAL_DOCUMENTS);
        assert!(lru.get("0").is_some());
        assert!(lru.get("1").is_none(), "the least recently used is gone");
        assert!(lru.get("new").is_some());
        let large = "x".repeat(LOCAL_BYTES / 2 + 1);
        lru.put("large-1", &large);
        lru.put("large-2", &large);
        assert!(lru.bytes <= LOCAL_BYTES);
        assert!(lru.get("large-1").is_none() && lru.get("large-2").is_some());
    }

    #[tokio::test]
    async fn every_document_is_checked_against_the_schema() {
        let good = "query Viewer { viewer { subject } }";
        let variables = "query Child($id: ID!, $first: Int) { child(id: $id) { id } \
                         children(first: $first) { totalCount } }";
        let bad = "query Missing { noSuchField }";
        let text = serde_json::json!({
            sha256_hex(good): good, sha256_hex(variables): variables, sha256_hex(bad): bad,
        })
        .to_string();
        let documents = TrustedDocuments::parse(&text, &QueryLimits::default()).expect("parses");
        let problems = check_all(&documents, QueryLimits::default()).await;
        assert_eq!(
            problems.len(),
            1,
            "required variables need no value: {problems:?}"
        );
        assert_eq!(problems[0].hash, sha256_hex(bad));
        assert!(
            problems[0].messages[0].contains("noSuchField"),
            "{problems:?}"
        );
    }

    #[tokio::test]
    async fn the_board_pages_documents_are_all_valid() {
        let text = include_str!("../../board/dist/trusted-documents.json");
        let documents = TrustedDocuments::parse(text, &QueryLimits::default()).expect("parses");
        assert!(
            documents.len() >= 5,
            "every panel's query is in the manifest"
        );
        let problems = check_all(&documents, QueryLimits::default()).await;
        assert!(problems.is_empty(), "{problems:?}");
    }
}
