//! API tokens: bearer secrets shown once at creation and stored only as
//! their SHA-256, each with one scope.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use super::time::{from_ms, to_ms};
use super::{Store, StoreError};

/// What a token may do; admin includes read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// Whether a token of this scope may do what `needed` requires.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

/// A token as listed (never with its secret).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What is stored for a secret.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Creates a token; the returned secret is not stored anywhere.
    pub async fn create_token(
        &self,
        name: &str,
        scope: Scope,
    ) -> Result<(TokenInfo, String), StoreError> {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let secret = format!("smileyd_{}", hex::encode(raw));
        let info = TokenInfo {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            scope,
            created_at: Utc::now(),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, name, scope, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(info.id.to_string())
        .bind(name)
        .bind(scope.as_str())
        .bind(token_hash(&secret))
        .bind(to_ms(info.created_at))
        .execute(&self.pool)
        .await?;
        Ok((info, secret))
    }

    /// All tokens, oldest first, revoked ones included.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let scope: String = r.try_get("scope")?;
                let revoked: Option<i64> = r.try_get("revoked_at")?;
                Ok(TokenInfo {
                    id: Uuid::try_parse(&id)
                        .map_err(|e| StoreError::corrupt(&id, e.to_string()))?,
                    name: r.try_get("name")?,
                    scope: Scope::parse(&scope).ok_or_else(|| {
                        StoreError::corrupt(&id, format!("unknown scope {scope:?}"))
                    })?,
                    created_at: from_ms(r.try_get("created_at")?, &id)?,
                    revoked_at: revoked.map(|ms| from_ms(ms, &id)).transpose()?,
                })
            })
            .collect()
    }

    /// Revokes the tokens with this id or name; returns how many.
    pub async fn revoke_token(&self, id_or_name: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE (id = $2 OR name = $3) AND revoked_at IS NULL",
        )
        .bind(to_ms(Utc::now()))
        .bind(id_or_name)
        .bind(id_or_name)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The scope of a live token with this secret, if any.
    pub async fn token_scope(&self, secret: &str) -> Result<Option<Scope>, StoreError> {
        Ok(self.token_owner(secret).await?.map(|(scope, _)| scope))
    }

    /// The scope and name of a live token with this secret, if any.
    pub async fn token_owner(&self, secret: &str) -> Result<Option<(Scope, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT scope, name FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Scope::parse(&r.try_get::<String, _>("scope")?)
                .map(|scope| r.try_get("name").map(|name| (scope, name)))
                .transpose()?,
            None => None,
        })
    }

    /// Whether any live token exists (without one the API is loopback-only).
    pub async fn any_tokens(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT 1 AS x FROM api_tokens WHERE revoked_at IS NULL LIMIT 1) t",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}
