//! Abuse limits on GraphQL documents (DESIGN §6), and what each operation turned out to be.
//!
//! Every operation passes, in order:
//! 1. **size** and **nesting**: the document's bytes, and how deeply its brackets nest
//!    (selection sets, arguments, list and object values alike), refused before it is
//!    parsed, since the parser recurses once per level; the variables' lists and objects
//!    are held to the same nesting, and no list in the variables or the document's values
//!    may be longer than the list limit;
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
//! "query"` (`"variables"` for their nesting), `extensions.limit` naming the limit
//! (`querySize`, `nesting`, `listLength`, `depth`, `complexity`, `aliases`; the HTTP layer adds
//! `batchSize` and `bodySize`) and `extensions.max` its value, and a message saying both. The document is not run, so the response has no `data`.
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
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{
    ErrorExtensionValues, Name, Positioned, Request, Response, ServerError, ServerResult,
    ValidationResult, Value, Variables,
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
/// Default largest request body on `/graphql/upload` (an import's files, multipart): ten
/// years of one authority's SSDA903 returns are some tens of megabytes.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;
/// Default most files in one upload (ten years of the four SSDA903 files is 40).
pub const DEFAULT_MAX_UPLOAD_FILES: usize = 100;
/// Default deepest nesting of brackets in a document (`{`, `[` and `(` together), and of
/// lists and objects in variables. A query at the depth limit with an input object a few
/// levels deep stays well within it; the parser and the validator recurse once per level,
/// so what is refused here never reaches them.
pub const DEFAULT_MAX_NESTING: usize = 32;
/// Default longest list in a request's values (arguments and variables): the most ids,
/// codes or kinds any input needs is far below it (a page is at most 100 too).
pub const DEFAULT_MAX_LIST_LENGTH: usize = 100;

/// The limits in force; see the README's configuration table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_batch: usize,
    pub max_query_bytes: usize,
    pub max_body_bytes: usize,
    pub max_nesting: usize,
    pub max_list_length: usize,
    pub max_upload_bytes: usize,
    pub max_upload_files: usize,
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
            max_nesting: DEFAULT_MAX_NESTING,
            max_list_length: DEFAULT_MAX_LIST_LENGTH,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_upload_files: DEFAULT_MAX_UPLOAD_FILES,
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
            self.max_nesting,
            self.max_list_length,
            self.max_upload_bytes,
            self.max_upload_files,
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
    Nesting,
    ListLength,
    /// Files in one upload (`/graphql/upload`).
    UploadFiles,
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
            Limit::Nesting => "nesting",
            Limit::ListLength => "listLength",
            Limit::UploadFiles => "uploadFiles",
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
        if let Some((op, name)) = chosen_operation(document, operation.name.as_deref()) {
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

/// The operation of `document` a request naming `name` (if it does) runs, with its name
/// when the document names it; `None` when the choice is left open.
fn chosen_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(&'a OperationDefinition, Option<String>)> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some((&op.node, None)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).map(|op| (&op.node, Some(name.to_owned())))
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(name, op)| (&op.node, Some(name.to_string()))),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Marks a request that came over the websocket, where mutations are not taken: an
/// answer lost with the connection would leave the client not knowing whether its change
/// was made, and only HTTP says so ([`crate::error::AppError::OutcomeUnknown`]).
pub struct OverWebsocket;

/// Refuses a mutation sent over the websocket.
fn check_transport(
    ctx: &ExtensionContext<'_>,
    operation_name: Option<&str>,
    document: &ExecutableDocument,
) -> ServerResult<()> {
    if ctx.data_opt::<OverWebsocket>().is_none() {
        return Ok(());
    }
    match chosen_operation(document, operation_name) {
        Some((op, _)) if op.ty == OperationType::Mutation => {
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", "BAD_USER_INPUT");
            extensions.set("field", "query");
            let mut error = ServerError::new(
                "mutations are not taken over the websocket: send them to POST /graphql",
                None,
            );
            error.extensions = Some(extensions);
            Err(error)
        }
        _ => Ok(()),
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

/// The limits (and the filling in of the [`OperationTrace`]), with the cache of parsed
/// documents: steps of the schema's one extension ([`super::pipeline`]).
pub struct Admission {
    limits: QueryLimits,
    documents: Documents,
}

impl Admission {
    pub fn new(limits: QueryLimits) -> Admission {
        Admission {
            limits,
            documents: Documents::default(),
        }
    }

    /// Before parsing: the size, nesting and list limits, then the document parsed (or
    /// taken from the cache) and its shape checked.
    pub fn prepare(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
    ) -> ServerResult<Request> {
        check_document(&request.query, &self.limits)?;
        check_variables(&request.variables, &self.limits)?;
        let trace = request
            .data
            .get(&TypeId::of::<Arc<OperationTrace>>())
            .and_then(|d| d.downcast_ref::<Arc<OperationTrace>>())
            .cloned();
        // Parsed here, once (the executor reuses the document), so that the shape is checked
        // before async-graphql's own recursion check, which expands every fragment spread.
        // A document that does not parse is left to the executor, which reports why.
        let operation_name = request.operation_name.clone();
        let uncached = match self.documents.get(&request.query) {
            Some(document) => {
                request.set_parsed_query(document);
                None
            }
            None => Some(request.query.clone()),
        };
        if let Ok(document) = request.parsed_query() {
            if let Some(text) = uncached {
                self.documents.put(&text, document);
            }
            if let Some(trace) = trace {
                trace.read(document);
            }
            check_transport(ctx, operation_name.as_deref(), document)?;
            check_shape(document, &self.limits)?;
            check_lists(document, &self.limits)?;
        }
        Ok(request)
    }

    /// After validation: the depth and complexity limits.
    pub fn validated(&self, result: &ValidationResult) -> Result<(), Vec<ServerError>> {
        let limits = &self.limits;
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
        Ok(())
    }

    /// As the operation starts to run: notes in the trace that it ran.
    pub fn executing(ctx: &ExtensionContext<'_>) {
        if let Some(trace) = ctx.data_opt::<Arc<OperationTrace>>() {
            trace.executed.store(true, Ordering::Relaxed);
        }
    }
}

/// An extension that holds documents to the limits alone: for checking the trusted
/// documents at start-up, where it runs none ([`Admitted::check_only`]).
pub struct Admitted {
    admission: Arc<Admission>,
    run: bool,
}

impl Admitted {
    /// Checks each document against the limits and validation, and runs none.
    pub fn check_only(limits: QueryLimits) -> Admitted {
        Admitted {
            admission: Arc::new(Admission::new(limits)),
            run: false,
        }
    }
}

impl ExtensionFactory for Admitted {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Admitted {
            admission: self.admission.clone(),
            run: self.run,
        })
    }
}

#[async_trait::async_trait]
impl Extension for Admitted {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = self.admission.prepare(ctx, request)?;
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        self.admission.validated(&result)?;
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match self.run {
            true => next.run(ctx, operation_name).await,
            false => Response::new(Value::Null),
        }
    }
}

/// Refuses a document over the size limit or nested deeper than the nesting limit, before
/// anything parses it. The GraphQL parser and validator recurse once per level of
/// nesting, so a few kilobytes of `[[[[…` would otherwise exhaust a worker's stack and
/// abort the process.
pub fn check_document(query: &str, limits: &QueryLimits) -> ServerResult<()> {
    check_size(query, limits)?;
    match bracket_depth(query, limits.max_nesting) {
        Ok(depth) if depth > limits.max_nesting => Err(too_nested("query", limits.max_nesting)),
        Ok(_) => Ok(()),
        Err(why) => {
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", "BAD_USER_INPUT");
            extensions.set("field", "query");
            let mut error = ServerError::new(format!("the query does not parse: {why}"), None);
            error.extensions = Some(extensions);
            Err(error)
        }
    }
}

/// Refuses variables whose lists and objects nest deeper than the nesting limit, or that
/// hold a list longer than the list limit (counted without recursion).
pub fn check_variables(variables: &Variables, limits: &QueryLimits) -> ServerResult<()> {
    check_values(variables.values(), "variables", limits)
}

/// Refuses `values` (of the request part named `field`) if a list or object nests deeper
/// than the nesting limit or a list is longer than the list limit. Iterative: a deep value
/// cannot exhaust the stack here.
fn check_values<'a>(
    values: impl Iterator<Item = &'a Value>,
    field: &str,
    limits: &QueryLimits,
) -> ServerResult<()> {
    let mut stack: Vec<(&Value, usize)> = values.map(|v| (v, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        let inner: Vec<&Value> = match value {
            Value::List(items) => {
                if items.len() > limits.max_list_length {
                    return Err(too_long(field, items.len(), limits.max_list_length));
                }
                items.iter().collect()
            }
            Value::Object(fields) => fields.values().collect(),
            _ => continue,
        };
        if depth > limits.max_nesting {
            return Err(too_nested(field, limits.max_nesting));
        }
        stack.extend(inner.into_iter().map(|v| (v, depth + 1)));
    }
    Ok(())
}

/// Refuses a document holding a list value longer than the list limit in an argument, a
/// directive's argument or a variable's default (every fragment counted once).
fn check_lists(document: &ExecutableDocument, limits: &QueryLimits) -> ServerResult<()> {
    let mut values: Vec<Value> = Vec::new();
    let mut sets: Vec<&SelectionSet> = Vec::new();
    // Variables in the document's values are left as null: their values are checked apart.
    macro_rules! arguments {
        ($arguments:expr) => {
            for (_, value) in $arguments {
                values.push(
                    value
                        .node
                        .clone()
                        .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null))
                        .unwrap_or(Value::Null),
                );
            }
        };
    }
    macro_rules! directives {
        ($directives:expr) => {
            for directive in $directives {
                arguments!(&directive.node.arguments);
            }
        };
    }
    for (_, operation) in document.operations.iter() {
        for definition in &operation.node.variable_definitions {
            if let Some(default) = &definition.node.default_value {
                values.push(default.node.clone());
            }
        }
        directives!(&operation.node.directives);
        sets.push(&operation.node.selection_set.node);
    }
    for fragment in document.fragments.values() {
        directives!(&fragment.node.directives);
        sets.push(&fragment.node.selection_set.node);
    }
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    arguments!(&field.node.arguments);
                    directives!(&field.node.directives);
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    directives!(&fragment.node.directives);
                    sets.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => directives!(&spread.node.directives),
            }
        }
    }
    check_values(values.iter(), "query", limits)
}

fn too_long(field: &str, length: usize, max: usize) -> ServerError {
    let mut error = limit_error(
        Limit::ListLength,
        max,
        format!("a list in the {field} has {length} items, the limit is {max}"),
    );
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("field", field);
    }
    error
}

fn too_nested(field: &str, max: usize) -> ServerError {
    let mut error = limit_error(
        Limit::Nesting,
        max,
        format!(
            "the {} is nested too deeply: more than {max} levels of brackets, lists or \
             objects",
            if field == "query" {
                "query"
            } else {
                "variables value"
            }
        ),
    );
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("field", field);
    }
    error
}

/// The deepest nesting of `{`, `[` and `(` in a GraphQL document, outside strings, block
/// strings and comments. The scan stops once the depth is over `max` (and returns it), so
/// it costs at most one pass over the text and no recursion.
///
/// Brackets inside a string are not counted, so the scan must read strings exactly as the
/// parser will, or a crafted string could hide real nesting from it. It therefore refuses
/// (`Err`) every string the GraphQL lexer would refuse: a block string without its closing
/// `"""`, a string broken by a line end or the end of the text, an escape other than
/// `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and `\u`. (The parser backtracks over such
/// text — an unclosed `"""` is read as `""` followed by a new string — and sees brackets
/// the scan skipped.) What is left has one reading, the parser's.
fn bracket_depth(text: &str, max: usize) -> Result<usize, &'static str> {
    let bytes = text.as_bytes();
    let at = |i: usize, pattern: &[u8]| bytes.get(i..).is_some_and(|r| r.starts_with(pattern));
    let (mut i, mut depth, mut deepest) = (0, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if at(i, b"\"\"\"") => {
                i += 3;
                loop {
                    if i >= bytes.len() {
                        return Err("a block string is not closed with \"\"\"");
                    } else if at(i, b"\\\"\"\"") {
                        i += 4;
                    } else if at(i, b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n' | b'\r') => {
                            return Err("a string is not closed on its line");
                        }
                        Some(b'\\') => match bytes.get(i + 1) {
                            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u') => {
                                i += 2;
                            }
                            _ => return Err("a string has an escape GraphQL does not know"),
                        },
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > deepest {
                    deepest = depth;
                    if deepest > max {
                        return Ok(deepest);
                    }
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(deepest)
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

    #[test]
    fn brackets_in_strings_block_strings_and_comments_are_not_nesting() {
        assert_eq!(bracket_depth("{ a(b: [[1]]) { c } }", 99), Ok(4));
        assert_eq!(bracket_depth(r#"{ a(b: "[[[\"[[[") }"#, 99), Ok(2));
        assert_eq!(bracket_depth(r#"{ a(b: "\\[[[\u00e9\/") }"#, 99), Ok(2));
        assert_eq!(
            bracket_depth("{ a(b: \"\"\"[[[ \\\"\"\" ((( \"\"\") }", 99),
            Ok(2)
        );
        assert_eq!(bracket_depth("{ a # {{{{{{\n }", 99), Ok(1));
        // The scan stops one past the limit.
        assert_eq!(bracket_depth(&"[".repeat(10_000), 32), Ok(33));
    }

    #[test]
    fn strings_the_lexer_would_refuse_are_refused_before_their_brackets_can_hide() {
        // An unclosed block string: the parser reads `""` and then a new string, and sees
        // the brackets after it.
        let hidden = format!(
            "{{ a(b: [\"\"\" \" {}1{} ]) }}",
            "[".repeat(3000),
            "]".repeat(3000)
        );
        assert!(bracket_depth(&hidden, 32).is_err());
        for malformed in [
            "{ a(b: \"\"\"[[[ ) }",
            "{ a(b: \"[[[\n ) }",
            "{ a(b: \"[[[",
            "{ a(b: \"\\q[[[\") }",
            "{ a(b: \"abc\\\n[[[\") }",
        ] {
            assert!(bracket_depth(malformed, 99).is_err(), "{malformed:?}");
        }
    }
}

/// The document and variables path, fuzzed: whatever is sent, the checks that run before
/// parsing either refuse it or leave something that the parser, the validator and the
/// executor get through on a worker-sized stack (2 MiB, as tokio gives its workers). A
/// stack overflow aborts this test binary, which fails the run.
#[cfg(test)]
mod fuzz {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, InputObject, Object, Schema};
    use proptest::prelude::*;

    #[derive(InputObject)]
    struct Deep {
        a: Option<Box<Deep>>,
        n: Option<i32>,
    }

    struct Query;

    /// Lists three deep.
    type Lists = Vec<Option<Vec<Option<Vec<Option<i32>>>>>>;

    #[Object]
    impl Query {
        async fn echo(
            &self,
            deep: Option<Deep>,
            lists: Option<Lists>,
            any: Option<async_graphql::Json<serde_json::Value>>,
        ) -> i32 {
            i32::from(deep.is_some()) + i32::from(lists.is_some()) + i32::from(any.is_some())
        }

        async fn node(&self, id: Option<async_graphql::ID>) -> Option<Query> {
            id.map(|_| Query)
        }
    }

    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "\"",
        "\"\"\"",
        "\\",
        "#",
        "\n",
        " ",
        "a",
        "b: ",
        "1",
        "$v",
        "echo",
        "node(id: ",
        "deep: ",
        "lists: ",
        "any: ",
        "{a: ",
        "query",
        "...",
        "fragment F on Query ",
        "@skip(if: ",
        "true",
        ",",
        ":",
    ];

    /// Random runs of tokens (mostly malformed documents).
    fn token_soup() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..300)
            .prop_map(|tokens| tokens.concat())
    }

    /// A well-formed document whose argument value nests `depth` deep, in one of several
    /// shapes, sometimes hidden in a string or a comment.
    fn deep_document() -> impl Strategy<Value = (String, usize, bool)> {
        (0usize..3_000, 0usize..5, any::<bool>()).prop_map(|(depth, shape, hidden)| {
            let (open, leaf, close, prefix, suffix) = match shape {
                0 => ("[", "1", "]", "{ echo(lists: ", ") }"),
                1 => ("{a: ", "null", "}", "{ echo(deep: ", ") }"),
                2 => ("[", "\"x\"", "]", "{ node(id: ", ") { __typename } }"),
                3 => ("{a: ", "1", "}", "{ echo(any: ", ") }"),
                _ => ("{ node(id: 1) ", "{ __typename", " }", "", ""),
            };
            let value = format!("{}{leaf}{}", open.repeat(depth), close.repeat(depth));
            let document = if hidden {
                format!("{{ echo(any: \"{}\") }} # {value}", value.replace('"', ""))
            } else {
                format!("{prefix}{value}{suffix}")
            };
            (document, depth, hidden)
        })
    }

    const QUOTES: &[&str] = &[
        "\"",
        "\"\"\"",
        "\"\"\" \"",
        "\"\"\"\"",
        "\\",
        "\\\"",
        "\\\"\"\"",
        "\n",
        "#",
        " ",
        "a",
        "\\u",
    ];

    /// Openings that have fooled, or could fool, a scan reading strings differently from
    /// the parser (an unclosed block string is read by the parser as `""` then a string).
    const OPENINGS: &[&str] = &[
        "\"\"\" \" ",
        "\"\"\" \"",
        "\"\"\"",
        "\"\"\"\" ",
        "\" ",
        "\"\\\" ",
        "\"\\q ",
        "\"\"\"\\\"\"\" ",
        "# ",
        "\"a\n",
    ];

    /// Deep brackets behind quotes, escapes and comment marks: whatever reading of the
    /// quotes the scan takes, it must not be one that hides brackets the parser sees.
    fn quoted_then_deep() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(OPENINGS),
            proptest::collection::vec(proptest::sample::select(QUOTES), 0..3),
            300usize..1_500,
            proptest::collection::vec(proptest::sample::select(QUOTES), 0..4),
        )
            .prop_map(|(opening, more, depth, after)| {
                format!(
                    "{{ echo(lists: [{opening}{}{}1{} {}]) }}",
                    more.concat(),
                    "[".repeat(depth),
                    "]".repeat(depth),
                    after.concat()
                )
            })
    }

    /// A JSON value nested up to `max` deep (within serde_json's own limit of 128).
    fn deep_json() -> impl Strategy<Value = (serde_json::Value, usize)> {
        (0usize..120, any::<bool>()).prop_map(|(depth, lists)| {
            let mut value = serde_json::json!(1);
            for _ in 0..depth {
                value = if lists {
                    serde_json::json!([value])
                } else {
                    serde_json::json!({ "a": value })
                };
            }
            (value, depth)
        })
    }

    /// Runs `request` through a schema with the admission checks, on a 2 MiB stack.
    fn run(request: Request) -> Response {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
                    .extension(Admitted {
                        admission: Arc::new(Admission::new(QueryLimits::default())),
                        run: true,
                    })
                    .finish();
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime")
                    .block_on(schema.execute(request))
            })
            .expect("thread")
            .join()
            .expect("no panic")
    }

    fn nesting_refused(response: &Response) -> bool {
        response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("limit"))
                .is_some_and(|l| l.to_string().trim_matches('"') == "nesting")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn malformed_documents_are_answered(document in token_soup()) {
            let _ = run(Request::new(document));
        }

        #[test]
        fn deep_brackets_behind_quotes_never_reach_the_parser(document in quoted_then_deep()) {
            let _ = run(Request::new(document));
        }

        #[test]
        fn nesting_over_the_limit_is_refused_and_within_it_runs(
            (document, depth, hidden) in deep_document()
        ) {
            let too_large = document.len() > DEFAULT_MAX_QUERY_BYTES;
            let response = run(Request::new(document));
            // Selection sets and argument parentheses add up to two levels.
            if hidden || depth + 2 <= DEFAULT_MAX_NESTING {
                prop_assert!(!nesting_refused(&response), "{:?}", response.errors);
            }
            if !hidden && !too_large && depth > DEFAULT_MAX_NESTING {
                prop_assert!(nesting_refused(&response), "{:?}", response.errors);
            }
        }

        #[test]
        fn nested_variables_over_the_limit_are_refused(
            (value, depth) in deep_json()
        ) {
            let request = Request::new("query($v: JSON) { echo(any: $v) }")
                .variables(Variables::from_json(serde_json::json!({ "v": value })));
            let response = run(request);
            prop_assert_eq!(nesting_refused(&response), depth > DEFAULT_MAX_NESTING);
        }
    }
}
