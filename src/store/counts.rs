//! Aggregate figures. Every count is computed by the database, from the
//! hourly/daily/weekly tallies plus the raw answers at the window's ragged
//! edges (see `rollup`); no rows are loaded to be counted in Rust. Counts are
//! kept per score, so one shape serves every scale: the smiley's happy
//! share, CSAT and NPS are all read off the same distribution.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::RangeInclusive;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::{Filter, Target};
use super::rollup::{cover, table, Level, MAX_MS, MIN_MS};
use super::sql::{Bind, Sql};
use super::time::to_ms;
use super::{Store, StoreError};
use crate::model::ScaleKind;

/// Highest score on any scale (NPS 10).
pub const MAX_SCORE: u8 = 10;

/// The scores an answer on `kind` can have: smiley 0 (sad) and 1 (happy),
/// CSAT 1–5, NPS 0–10.
pub fn scores(kind: ScaleKind) -> RangeInclusive<u8> {
    match kind {
        ScaleKind::Smiley => 0..=1,
        ScaleKind::Csat => 1..=5,
        ScaleKind::Nps => 0..=MAX_SCORE,
    }
}

/// How many answers gave each score (0–10) in some slice of the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub by_score: [i64; MAX_SCORE as usize + 1],
}

impl Counts {
    /// Smiley counts: `happy` answers scored 1, `sad` ones 0.
    pub fn smiley(happy: i64, sad: i64) -> Counts {
        let mut c = Counts::default();
        c.by_score[1] = happy;
        c.by_score[0] = sad;
        c
    }

    /// Counts from (score, answers) pairs.
    pub fn from_scores(pairs: &[(u8, i64)]) -> Counts {
        let mut c = Counts::default();
        for &(score, n) in pairs {
            c.add(i64::from(score), n);
        }
        c
    }

    /// Answers with this score (0 for a score off every scale).
    pub fn of(&self, score: u8) -> i64 {
        self.by_score.get(usize::from(score)).copied().unwrap_or(0)
    }

    fn add(&mut self, score: i64, n: i64) {
        if let Some(slot) = usize::try_from(score)
            .ok()
            .and_then(|s| self.by_score.get_mut(s))
        {
            *slot += n;
        }
    }

    fn sum(&self, range: RangeInclusive<u8>) -> i64 {
        range.map(|s| self.of(s)).sum()
    }

    pub fn total(&self) -> i64 {
        self.by_score.iter().sum()
    }

    /// Smiley: happy answers (score 1).
    pub fn happy(&self) -> i64 {
        self.of(1)
    }

    /// Smiley: sad answers (score 0).
    pub fn sad(&self) -> i64 {
        self.of(0)
    }

    /// CSAT 4 and 5: satisfied.
    pub fn satisfied(&self) -> i64 {
        self.sum(4..=5)
    }

    /// CSAT 1 and 2: dissatisfied.
    pub fn dissatisfied(&self) -> i64 {
        self.sum(1..=2)
    }

    /// NPS 9 and 10.
    pub fn promoters(&self) -> i64 {
        self.sum(9..=10)
    }

    /// NPS 7 and 8.
    pub fn passives(&self) -> i64 {
        self.sum(7..=8)
    }

    /// NPS 0 to 6.
    pub fn detractors(&self) -> i64 {
        self.sum(0..=6)
    }

    /// `part` as a percentage of all answers; `None` without answers, since
    /// 0 % would claim something about callers nobody asked.
    fn pct(&self, part: i64) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| part as f64 * 100.0 / total as f64)
    }

    /// Percentage of happy ratings (41 of 50 → 82.0).
    pub fn happy_pct(&self) -> Option<f64> {
        self.pct(self.happy())
    }

    /// CSAT %: the share of 4s and 5s (160 of 200 → 80.0).
    pub fn csat_pct(&self) -> Option<f64> {
        self.pct(self.satisfied())
    }

    /// DSAT %: the share of 1s and 2s.
    pub fn dsat_pct(&self) -> Option<f64> {
        self.pct(self.dissatisfied())
    }

    /// Net Promoter Score: % promoters − % detractors, −100 to +100.
    pub fn nps(&self) -> Option<f64> {
        self.pct(self.promoters() - self.detractors())
    }

    /// The numerator of the scale's headline figure, over `total()`: happy
    /// answers, CSAT 4–5, or promoters − detractors.
    fn headline(&self, kind: ScaleKind) -> i64 {
        match kind {
            ScaleKind::Smiley => self.happy(),
            ScaleKind::Csat => self.satisfied(),
            ScaleKind::Nps => self.promoters() - self.detractors(),
        }
    }

    /// Ranking order on a scale: the better headline figure first (happy
    /// share, CSAT %, NPS), then more answers first; nothing last. Compared
    /// exactly (cross-multiplied), not through floats.
    pub fn rank(&self, other: &Counts, kind: ScaleKind) -> Ordering {
        let (a, b) = (self.total(), other.total());
        match (a > 0, b > 0) {
            (false, false) => Ordering::Equal,
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (true, true) => {
                let lhs = i128::from(other.headline(kind)) * i128::from(a);
                let rhs = i128::from(self.headline(kind)) * i128::from(b);
                lhs.cmp(&rhs).then(b.cmp(&a))
            }
        }
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        for (a, b) in self.by_score.iter_mut().zip(other.by_score) {
            *a += b;
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
    pub media_timeout: i64,
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

/// A rating filter keeps only the scores with that label on the scale.
fn only_rating(c: Counts, f: &Filter) -> Counts {
    let Some(rating) = &f.rating else {
        return c;
    };
    let kind = f.kind.unwrap_or(ScaleKind::Smiley);
    let mut out = Counts::default();
    for score in 0..=MAX_SCORE {
        if kind.label(score) == *rating {
            out.by_score[usize::from(score)] = c.of(score);
        }
    }
    out
}

/// What the rows of a figure query are grouped by besides the bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    Nothing,
    Agent,
    Queue,
}

impl Group {
    fn column(self) -> Option<&'static str> {
        match self {
            Group::Nothing => None,
            Group::Agent => Some("agent"),
            Group::Queue => Some("queue"),
        }
    }
}

/// One statement counting every labelled window in `buckets` (label, lo,
/// hi) from the tallies and, for the ragged edges, the raw answers; grouped
/// by label, score and `group` ('' for none). Segment bounds are our own
/// integers, written into the SQL as literals (a year of hourly buckets
/// would exceed SQLite's limit on bound parameters).
fn rollup_query(f: &Filter, buckets: &[(usize, i64, i64)], group: Group) -> Option<Sql> {
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
    // Without agent or queue, the totals tables hold everybody together.
    let totals = group == Group::Nothing && f.agent.is_none() && f.queue.is_none();
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
        let text = |sql: &mut Sql, col: &str, v: &str| {
            format!("{alias}.{col} = {}", sql.bind(Bind::Text(v.to_owned())))
        };
        if let Some(survey) = &f.survey {
            conds.push(text(&mut sql, "survey", survey));
        }
        if let Some(kind) = f.kind {
            conds.push(text(&mut sql, "kind", kind.as_str()));
        }
        if let Some(agent) = &f.agent {
            conds.push(text(&mut sql, "agent", agent));
        }
        if let Some(queue) = &f.queue {
            conds.push(text(&mut sql, "queue", queue));
        }
        let (group_sel, n) = match (group.column(), *level == Level::Raw) {
            (None, true) => (String::new(), "g.sgn"),
            (None, false) => (String::new(), "g.sgn * r.n"),
            (Some(col), true) => (format!("COALESCE(m.{col}, '') AS grp, "), "g.sgn"),
            (Some(col), false) => (format!("r.{col} AS grp, "), "g.sgn * r.n"),
        };
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        branches.push(format!(
            "SELECT g.b AS b, {group_sel}{alias}.score AS score, {n} AS n FROM {cte} g \
             JOIN {source} {alias} ON {alias}.{time_col} >= g.lo AND {alias}.{time_col} < g.hi{filter}"
        ));
    }
    let (group_col, group_by) = match group {
        Group::Nothing => ("", "x.b, x.score"),
        _ => (", x.grp AS grp", "x.b, x.grp, x.score"),
    };
    sql.push(&ctes.join(", "));
    sql.push(&format!(
        " SELECT x.b AS b{group_col}, x.score AS score, \
         CAST(COALESCE(SUM(x.n), 0) AS BIGINT) AS n FROM ({}) x GROUP BY {group_by}",
        branches.join(" UNION ALL ")
    ));
    Some(sql)
}

/// Folds rows of (b, [grp,] score, n) into counts per (b, grp), in the
/// order first seen.
fn fold_rows(rows: &[AnyRow], grouped: bool) -> Result<Vec<(i64, String, Counts)>, StoreError> {
    let mut out: Vec<(i64, String, Counts)> = Vec::new();
    let mut index: HashMap<(i64, String), usize> = HashMap::new();
    for row in rows {
        let b: i64 = row.try_get("b")?;
        let grp: String = if grouped {
            row.try_get("grp")?
        } else {
            String::new()
        };
        let score: i64 = row.try_get("score")?;
        let n: i64 = row.try_get("n")?;
        let i = *index.entry((b, grp.clone())).or_insert_with(|| {
            out.push((b, grp, Counts::default()));
            out.len() - 1
        });
        out[i].2.add(score, n);
    }
    Ok(out)
}

impl Store {
    /// Counts per score for everything the filter selects.
    pub async fn satisfaction(&self, f: &Filter) -> Result<Counts, StoreError> {
        let (lo, hi) = window(f);
        let Some(sql) = rollup_query(f, &[(0, lo, hi)], Group::Nothing) else {
            return Ok(Counts::default());
        };
        let rows = sql.query().fetch_all(&self.pool).await?;
        let c = fold_rows(&rows, false)?
            .into_iter()
            .fold(Counts::default(), |mut a, (_, _, c)| {
                a += c;
                a
            });
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
        let Some(sql) = rollup_query(f, &buckets, Group::Nothing) else {
            return Ok(out);
        };
        let rows = sql.query().fetch_all(&self.pool).await?;
        for (b, _, c) in fold_rows(&rows, false)? {
            if let Some(slot) = usize::try_from(b).ok().and_then(|b| out.get_mut(b)) {
                *slot = only_rating(c, f);
            }
        }
        Ok(out)
    }

    /// Counts per agent (`None` = calls not attributed to an agent), best
    /// first on the filter's scale (smiley without one): by headline figure,
    /// then by number of answers, then by name.
    pub async fn per_agent(&self, f: &Filter) -> Result<Vec<(Option<String>, Counts)>, StoreError> {
        self.per_group(f, Group::Agent).await
    }

    /// Counts per queue (`None` = calls without a queue), ranked like
    /// `per_agent`.
    pub async fn per_queue(&self, f: &Filter) -> Result<Vec<(Option<String>, Counts)>, StoreError> {
        self.per_group(f, Group::Queue).await
    }

    async fn per_group(
        &self,
        f: &Filter,
        group: Group,
    ) -> Result<Vec<(Option<String>, Counts)>, StoreError> {
        let (lo, hi) = window(f);
        let Some(sql) = rollup_query(f, &[(0, lo, hi)], group) else {
            return Ok(Vec::new());
        };
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for (_, name, c) in fold_rows(&rows, true)? {
            let c = only_rating(c, f);
            // Corrections can cancel out: a name with nothing left is not listed.
            if c.total() > 0 {
                out.push(((!name.is_empty()).then_some(name), c));
            }
        }
        let kind = f.kind.unwrap_or(ScaleKind::Smiley);
        // Sorting a handful of aggregated rows; the counting was the database's.
        out.sort_by(|(a_name, a), (b_name, b)| {
            a.rank(b, kind).then_with(|| match (a_name, b_name) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
        });
        Ok(out)
    }

    /// The scale of the newest answers stored for `survey` (for a survey no
    /// longer configured); `None` when it has none.
    pub async fn survey_kind(&self, survey: &str) -> Result<Option<ScaleKind>, StoreError> {
        let row = sqlx::query(
            "SELECT kind FROM tally_week_all WHERE survey = $1 ORDER BY bucket DESC LIMIT 1",
        )
        .bind(survey)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind: String = row.try_get("kind")?;
        match kind.as_str() {
            "smiley" => Ok(Some(ScaleKind::Smiley)),
            "csat" => Ok(Some(ScaleKind::Csat)),
            "nps" => Ok(Some(ScaleKind::Nps)),
            other => Err(StoreError::corrupt(
                format!("tally of survey {survey}"),
                format!("unknown kind {other:?}"),
            )),
        }
    }

    /// Outcomes of the surveyed calls the filter selects (by agent, queue and
    /// the time the call entered the survey; `rating` does not apply).
    pub async fn responses(&self, f: &Filter) -> Result<Responses, StoreError> {
        let mut sql = Sql::new(
            "SELECT COUNT(*) AS offered, \
             COUNT(CASE WHEN outcome = 'rated' THEN 1 END) AS rated, \
             COUNT(CASE WHEN outcome = 'no_input' THEN 1 END) AS no_input, \
             COUNT(CASE WHEN outcome = 'hung_up' THEN 1 END) AS hung_up, \
             COUNT(CASE WHEN outcome = 'failed' THEN 1 END) AS failed, \
             COUNT(CASE WHEN outcome = 'media_timeout' THEN 1 END) AS media_timeout \
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
            media_timeout: row.try_get("media_timeout")?,
        })
    }
}
