//! A minimal statement builder with `$n` placeholders, which both SQLite and
//! PostgreSQL accept. sqlx's own `QueryBuilder` writes `?` for `Any`, which
//! PostgreSQL rejects, hence this.

use std::collections::HashSet;

use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::StoreError;

/// Rows per multi-row INSERT: at 13 binds a row, well under both
/// databases' parameter limits.
pub(crate) const CHUNK: usize = 500;

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text plus the values for its placeholders, in order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }

    /// Appends literal SQL.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Registers a value and returns its placeholder (`$1`, `$2`, …).
    pub(crate) fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// The placeholder of a text value, or `NULL`.
    pub(crate) fn opt_text(&mut self, value: Option<String>) -> String {
        match value {
            Some(v) => self.bind(Bind::Text(v)),
            None => "NULL".to_owned(),
        }
    }

    /// Appends `WHERE a AND b …`, or nothing when there are no conditions.
    pub(crate) fn push_where(&mut self, conditions: &[String]) -> &mut Self {
        if !conditions.is_empty() {
            self.text.push_str(" WHERE ");
            self.text.push_str(&conditions.join(" AND "));
        }
        self
    }

    /// The statement, ready to run.
    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// Inserts the items whose `id` is not in `table` yet, with multi-row
/// INSERTs of `columns` (one `(…)` per item from `row`), inside the
/// caller's transaction; returns the new ones in the order given (an id
/// given twice counts once).
pub(crate) async fn insert_new<'a, T>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    items: &[&'a T],
    id: impl Fn(&T) -> Uuid,
    row: impl Fn(&mut Sql, &T) -> String,
) -> Result<Vec<&'a T>, StoreError> {
    let mut seen = HashSet::new();
    let unique: Vec<&T> = items
        .iter()
        .copied()
        .filter(|t| seen.insert(id(t)))
        .collect();
    let mut stored = HashSet::new();
    for chunk in unique.chunks(CHUNK) {
        let mut sql = Sql::new(&format!("INSERT INTO {table} ({columns}) VALUES "));
        let rows: Vec<String> = chunk.iter().map(|t| row(&mut sql, t)).collect();
        sql.push(&rows.join(", "));
        sql.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        for r in sql.query().fetch_all(&mut *conn).await? {
            stored.insert(r.try_get::<String, _>("id")?);
        }
    }
    Ok(unique
        .into_iter()
        .filter(|t| stored.contains(&id(t).to_string()))
        .collect())
}
