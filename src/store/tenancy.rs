//! Consortia and their authorities, and the in-memory directory used to resolve the codes
//! in tokens. Authorities change rarely; the directory reloads when a code is not found.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use entity::{authority, consortium};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryOrder,
};

use crate::domain::AuthorityKind;

/// A consortium and its authorities.
#[derive(Clone, Debug)]
pub struct ConsortiumEntry {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub authorities: Vec<authority::Model>,
}

impl ConsortiumEntry {
    /// The id of the authority with `code`.
    pub fn authority_id(&self, code: &str) -> Option<i64> {
        self.authorities
            .iter()
            .find(|a| a.code == code)
            .map(|a| a.id)
    }
}

/// Every consortium by code.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    by_code: HashMap<String, ConsortiumEntry>,
}

impl Directory {
    /// The consortium with `code`.
    pub fn consortium(&self, code: &str) -> Option<&ConsortiumEntry> {
        self.by_code.get(code)
    }

    /// The consortium with `id`.
    pub fn consortium_by_id(&self, id: i64) -> Option<&ConsortiumEntry> {
        self.by_code.values().find(|c| c.id == id)
    }

    /// Every consortium, by code.
    pub fn consortia(&self) -> Vec<&ConsortiumEntry> {
        let mut all: Vec<&ConsortiumEntry> = self.by_code.values().collect();
        all.sort_by(|a, b| a.code.cmp(&b.code));
        all
    }

    /// The authority with `id`, in whichever consortium.
    pub fn authority(&self, id: i64) -> Option<&authority::Model> {
        self.by_code
            .values()
            .flat_map(|c| &c.authorities)
            .find(|a| a.id == id)
    }

    /// Reads the whole directory.
    pub async fn load(db: &impl ConnectionTrait) -> Result<Directory, DbErr> {
        let consortia = consortium::Entity::find().all(db).await?;
        let authorities = authority::Entity::find()
            .order_by_asc(authority::Column::Id)
            .all(db)
            .await?;
        let by_code = consortia
            .into_iter()
            .map(|c| {
                let entry = ConsortiumEntry {
                    id: c.id,
                    code: c.code.clone(),
                    name: c.name,
                    authorities: authorities
                        .iter()
                        .filter(|a| a.consortium_id == c.id)
                        .cloned()
                        .collect(),
                };
                (c.code, entry)
            })
            .collect();
        Ok(Directory { by_code })
    }
}

/// A shared, reloadable directory.
#[derive(Clone, Default)]
pub struct DirectoryCache {
    inner: Arc<RwLock<Arc<Directory>>>,
}

impl DirectoryCache {
    /// The directory as last loaded.
    pub fn current(&self) -> Arc<Directory> {
        self.inner.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Reloads from the database.
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<Arc<Directory>, DbErr> {
        let fresh = Arc::new(Directory::load(db).await?);
        if let Ok(mut guard) = self.inner.write() {
            *guard = fresh.clone();
        }
        Ok(fresh)
    }

    /// The directory, reloaded first if it does not know consortium `code` or any of
    /// `authority_codes` in it.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        code: &str,
        authority_codes: impl Iterator<Item = &str>,
    ) -> Result<Arc<Directory>, DbErr> {
        let current = self.current();
        let known = match current.consortium(code) {
            Some(c) => {
                let mut codes = authority_codes;
                codes.all(|a| c.authority_id(a).is_some())
            }
            None => false,
        };
        if known {
            Ok(current)
        } else {
            self.reload(db).await
        }
    }
}

/// Creates a consortium (used by seeds and tests).
pub async fn create_consortium(
    db: &impl ConnectionTrait,
    code: &str,
    name: &str,
) -> Result<i64, DbErr> {
    let res = consortium::Entity::insert(consortium::ActiveModel {
        code: Set(code.into()),
        name: Set(name.into()),
        match_weights: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(res.last_insert_id)
}

/// Creates an authority in a consortium (used by seeds and tests).
pub async fn create_authority(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    code: &str,
    name: &str,
    kind: AuthorityKind,
) -> Result<i64, DbErr> {
    let res = authority::Entity::insert(authority::ActiveModel {
        consortium_id: Set(consortium_id),
        code: Set(code.into()),
        name: Set(name.into()),
        kind: Set(kind.code().into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(res.last_insert_id)
}
