//! The viewer, the consortium's authorities, `node(id:)`, and the audit log.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::{child, household};
use serde_json::json;

use super::connection::{Conn, connection_by_id, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode_any};
use super::links::LinkView;
use super::pool::child_profile;
use super::types::{
    AuditEventView, Authority, Child, Household, HouseholdProfile, MembershipView, Node,
    SiblingGroup, authority,
};
use crate::domain::{AuditAction, Role};
use crate::error::{AppError, AppResult};
use crate::service::audit_log::{self, AuditLogFilter};
use crate::service::{children, pool, records};

/// A consortium.
#[derive(SimpleObject)]
pub struct ConsortiumView {
    pub code: String,
    pub name: String,
}

/// Who is asking.
#[derive(SimpleObject)]
pub struct Viewer {
    pub subject: String,
    pub name: Option<String>,
    pub consortium: ConsortiumView,
    pub memberships: Vec<MembershipView>,
    pub consortium_roles: Vec<Role>,
}

/// Filters on the audit log.
#[derive(InputObject, Default)]
pub struct AuditFilterInput {
    pub subject: Option<String>,
    pub action: Option<AuditAction>,
    pub entity_type: Option<String>,
    /// A global id of a child, household, sibling group or link (or their profiles).
    pub entity_id: Option<ID>,
}

/// Viewer, directory, node and audit queries.
#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The authenticated caller.
    async fn viewer(&self, ctx: &Context<'_>) -> AppResult<Viewer> {
        let actor = ctx.actor()?;
        let directory = ctx.state().directory.current();
        let consortium = directory
            .consortium_by_id(actor.consortium_id)
            .map(|c| ConsortiumView {
                code: c.code.clone(),
                name: c.name.clone(),
            })
            .ok_or(AppError::NotFound)?;
        Ok(Viewer {
            subject: actor.subject.clone(),
            name: actor.name.clone(),
            consortium,
            memberships: actor
                .memberships
                .iter()
                .map(|m| MembershipView {
                    authority: authority(ctx, m.authority_id),
                    roles: m.roles.iter().copied().collect(),
                })
                .collect(),
            consortium_roles: actor.consortium_roles.iter().copied().collect(),
        })
    }

    /// The authorities of the caller's consortium.
    async fn authorities(&self, ctx: &Context<'_>) -> AppResult<Vec<Authority>> {
        let actor = ctx.actor()?;
        let directory = ctx.state().directory.current();
        Ok(directory
            .consortium_by_id(actor.consortium_id)
            .map(|c| c.authorities.iter().cloned().map(Authority).collect())
            .unwrap_or_default())
    }

    /// Any object by global id, checked exactly like its own query.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> AppResult<Node> {
        let actor = ctx.actor()?;
        let (kind, number) = decode_any(&id, "id")?;
        let svc = ctx.service();
        let via = || json!({ "via": "node" });
        match kind {
            IdKind::Child => {
                let c = records::view_noted::<child::Entity>(svc, Ok(number), via()).await?;
                Ok(Node::Child(Child(c)))
            }
            IdKind::ChildProfile => {
                let (c, size) = pool::view_child_profile(svc, Ok(number)).await?;
                Ok(Node::ChildProfile(child_profile((c, size))))
            }
            IdKind::Household => {
                let h = records::view_noted::<household::Entity>(svc, Ok(number), via()).await?;
                Ok(Node::Household(Household(h)))
            }
            IdKind::HouseholdProfile => {
                let h = pool::view_household_profile(svc, Ok(number)).await?;
                Ok(Node::HouseholdProfile(HouseholdProfile(h)))
            }
            IdKind::SiblingGroup => {
                let g = children::view_group_noted(svc, Ok(number), via()).await?;
                Ok(Node::SiblingGroup(SiblingGroup(g)))
            }
            IdKind::Authority => match authority(ctx, number) {
                Some(a) if a.0.consortium_id == actor.consortium_id => Ok(Node::Authority(a)),
                _ => Err(AppError::NotFound),
            },
            IdKind::Link => {
                let l = crate::service::links::view(svc, Ok(number), via()).await?;
                Ok(Node::Link(LinkView(l)))
            }
            IdKind::RecruitmentEvent | IdKind::AuditEvent => Err(AppError::NotFound),
        }
    }

    /// The audit log: the whole consortium for CONSORTIUM_ADMIN, events about the records
    /// of its authorities for MANAGER. Newest first.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<AuditEventView>> {
        let svc = ctx.service();
        let scope = audit_log::scope(&svc)?;
        let page = page(first, after)?;
        let f = filter.unwrap_or_default();
        let entity = match &f.entity_id {
            Some(id) => {
                let (kind, number) = decode_any(id, "filter.entityId")?;
                let types = match kind {
                    IdKind::Child | IdKind::ChildProfile => vec!["Child", "ChildProfile"],
                    IdKind::Household | IdKind::HouseholdProfile => {
                        vec!["Household", "HouseholdProfile"]
                    }
                    IdKind::SiblingGroup => vec!["SiblingGroup"],
                    IdKind::Link => vec!["Link"],
                    _ => {
                        return Err(AppError::bad_input(
                            "filter.entityId",
                            "not the id of a child, household, sibling group or link",
                        ));
                    }
                };
                Some((types, number))
            }
            None => None,
        };
        let filter = AuditLogFilter {
            subject: f.subject,
            action: f.action,
            entity_type: f.entity_type,
            entity,
        };
        // Counting a consortium's whole log reads all of it: only when asked for.
        let count = ctx.look_ahead().field("totalCount").exists();
        let (rows, total) = audit_log::search(&svc, &scope, filter, page, count).await?;
        Ok(connection_by_id(
            rows.into_iter()
                .map(|e| (e.id, AuditEventView(e)))
                .collect(),
            page,
            total,
        ))
    }
}
