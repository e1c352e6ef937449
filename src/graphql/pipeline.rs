//! The schema's one extension: every step a request takes besides resolving its fields —
//! persisted documents, the limits, the rate limit, the report cache, the operation's own
//! context and loaders, the audit of refusals, and in production the hiding of type names.
//!
//! One extension rather than one per concern because async-graphql runs each field's
//! resolver through the whole chain of extensions: with several, every field of every row
//! of a page paid a boxed future per extension, though none of them looks at fields.
//!
//! Each hook runs the steps in the order they nest: what is checked first is undone last.
//! 1. `prepare_request`: the persisted document ([`persisted::Registering`]), then the
//!    limits on the text and the parse ([`limits::Admission`]), then the report log.
//! 2. `parse_query`: which operations are mutations, and the fields aliases stand for.
//! 3. `validation`: async-graphql's validation (its messages without type names in
//!    production), then depth and complexity, then the rate limit's charge — so that only
//!    operations within every limit are charged — then the persisted document registered.
//! 4. `execute`: the operation runs with its own context ([`context::for_operation`]),
//!    then the refusals it met are audited and, after a mutation, the data version bumped.
//! 5. `request`: the response gets `extensions.reportCache` and `extensions.cost`.
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Data, Request, Response, ServerError, ServerResult, ValidationResult, Variables,
};

use super::context::{self, RequestContext};
use super::limits::{Admission, QueryLimits};
use super::persisted::{PersistedDocuments, Registering};
use super::rate_limit::Metered;
use super::report_cache::OperationLog;
use super::{DeniedAudit, messages};
use crate::state::AppState;

/// The extension's factory: what all requests share.
pub struct Pipeline(Arc<Shared>);

struct Shared {
    documents: Arc<PersistedDocuments>,
    admission: Admission,
    /// Validation messages lose the schema's type names.
    production: bool,
}

impl Pipeline {
    pub fn new(documents: Arc<PersistedDocuments>, limits: QueryLimits, production: bool) -> Self {
        Pipeline(Arc::new(Shared {
            documents,
            admission: Admission::new(limits),
            production,
        }))
    }
}

impl ExtensionFactory for Pipeline {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Steps {
            shared: self.0.clone(),
            persisted: Registering::default(),
            metered: Metered::default(),
            log: OperationLog::default(),
            denied: DeniedAudit::default(),
        })
    }
}

/// The steps of one request.
struct Steps {
    shared: Arc<Shared>,
    persisted: Registering,
    metered: Metered,
    log: OperationLog,
    denied: DeniedAudit,
}

#[async_trait::async_trait]
impl Extension for Steps {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        self.metered.respond(self.log.respond(response))
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = self
            .persisted
            .prepare(&self.shared.documents, request)
            .await?;
        let request = self.shared.admission.prepare(ctx, request)?;
        next.run(ctx, self.log.prepare(request)).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.log.parsed(&document);
        self.denied.parsed(&document);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = match next.run(ctx).await {
            Ok(result) => result,
            Err(errors) if self.shared.production => return Err(messages::hide_in_errors(errors)),
            Err(errors) => return Err(errors),
        };
        self.shared.admission.validated(&result)?;
        self.metered.validated(ctx, &result).await?;
        self.persisted.validated(ctx, &self.shared.documents).await;
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        Admission::executing(ctx);
        let (mut response, request) = match ctx.data_opt::<RequestContext>() {
            Some(request) => {
                let request = context::for_operation(request);
                let loaders = request.loaders.clone();
                let mut data = Data::default();
                data.insert(request.clone());
                let response = loaders
                    .drive(next.run_with_data(ctx, operation_name, data))
                    .await;
                (response, Some(request))
            }
            None => (next.run(ctx, operation_name).await, None),
        };
        if self.shared.production {
            messages::hide_in_response(&mut response);
        }
        if let (Some(request), Some(state)) = (&request, ctx.data_opt::<Arc<AppState>>()) {
            self.denied.executed(state, request, &response);
        }
        self.log.executed(ctx, operation_name).await;
        response
    }
}
