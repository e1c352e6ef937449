//! The GraphQL schema, one module per area. Resolvers are thin: they decode ids and
//! inputs, call a [`crate::service`] use case, and map its records to output types.

pub mod admin;
pub mod board;
pub mod children;
pub mod connection;
pub mod context;
pub mod households;
pub mod ids;
pub mod imports;
pub mod inputs;
pub mod limits;
pub mod links;
pub mod matching;
pub mod messages;
pub mod notifications;
pub mod persisted;
mod pipeline;
pub mod pool;
pub mod rate_limit;
pub mod report_cache;
pub mod reports;
pub mod scalars;
pub mod types;
pub mod viewer;

use std::sync::Arc;

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{MergedObject, MergedSubscription, Response, Schema, SchemaBuilder};

use crate::error::DeniedRecord;
use crate::service::Service;
use crate::state::AppState;
use context::RequestContext;

/// All queries.
#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    children::ChildQuery,
    households::HouseholdQuery,
    pool::PoolQuery,
    matching::MatchingQuery,
    links::LinkQuery,
    reports::ReportQuery,
    board::BoardQuery,
);

/// All mutations.
#[derive(MergedObject, Default)]
pub struct Mutation(
    children::ChildMutation,
    households::HouseholdMutation,
    matching::MatchingMutation,
    links::LinkMutation,
    admin::AdminMutation,
    imports::ImportMutation,
);

/// All subscriptions (served over `graphql-transport-ws` at `/graphql/ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(notifications::NotificationSubscription);

/// The schema type.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .register_output_type::<types::Node>()
}

/// The schema serving requests with `state`, resolving persisted documents from
/// `documents`.
pub fn schema(state: Arc<AppState>, documents: Arc<persisted::PersistedDocuments>) -> AppSchema {
    let production = state.config.is_production();
    let limits = state.config.limits;
    let mut b = builder()
        .data(state)
        // First: every other extension sees a persisted document's text, and a document
        // is registered only once it has passed them all.
        .extension(pipeline::Pipeline::new(documents, limits, production));
    if production {
        b = b.disable_introspection().disable_suggestions();
    }
    b.finish()
}

/// The SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Records a `DENIED` audit event for each refusal (`FORBIDDEN`, `NOT_FOUND`) an
/// authenticated actor receives, whatever path it came through.
///
/// The event the actor's own authority sees names no record (the first field of the path
/// stands for the entity), so that its managers learn nothing from it about records they
/// may not see — it is the same for a record that exists and one that does not. When the
/// refusal was about a record of the actor's consortium ([`DeniedRecord`], set where the
/// record was loaded), the record's owning authority gets an event naming the entity, its
/// id and itself as owner, so that its managers see who probed its records. For a record
/// of an authority the actor belongs to, that one event serves both.
///
/// The record-less event is written whether or not the record exists, even when the
/// record's event is filed under another authority the actor belongs to: else an actor of
/// several authorities would read the existence of a record from the log of its own.
/// Only when both would be filed under the same acting authority does one serve both.
///
/// `detail.path` names the schema's fields, not the client's aliases (which are free text
/// and would land in the log): an alias becomes its field's name, or `_` where the
/// document gives one alias to different fields.
///
/// One per request, a step of the schema's extension ([`pipeline`]): the field each
/// response key of the document stands for.
#[derive(Default)]
pub(crate) struct DeniedAudit {
    fields: std::sync::Mutex<HashMap<String, Option<String>>>,
}

impl DeniedAudit {
    /// The path of `error`, with field names for response keys.
    fn field_path(&self, error: &async_graphql::ServerError) -> Vec<String> {
        let fields = self
            .fields
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        error
            .path
            .iter()
            .map(|p| match p {
                async_graphql::PathSegment::Field(key) => match fields.get(key) {
                    Some(Some(name)) => name.clone(),
                    Some(None) => "_".to_owned(),
                    None => key.clone(),
                },
                async_graphql::PathSegment::Index(i) => i.to_string(),
            })
            .collect()
    }
}

/// Whether a field of `set`, or below, has an alias.
fn has_alias(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            field.node.alias.is_some() || has_alias(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => has_alias(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// Notes, for every field of `set` and below, the field its response key stands for
/// (`None` once a key stands for two).
fn note_fields(set: &SelectionSet, fields: &mut HashMap<String, Option<String>>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let name = field.name.node.as_str();
                let key = field.alias.as_ref().map_or(name, |a| a.node.as_str());
                fields
                    .entry(key.to_owned())
                    .and_modify(|known| {
                        if known.as_deref() != Some(name) {
                            *known = None;
                        }
                    })
                    .or_insert_with(|| Some(name.to_owned()));
                note_fields(&field.selection_set.node, fields);
            }
            Selection::InlineFragment(fragment) => {
                note_fields(&fragment.node.selection_set.node, fields);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

impl DeniedAudit {
    /// Notes, when the document aliases fields, the field each response key stands for.
    pub(crate) fn parsed(&self, document: &ExecutableDocument) {
        // Most documents alias nothing: then every key is its field's name, and no map.
        let sets = || {
            document
                .operations
                .iter()
                .map(|(_, op)| &op.node.selection_set.node)
                .chain(
                    document
                        .fragments
                        .values()
                        .map(|f| &f.node.selection_set.node),
                )
        };
        if !sets().any(has_alias) {
            return;
        }
        let mut fields = HashMap::new();
        for set in sets() {
            note_fields(set, &mut fields);
        }
        *self
            .fields
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fields;
    }

    /// After the operation ran as `request`: an event for each refusal in `response`.
    pub(crate) fn executed(&self, state: &AppState, request: &RequestContext, response: &Response) {
        if request.actor.is_none() {
            return;
        }
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .map(|v| v.to_string().trim_matches('"').to_owned());
            let Some(code @ ("FORBIDDEN" | "NOT_FOUND")) = code.as_deref() else {
                continue;
            };
            let path = self.field_path(error);
            Service::new(state, request).audit_denied(code, &path, error.source::<DeniedRecord>());
        }
    }
}
