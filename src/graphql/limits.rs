//! Abuse limits on GraphQL documents (DESIGN §6), and what each operation turned out to be.
//!
//! Every operation passes, in order:
//! 1. **size**: the document's bytes, refused before it is parsed;
//! 2. **shape**, on the parsed document, before async-graphql's own checks: the selections
//!    it would make with every fragment spread expanded (memoised per fragment, so this
//!    costs one pass over the text), and its aliases counted the same way. async-graphql's
//!    recursion check and its validation both expand fragments by walking them, so a few
//!    hundred bytes of fragments spreading each other twice over would otherwise have them
//!    visit billions of selections;
//! 3. **depth** and **complexity**, from async-graphql's validation: each field costs 1 plus
//!    its children, and a page of `first` items costs `first` × its children
//!    ([`page_cost`]), so nested connections multiply.
//!
//! A refusal is an error with `extensions.code = BAD_USER_INPUT`, `extensions.field =
//! "query"`, `extensions.limit` naming the limit (`querySize`, `depth`, `complexity`,
//! `aliases`; the HTTP layer adds `batchSize` and `bodySize`) and `extensions.max` its value,
//! and a message saying both. The document is not run, so the response has no `data`.
//!
//! [`OperationTrace`] is request data the HTTP layer puts in and reads back: the type, name
//! and root field of the operation, and whether it ran at all (GraphQL-over-HTTP answers a request
//! that never ran with 400 under `application/graphql-response+json`).
use std::any::TypeId;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{
    ErrorExtensionValues, Name, Positioned, Request, Response, ServerError, ServerResult,
    ValidationResult,
};

use crate::graphql::connection::{DEFAULT_FIRST, MAX_FIRST};

/// Default deepest nesting of fields (GraphiQL's own introspection query is 13 deep).
pub const DEFAULT_MAX_DEPTH: usize = 15;
/// Default most complexity: a full page of 100 records with ~45 fields each.
pub const DEFAULT_MAX_COMPLEXITY: usize = 5_000;
/// Default most aliased fields, fragments expanded.
pub const DEFAULT_MAX_ALIASES: usize = 50;
/// Default most operations in one batched (JSON array) request.
pub const DEFAULT_MAX_BATCH: usize = 10;
/// Default largest document, in bytes.
pub const DEFAULT_MAX_QUERY_BYTES: usize = 20 * 1024;
/// Default largest request body, in bytes (the document plus variables).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The limits in force; see the README's configuration table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    pub max_query_bytes: usize,
    pub max_body_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_complexity: DEFAULT_MAX_COMPLEXITY,
            max_aliases: DEFAULT_MAX_ALIASES,
            max_batch: DEFAULT_MAX_BATCH,
            max_query_bytes: DEFAULT_MAX_QUERY_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl QueryLimits {
    /// Whether any limit is 0 (which would refuse every request).
    pub fn zero(&self) -> bool {
        [
            self.max_depth,
            self.max_complexity,
            self.max_aliases,
            self.max_batch,
            self.max_query_bytes,
            self.max_body_bytes,
        ]
        .contains(&0)
    }
}

/// Which limit a request went over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    QuerySize,
    Depth,
    Complexity,
    Aliases,
    BatchSize,
    BodySize,
}

impl Limit {
    /// The name sent in `extensions.limit`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::QuerySize => "querySize",
            Limit::Depth => "depth",
            Limit::Complexity => "complexity",
            Limit::Aliases => "aliases",
            Limit::BatchSize => "batchSize",
            Limit::BodySize => "bodySize",
        }
    }
}

/// The refusal of a request over `limit` (whose value is `max`), saying why in `message`.
pub fn limit_error(limit: Limit, max: usize, message: String) -> ServerError {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    extensions.set("field", "query");
    extensions.set("limit", limit.name());
    extensions.set("max", max as u64);
    let mut error = ServerError::new(message, None);
    error.extensions = Some(extensions);
    error
}

/// The complexity of a page of items: `first` (defaulted, capped, at least 1) times the cost
/// of one item's selection, plus 1 for the field. Used in
/// `#[graphql(complexity = "…")]` on every field taking `first`.
pub fn page_cost(first: Option<i32>, default: i32, child_complexity: usize) -> usize {
    let items = first.unwrap_or(default).clamp(1, MAX_FIRST) as usize;
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// [`page_cost`] for a connection (`first` defaults to 20).
pub fn connection_cost(first: Option<i32>, child_complexity: usize) -> usize {
    page_cost(first, DEFAULT_FIRST, child_complexity)
}

/// What an operation turned out to be; put in a request's data by the HTTP layer.
#[derive(Debug, Default)]
pub struct OperationTrace {
    operation: Mutex<Operation>,
    executed: AtomicBool,
}

#[derive(Debug, Default)]
struct Operation {
    ty: Option<OperationType>,
    name: Option<String>,
    /// The root field the operation selects (`multiple` for several).
    root_field: Option<String>,
}

/// The root field label of an operation selecting more than one distinct root field.
pub const MULTIPLE_ROOT_FIELDS: &str = "multiple";

impl OperationTrace {
    /// A trace for a request that names `operation_name` (if it does).
    pub fn new(operation_name: Option<String>) -> Arc<OperationTrace> {
        Arc::new(OperationTrace {
            operation: Mutex::new(Operation {
                name: operation_name,
                ..Default::default()
            }),
            executed: AtomicBool::new(false),
        })
    }

    /// `query`, `mutation`, `subscription`, or `unknown` before the document was read.
    pub fn operation_type(&self) -> &'static str {
        match self.lock().ty {
            Some(OperationType::Query) => "query",
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            None => "unknown",
        }
    }

    /// The operation's name, as requested or as written in a document of one operation.
    pub fn operation_name(&self) -> Option<String> {
        self.lock().name.clone()
    }

    /// The root field the operation selects (fragments at the root expanded), or
    /// [`MULTIPLE_ROOT_FIELDS`] when it selects several distinct ones; `None` before the
    /// document was read. Only an operation that [ran](Self::executed) passed validation,
    /// so only then is this a field of the schema.
    pub fn root_field(&self) -> Option<String> {
        self.lock().root_field.clone()
    }

    /// Whether the operation passed every check and ran (so the response has `data`).
    pub fn executed(&self) -> bool {
        self.executed.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Operation> {
        self.operation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self, document: &ExecutableDocument) {
        let mut operation = self.lock();
        let chosen = match (&document.operations, operation.name.as_deref()) {
            (DocumentOperations::Single(op), _) => Some((&op.node, None)),
            (DocumentOperations::Multiple(ops), Some(name)) => {
                ops.get(name).map(|op| (&op.node, Some(name.to_owned())))
            }
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
                .iter()
                .next()
                .map(|(name, op)| (&op.node, Some(name.to_string()))),
            (DocumentOperations::Multiple(_), None) => None,
        };
        if let Some((op, name)) = chosen {
            operation.ty = Some(op.ty);
            if name.is_some() {
                operation.name = name;
            }
            let mut fields = BTreeSet::new();
            let mut spread = HashSet::new();
            root_fields(document, &op.selection_set.node, &mut spread, &mut fields);
            operation.root_field = match fields.len() {
                0 => None,
                1 => fields.pop_first(),
                _ => Some(MULTIPLE_ROOT_FIELDS.to_owned()),
            };
        }
    }
}

/// The names (not aliases) of the fields `set` selects at its own level, fragments
/// expanded (each at most once, so a document of fragments spreading each other costs no
/// more than its size); `__typename` only when nothing else is selected.
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    spread: &mut HashSet<&'a str>,
    fields: &mut BTreeSet<String>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                fields.insert(field.node.name.node.to_string());
            }
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set.node, spread, fields)
            }
            Selection::FragmentSpread(name) => {
                let name = name.node.fragment_name.node.as_str();
                if spread.insert(name)
                    && let Some(fragment) = document.fragments.get(name)
                {
                    root_fields(document, &fragment.node.selection_set.node, spread, fields);
                }
            }
        }
    }
    if fields.len() > 1 {
        fields.remove("__typename");
    }
}

/// How many parsed documents are kept before the cache starts afresh.
const MAX_DOCUMENTS: usize = 512;

/// Parsed documents by their text. Clients send the same few operations over and over
/// (with variables), and parsing was the largest single cost of a small request; a copy
/// of the parsed document costs a fraction of it. Only documents that parse are kept.
#[derive(Default)]
struct Documents(Mutex<HashMap<String, ExecutableDocument>>);

impl Documents {
    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let documents = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        documents.get(query).cloned()
    }

    fn put(&self, query: &str, document: &ExecutableDocument) {
        let mut documents = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if documents.len() >= MAX_DOCUMENTS {
            documents.clear();
        }
        documents.insert(query.to_owned(), document.clone());
    }
}

/// The schema extension enforcing the limits (and filling in the [`OperationTrace`]), with
/// the cache of parsed documents.
pub struct Admission {
    limits: QueryLimits,
    documents: Arc<Documents>,
}

impl Admission {
    pub fn new(limits: QueryLimits) -> Admission {
        Admission {
            limits,
            documents: Arc::default(),
        }
    }
}

impl ExtensionFactory for Admission {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AdmissionExtension(self.limits, self.documents.clone()))
    }
}

struct AdmissionExtension(QueryLimits, Arc<Documents>);

#[async_trait::async_trait]
impl Extension for AdmissionExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        check_size(&request.query, &self.0)?;
        let trace = request
            .data
            .get(&TypeId::of::<Arc<OperationTrace>>())
            .and_then(|d| d.downcast_ref::<Arc<OperationTrace>>())
            .cloned();
        // Parsed here, once (the executor reuses the document), so that the shape is checked
        // before async-graphql's own recursion check, which expands every fragment spread.
        // A document that does not parse is left to the executor, which reports why.
        let uncached = match self.1.get(&request.query) {
            Some(document) => {
                request.set_parsed_query(document);
                None
            }
            None => Some(request.query.clone()),
        };
        if let Ok(document) = request.parsed_query() {
            if let Some(text) = uncached {
                self.1.put(&text, document);
            }
            if let Some(trace) = trace {
                trace.read(document);
            }
            check_shape(document, &self.0)?;
        }
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let limits = &self.0;
        if result.depth > limits.max_depth {
            return Err(vec![limit_error(
                Limit::Depth,
                limits.max_depth,
                format!(
                    "the query is nested too deeply: depth {}, the limit is {}",
                    result.depth, limits.max_depth
                ),
            )]);
        }
        if result.complexity > limits.max_complexity {
            return Err(vec![too_complex(result.complexity, limits)]);
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(trace) = ctx.data_opt::<Arc<OperationTrace>>() {
            trace.executed.store(true, Ordering::Relaxed);
        }
        next.run(ctx, operation_name).await
    }
}

/// Refuses a document over the size limit (before anything reads it).
pub fn check_size(query: &str, limits: &QueryLimits) -> ServerResult<()> {
    if query.len() > limits.max_query_bytes {
        return Err(limit_error(
            Limit::QuerySize,
            limits.max_query_bytes,
            format!(
                "the query is too large: {} bytes, the limit is {} bytes",
                query.len(),
                limits.max_query_bytes
            ),
        ));
    }
    Ok(())
}

fn too_complex(complexity: usize, limits: &QueryLimits) -> ServerError {
    limit_error(
        Limit::Complexity,
        limits.max_complexity,
        format!(
            "the query is too complex: complexity {complexity}, the limit is {} \
             (a page of `first` items costs `first` times one item)",
            limits.max_complexity
        ),
    )
}

/// Counts the selections and aliases of every operation with fragments expanded, and
/// refuses a document whose expansion exceeds the complexity limit (each field costs at
/// least 1, so no document within the limit selects more) or the alias limit, or whose
/// fragments spread themselves.
fn check_shape(document: &ExecutableDocument, limits: &QueryLimits) -> ServerResult<()> {
    let mut counter = ShapeCounter {
        fragments: &document.fragments,
        done: HashMap::new(),
        visiting: Vec::new(),
    };
    let mut total = Shape::default();
    for (_, operation) in document.operations.iter() {
        total = total.add(counter.selection_set(&operation.node.selection_set.node)?);
    }
    if total.selections > limits.max_complexity {
        return Err(limit_error(
            Limit::Complexity,
            limits.max_complexity,
            format!(
                "the query is too complex: {} selections once fragments are expanded, the \
                 limit is {}",
                total.selections, limits.max_complexity
            ),
        ));
    }
    if total.aliases > limits.max_aliases {
        return Err(limit_error(
            Limit::Aliases,
            limits.max_aliases,
            format!(
                "the query has too many aliases: {}, the limit is {}",
                total.aliases, limits.max_aliases
            ),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Default)]
struct Shape {
    selections: usize,
    aliases: usize,
}

impl Shape {
    fn add(self, other: Shape) -> Shape {
        Shape {
            selections: self.selections.saturating_add(other.selections),
            aliases: self.aliases.saturating_add(other.aliases),
        }
    }
}

struct ShapeCounter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// Each fragment's expanded shape, computed once: a spread costs a lookup, not a visit.
    done: HashMap<&'a str, Shape>,
    visiting: Vec<&'a str>,
}

impl<'a> ShapeCounter<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> ServerResult<Shape> {
        let mut shape = Shape::default();
        for item in &set.items {
            // Every selection counts, spreads and inline fragments too: they are what a
            // fragment bomb is made of.
            let own = Shape {
                selections: 1,
                aliases: 0,
            };
            let inner = match &item.node {
                Selection::Field(field) => Shape {
                    selections: 1,
                    aliases: usize::from(field.node.alias.is_some()),
                }
                .add(self.selection_set(&field.node.selection_set.node)?),
                Selection::InlineFragment(fragment) => {
                    own.add(self.selection_set(&fragment.node.selection_set.node)?)
                }
                Selection::FragmentSpread(spread) => {
                    own.add(self.fragment(spread.node.fragment_name.node.as_str())?)
                }
            };
            shape = shape.add(inner);
        }
        Ok(shape)
    }

    fn fragment(&mut self, name: &'a str) -> ServerResult<Shape> {
        if let Some(shape) = self.done.get(name) {
            return Ok(*shape);
        }
        // An unknown fragment is left to validation, which names it.
        let Some((key, definition)) = self.fragments.get_key_value(name) else {
            return Ok(Shape::default());
        };
        if self.visiting.contains(&name) {
            return Err(ServerError::new(
                format!("cannot spread fragment \"{name}\" within itself"),
                Some(definition.pos),
            ));
        }
        self.visiting.push(key.as_str());
        let shape = self.selection_set(&definition.node.selection_set.node);
        self.visiting.pop();
        let shape = shape?;
        self.done.insert(key.as_str(), shape);
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(query: &str) -> ServerResult<()> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check_shape(
            &document,
            &QueryLimits {
                max_complexity: 100,
                max_aliases: 3,
                ..QueryLimits::default()
            },
        )
    }

    fn limit_of(result: ServerResult<()>) -> Option<String> {
        let error = result.err()?;
        error
            .extensions?
            .get("limit")
            .map(|v| v.to_string().trim_matches('"').to_owned())
    }

    #[test]
    fn fragments_spreading_each_other_twice_over_are_counted_expanded_and_refused() {
        let mut query = String::from("{ ...F0 }\n");
        for i in 0..40 {
            query.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        query.push_str("fragment F40 on Query { __typename }\n");
        assert_eq!(limit_of(shape_of(&query)).as_deref(), Some("complexity"));
    }

    #[test]
    fn aliases_inside_a_fragment_count_once_per_spread() {
        let query = "{ ...A ...A } fragment A on Query { a: __typename b: __typename }";
        assert_eq!(limit_of(shape_of(query)).as_deref(), Some("aliases"));
        let query = "{ ...A } fragment A on Query { a: __typename b: __typename }";
        assert!(shape_of(query).is_ok());
    }

    #[test]
    fn a_fragment_cycle_is_refused_without_recursing_forever() {
        let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        let error = shape_of(query).expect_err("a cycle");
        assert!(error.message.contains("within itself"), "{}", error.message);
    }

    #[test]
    fn a_page_costs_first_times_an_item() {
        assert_eq!(connection_cost(Some(100), 10), 1001);
        assert_eq!(connection_cost(None, 10), 201);
        assert_eq!(
            connection_cost(Some(5000), 10),
            1001,
            "first is capped at 100"
        );
        assert_eq!(connection_cost(Some(-3), 10), 11);
    }
}
