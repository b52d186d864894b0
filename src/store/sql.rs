//! A minimal statement builder with `$n` placeholders, which both SQLite and
//! PostgreSQL accept. sqlx's own `QueryBuilder` writes `?` for `Any`, which
//! PostgreSQL rejects, hence this.

use std::collections::HashSet;

use futures_util::TryStreamExt;
use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;
use sqlx::{AnyConnection, Either, Executor, Row};
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

    /// One text of several statements, each one's placeholders moved past
    /// those of the statements before it (`$n` names its value absolutely).
    fn joined(statements: Vec<Sql>) -> Sql {
        let mut out = Sql::default();
        for s in statements {
            if !out.text.is_empty() {
                out.text.push_str(";\n");
            }
            out.text
                .push_str(&shift_placeholders(&s.text, out.binds.len()));
            out.binds.extend(s.binds);
        }
        out
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

/// `text` with every `$n` renumbered `$(n + by)`. Our statements carry
/// values only as placeholders, so a `$` followed by digits is one.
fn shift_placeholders(text: &str, by: usize) -> String {
    if by == 0 {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// Statements run in order inside the caller's transaction. sqlx runs each
/// SQLite connection on a thread of its own, and every command is a round
/// trip to that thread (two thread wake-ups), which at a few hundred ratings
/// a second cost more than the statements themselves; so on SQLite the
/// statements go as one multi-statement command. PostgreSQL prepares one
/// statement at a time, so there they run one by one.
#[derive(Debug, Default)]
pub(crate) struct Script {
    statements: Vec<Sql>,
}

impl Script {
    pub(crate) fn push(&mut self, sql: Sql) {
        self.statements.push(sql);
    }

    pub(crate) fn len(&self) -> usize {
        self.statements.len()
    }

    /// Runs the statements; returns the rows each one changed, in order.
    pub(crate) async fn run(self, conn: &mut AnyConnection) -> Result<Vec<u64>, StoreError> {
        let n = self.statements.len();
        if n > 1 && conn.backend_name() == "SQLite" {
            let merged = Sql::joined(self.statements);
            let mut changed = Vec::with_capacity(n);
            let mut results = conn.fetch_many(merged.query());
            while let Some(step) = results.try_next().await? {
                if let Either::Left(done) = step {
                    changed.push(done.rows_affected());
                }
            }
            return Ok(changed);
        }
        let mut changed = Vec::with_capacity(n);
        for s in &self.statements {
            changed.push(s.query().execute(&mut *conn).await?.rows_affected());
        }
        Ok(changed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_move_past_the_statements_before() {
        assert_eq!(
            shift_placeholders("INSERT INTO t VALUES ($1, $2), ($10, 'a$b')", 3),
            "INSERT INTO t VALUES ($4, $5), ($13, 'a$b')"
        );
        assert_eq!(shift_placeholders("SELECT $1", 0), "SELECT $1");
        assert_eq!(shift_placeholders("x $", 2), "x $");
        let mut a = Sql::new("UPDATE a SET n = ");
        let p = a.bind(Bind::Int(1));
        a.push(&p);
        let mut b = Sql::new("UPDATE b SET n = ");
        let (p, q) = (b.bind(Bind::Int(2)), b.bind(Bind::Text("x".into())));
        b.push(&format!("{p} WHERE k = {q}"));
        let joined = Sql::joined(vec![a, b]);
        assert_eq!(
            joined.text,
            "UPDATE a SET n = $1;\nUPDATE b SET n = $2 WHERE k = $3"
        );
        assert_eq!(joined.binds.len(), 3);
    }
}
