//! Aggregate figures. Every count is computed by the database (COUNT with
//! GROUP BY); no rows are loaded to be counted in Rust.

use std::cmp::Ordering;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::{Filter, Target};
use super::measurement::KIND_SMILEY;
use super::sql::{Bind, Sql};
use super::{Store, StoreError};

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

/// Select list counting happy and sad smiley ratings.
const COUNT_RATINGS: &str = "COUNT(CASE WHEN rating = 'happy' THEN 1 END) AS happy, \
                             COUNT(CASE WHEN rating = 'sad' THEN 1 END) AS sad";

fn counts_from(row: &AnyRow) -> Result<Counts, StoreError> {
    Ok(Counts {
        happy: row.try_get("happy")?,
        sad: row.try_get("sad")?,
    })
}

/// Only smiley measurements count as happy/sad; later kinds have other scales.
fn smiley_conditions(f: &Filter, sql: &mut Sql) -> Vec<String> {
    let mut c = f.conditions(sql, Target::Measurements);
    c.push(format!(
        "kind = {}",
        sql.bind(Bind::Text(KIND_SMILEY.to_owned()))
    ));
    c
}

impl Store {
    /// Happy/sad counts for everything the filter selects.
    pub async fn satisfaction(&self, f: &Filter) -> Result<Counts, StoreError> {
        let mut sql = Sql::new(&format!("SELECT {COUNT_RATINGS} FROM measurements"));
        let conditions = smiley_conditions(f, &mut sql);
        sql.push_where(&conditions);
        let row = sql.query().fetch_one(&self.pool).await?;
        counts_from(&row)
    }

    /// Counts per agent (`None` = calls not attributed to an agent), best
    /// first: by happy share, then by number of ratings, then by name.
    pub async fn per_agent(&self, f: &Filter) -> Result<Vec<(Option<String>, Counts)>, StoreError> {
        let mut sql = Sql::new(&format!("SELECT agent, {COUNT_RATINGS} FROM measurements"));
        let conditions = smiley_conditions(f, &mut sql);
        sql.push_where(&conditions);
        sql.push(" GROUP BY agent");
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.try_get::<Option<String>, _>("agent")?, counts_from(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
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
