//! The `Actor`: who is asking, in which consortium, with which roles in which authorities.
//! Built once per request from verified claims and the tenancy directory.
use std::collections::BTreeSet;

use super::jwt::Claims;
use crate::domain::Role;
use crate::error::AppError;
use crate::store::tenancy::Directory;

/// Roles held in one authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub authority_id: i64,
    pub authority_code: String,
    pub roles: BTreeSet<Role>,
}

/// The verified caller of a request.
#[derive(Clone, Debug)]
pub struct Actor {
    pub subject: String,
    pub name: Option<String>,
    pub consortium_id: i64,
    pub consortium_code: String,
    pub memberships: Vec<Membership>,
    pub consortium_roles: BTreeSet<Role>,
    /// `iat` of the token, for session revocation.
    pub issued_at: i64,
}

const CONSORTIUM_ROLES: [Role; 2] = [Role::BoardAnalyst, Role::ConsortiumAdmin];

impl Actor {
    /// Resolves the claims' codes against the directory. Unknown authorities and roles are
    /// ignored (a token may name more than this deployment knows); an unknown consortium is
    /// refused.
    pub fn from_claims(claims: &Claims, directory: &Directory) -> Result<Actor, AppError> {
        let consortium = directory
            .consortium(&claims.consortium)
            .ok_or_else(|| AppError::Unauthenticated("unknown consortium".into()))?;
        let parse_roles = |roles: &[String], consortium_level: bool| -> BTreeSet<Role> {
            roles
                .iter()
                .filter_map(|r| Role::from_code(r))
                .filter(|r| CONSORTIUM_ROLES.contains(r) == consortium_level)
                .collect()
        };
        let mut memberships: Vec<Membership> = Vec::new();
        for m in &claims.memberships {
            let Some(authority_id) = consortium.authority_id(&m.authority) else {
                continue;
            };
            let roles = parse_roles(&m.roles, false);
            match memberships
                .iter_mut()
                .find(|x| x.authority_id == authority_id)
            {
                Some(existing) => existing.roles.extend(roles),
                None => memberships.push(Membership {
                    authority_id,
                    authority_code: m.authority.clone(),
                    roles,
                }),
            }
        }
        Ok(Actor {
            subject: claims.sub.clone(),
            name: claims.name.clone(),
            consortium_id: consortium.id,
            consortium_code: claims.consortium.clone(),
            memberships,
            consortium_roles: parse_roles(&claims.consortium_roles, true),
            issued_at: claims.iat,
        })
    }

    /// Whether the actor holds `role` in `authority_id`.
    pub fn has_role_in(&self, authority_id: i64, role: Role) -> bool {
        self.memberships
            .iter()
            .any(|m| m.authority_id == authority_id && m.roles.contains(&role))
    }

    /// Whether the actor holds the consortium role `role`.
    pub fn has_consortium_role(&self, role: Role) -> bool {
        self.consortium_roles.contains(&role)
    }

    /// Whether the actor is a member (any role) of `authority_id`.
    pub fn is_member_of(&self, authority_id: i64) -> bool {
        self.memberships
            .iter()
            .any(|m| m.authority_id == authority_id)
    }

    /// The authority the actor acts for when touching a record of `owner`: that authority
    /// if the actor is a member of it, else the actor's first membership.
    pub fn acting_authority_for(&self, owner: Option<i64>) -> Option<i64> {
        owner
            .filter(|o| self.is_member_of(*o))
            .or_else(|| self.memberships.first().map(|m| m.authority_id))
    }
}
