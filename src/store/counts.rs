//! Aggregate figures. Every count is computed by the database, from the
//! hourly/daily rollups plus the raw ratings at the window's ragged edges
//! (see `rollup`); no rows are loaded to be counted in Rust.

use std::cmp::Ordering;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::{Filter, Target};
use super::measurement::KIND_SMILEY;
use super::rollup::{cover, table, Level, MAX_MS, MIN_MS};
use super::sql::{Bind, Sql};
use super::time::to_ms;
use super::{Store, StoreError};
use crate::model::Rating;

/// Happy and sad ratings in some slice of the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub happy: i64,
    pub sad: i64,
}

impl Counts {
    pub fn total(&self) -> i64 {
        self.happy + self.sad
    }

    /// Percentage of happy ratings (41 of 50 → 82.0); `None` without ratings,
    /// since 0 % would claim every caller was unhappy.
    pub fn happy_pct(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.happy as f64 * 100.0 / total as f64)
    }

    /// Ranking order: higher happy share first, then more ratings first.
    /// Compared exactly (cross-multiplied), not through floats.
    pub fn rank(&self, other: &Counts) -> Ordering {
        let (a, b) = (self.total(), other.total());
        match (a > 0, b > 0) {
            (false, false) => Ordering::Equal,
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (true, true) => {
                let lhs = i128::from(other.happy) * i128::from(a);
                let rhs = i128::from(self.happy) * i128::from(b);
                lhs.cmp(&rhs).then(b.cmp(&a))
            }
        }
    }
}

/// What happened to the calls that entered the survey.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Responses {
    pub offered: i64,
    pub rated: i64,
    pub no_input: i64,
    pub hung_up: i64,
    pub failed: i64,
}

impl Responses {
    /// Share of offered calls that produced a rating (0.0–1.0); `None` when
    /// no call was offered.
    pub fn response_rate(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.rated as f64 / self.offered as f64)
    }
}

/// Widest window the rollups are asked about when `from`/`to` are open.
fn window(f: &Filter) -> (i64, i64) {
    (
        f.from.map(to_ms).unwrap_or(MIN_MS),
        f.to.map(to_ms).unwrap_or(MAX_MS),
    )
}

fn counts_from(row: &AnyRow) -> Result<Counts, StoreError> {
    Ok(Counts {
        happy: row.try_get("happy")?,
        sad: row.try_get("sad")?,
    })
}

/// A rating filter keeps only that side of the counts.
fn only_rating(c: Counts, f: &Filter) -> Counts {
    match f.rating {
        Some(Rating::Happy) => Counts { sad: 0, ..c },
        Some(Rating::Sad) => Counts { happy: 0, ..c },
        None => c,
    }
}

/// One statement counting every labelled window in `buckets` (label, lo,
/// hi) from the rollups and, for the ragged edges, the raw ratings; grouped
/// by label and, with `by_agent`, by agent ('' for none). Segment bounds are
/// our own integers, written into the SQL as literals (a year of hourly
/// buckets would exceed SQLite's limit on bound parameters).
fn rollup_query(f: &Filter, buckets: &[(usize, i64, i64)], by_agent: bool) -> Option<Sql> {
    let mut per_level: [(Level, Vec<String>); 4] = [
        (Level::Week, Vec::new()),
        (Level::Day, Vec::new()),
        (Level::Hour, Vec::new()),
        (Level::Raw, Vec::new()),
    ];
    for &(label, lo, hi) in buckets {
        for seg in cover(lo, hi) {
            if let Some((_, rows)) = per_level.iter_mut().find(|(l, _)| *l == seg.level) {
                rows.push(format!("({label}, {}, {}, {})", seg.sign, seg.lo, seg.hi));
            }
        }
    }
    if per_level.iter().all(|(_, rows)| rows.is_empty()) {
        return None;
    }
    let mut sql = Sql::new("WITH ");
    let mut ctes = Vec::new();
    let mut branches = Vec::new();
    let agent_col = if by_agent { ", x.agent AS agent" } else { "" };
    // Without agent or queue, the totals tables hold one row per bucket.
    let totals = !by_agent && f.agent.is_none() && f.queue.is_none();
    for (level, rows) in &per_level {
        if rows.is_empty() {
            continue;
        }
        let cte = match level {
            Level::Week => "wseg",
            Level::Day => "dseg",
            Level::Hour => "hseg",
            Level::Raw => "rseg",
        };
        let (source, alias, time_col) = match table(*level, totals) {
            Some(t) => (t, "r", "bucket"),
            None => ("measurements", "m", "created_at"),
        };
        ctes.push(format!(
            "{cte} (b, sgn, lo, hi) AS (VALUES {})",
            rows.join(", ")
        ));
        let mut conds = Vec::new();
        if let Some(agent) = &f.agent {
            conds.push(format!(
                "{alias}.agent = {}",
                sql.bind(Bind::Text(agent.clone()))
            ));
        }
        if let Some(queue) = &f.queue {
            conds.push(format!(
                "{alias}.queue = {}",
                sql.bind(Bind::Text(queue.clone()))
            ));
        }
        let (agent_sel, h, s) = if *level == Level::Raw {
            conds.push(format!(
                "m.kind = {}",
                sql.bind(Bind::Text(KIND_SMILEY.to_owned()))
            ));
            (
                "COALESCE(m.agent, '') AS agent, ",
                "g.sgn * (CASE WHEN m.rating = 'happy' THEN 1 ELSE 0 END)",
                "g.sgn * (CASE WHEN m.rating = 'sad' THEN 1 ELSE 0 END)",
            )
        } else {
            ("r.agent AS agent, ", "g.sgn * r.happy", "g.sgn * r.sad")
        };
        let agent_sel = if by_agent { agent_sel } else { "" };
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        branches.push(format!(
            "SELECT g.b AS b, {agent_sel}{h} AS h, {s} AS s FROM {cte} g \
             JOIN {source} {alias} ON {alias}.{time_col} >= g.lo AND {alias}.{time_col} < g.hi{filter}"
        ));
    }
    let group = if by_agent { "x.b, x.agent" } else { "x.b" };
    sql.push(&ctes.join(", "));
    sql.push(&format!(
        " SELECT x.b AS b{agent_col}, CAST(COALESCE(SUM(x.h), 0) AS BIGINT) AS happy, \
         CAST(COALESCE(SUM(x.s), 0) AS BIGINT) AS sad FROM ({}) x GROUP BY {group}",
        branches.join(" UNION ALL ")
    ));
    Some(sql)
}

impl Store {
    /// Happy/sad counts for everything the filter selects.
    pub async fn satisfaction(&self, f: &Filter) -> Result<Counts, StoreError> {
        let (lo, hi) = window(f);
        let Some(sql) = rollup_query(f, &[(0, lo, hi)], false) else {
            return Ok(Counts::default());
        };
        let row = sql.query().fetch_optional(&self.pool).await?;
        let c = row
            .as_ref()
            .map(counts_from)
            .transpose()?
            .unwrap_or_default();
        Ok(only_rating(c, f))
    }

    /// Counts per bucket for the windows [boundaries[i], boundaries[i+1]);
    /// one statement, counted by the database.
    pub async fn timeseries(
        &self,
        f: &Filter,
        boundaries: &[i64],
    ) -> Result<Vec<Counts>, StoreError> {
        let n = boundaries.len().saturating_sub(1);
        let mut out = vec![Counts::default(); n];
        let buckets: Vec<(usize, i64, i64)> = boundaries
            .windows(2)
            .enumerate()
            .map(|(i, w)| (i, w[0], w[1]))
            .collect();
        let Some(sql) = rollup_query(f, &buckets, false) else {
            return Ok(out);
        };
        for row in sql.query().fetch_all(&self.pool).await? {
            let b: i64 = row.try_get("b")?;
            if let Some(slot) = usize::try_from(b).ok().and_then(|b| out.get_mut(b)) {
                *slot = only_rating(counts_from(&row)?, f);
            }
        }
        Ok(out)
    }

    /// Counts per agent (`None` = calls not attributed to an agent), best
    /// first: by happy share, then by number of ratings, then by name.
    pub async fn per_agent(&self, f: &Filter) -> Result<Vec<(Option<String>, Counts)>, StoreError> {
        let (lo, hi) = window(f);
        let Some(sql) = rollup_query(f, &[(0, lo, hi)], true) else {
            return Ok(Vec::new());
        };
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in &rows {
            let agent: String = r.try_get("agent")?;
            let c = only_rating(counts_from(r)?, f);
            // Corrections can cancel out: an agent with nothing left is not listed.
            if c.total() > 0 {
                out.push(((!agent.is_empty()).then_some(agent), c));
            }
        }
        // Sorting a handful of aggregated rows; the counting was the database's.
        out.sort_by(|(a_name, a), (b_name, b)| {
            a.rank(b).then_with(|| match (a_name, b_name) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
        });
        Ok(out)
    }

    /// Outcomes of the surveyed calls the filter selects (by agent, queue and
    /// the time the call entered the survey; `rating` does not apply).
    pub async fn responses(&self, f: &Filter) -> Result<Responses, StoreError> {
        let mut sql = Sql::new(
            "SELECT COUNT(*) AS offered, \
             COUNT(CASE WHEN outcome = 'rated' THEN 1 END) AS rated, \
             COUNT(CASE WHEN outcome = 'no_input' THEN 1 END) AS no_input, \
             COUNT(CASE WHEN outcome = 'hung_up' THEN 1 END) AS hung_up, \
             COUNT(CASE WHEN outcome = 'failed' THEN 1 END) AS failed \
             FROM calls",
        );
        let conditions = f.conditions(&mut sql, Target::Calls);
        sql.push_where(&conditions);
        let row = sql.query().fetch_one(&self.pool).await?;
        Ok(Responses {
            offered: row.try_get("offered")?,
            rated: row.try_get("rated")?,
            no_input: row.try_get("no_input")?,
            hung_up: row.try_get("hung_up")?,
            failed: row.try_get("failed")?,
        })
    }
}
