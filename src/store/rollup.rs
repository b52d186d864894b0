//! Hourly, daily and weekly tallies of the answers (per survey, scale and
//! score), and how a time window is covered by them. A window [a, b) is
//! counted as whole 7-day units from `tally_week`, corrected at each end by
//! whole UTC days from `tally_day` (added or subtracted), then by whole hours
//! from `tally_hour`, then by raw answers for the minutes left. Each level
//! also has an `_all` table (everybody together) for figures without an
//! agent or queue filter. Every window, whatever its time zone, is thus
//! exact, while reading a handful of tally rows per day instead of every
//! answer.

use std::collections::BTreeMap;

use super::sql::{Bind, Script, Sql, CHUNK};

pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const WEEK_MS: i64 = 7 * DAY_MS;

/// Stand-ins for an open window end; week-aligned so they need no correction.
pub(crate) const MIN_MS: i64 = -WEEK_MS * 150_000;
pub(crate) const MAX_MS: i64 = WEEK_MS * 150_000;

/// Where a segment's counts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Week,
    Day,
    Hour,
    Raw,
}

impl Level {
    fn unit(self) -> Option<i64> {
        match self {
            Level::Week => Some(WEEK_MS),
            Level::Day => Some(DAY_MS),
            Level::Hour => Some(HOUR_MS),
            Level::Raw => None,
        }
    }

    fn finer(self) -> Level {
        match self {
            Level::Week => Level::Day,
            Level::Day => Level::Hour,
            _ => Level::Raw,
        }
    }
}

/// `sign` × the counts in [lo, hi) read at `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub level: Level,
    pub sign: i64,
    pub lo: i64,
    pub hi: i64,
}

fn round(x: i64, unit: i64) -> i64 {
    (x + unit / 2).div_euclid(unit) * unit
}

/// Segments whose signed sum is exactly the counts in [lo, hi).
pub(crate) fn cover(lo: i64, hi: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    if lo < hi {
        cover_at(lo, hi, 1, Level::Week, &mut out);
    }
    out
}

fn cover_at(lo: i64, hi: i64, sign: i64, level: Level, out: &mut Vec<Segment>) {
    let Some(unit) = level.unit() else {
        out.push(Segment {
            level,
            sign,
            lo,
            hi,
        });
        return;
    };
    let (a, b) = (round(lo, unit), round(hi, unit));
    if b <= a {
        cover_at(lo, hi, sign, level.finer(), out);
        return;
    }
    out.push(Segment {
        level,
        sign,
        lo: a,
        hi: b,
    });
    // The start moved to `a`: add what it skipped or take back what it took.
    match lo.cmp(&a) {
        std::cmp::Ordering::Less => cover_at(lo, a, sign, level.finer(), out),
        std::cmp::Ordering::Greater => cover_at(a, lo, -sign, level.finer(), out),
        std::cmp::Ordering::Equal => {}
    }
    match hi.cmp(&b) {
        std::cmp::Ordering::Greater => cover_at(b, hi, sign, level.finer(), out),
        std::cmp::Ordering::Less => cover_at(hi, b, -sign, level.finer(), out),
        std::cmp::Ordering::Equal => {}
    }
}

/// The tally table of a level (`None` for raw answers); `all` picks the
/// table without agent and queue.
pub(crate) fn table(level: Level, all: bool) -> Option<&'static str> {
    Some(match (level, all) {
        (Level::Week, false) => "tally_week",
        (Level::Week, true) => "tally_week_all",
        (Level::Day, false) => "tally_day",
        (Level::Day, true) => "tally_day_all",
        (Level::Hour, false) => "tally_hour",
        (Level::Hour, true) => "tally_hour_all",
        (Level::Raw, _) => return None,
    })
}

/// What one answer adds to the tallies.
pub(crate) struct Tallied<'a> {
    pub created_at_ms: i64,
    pub survey: &'a str,
    pub kind: &'a str,
    pub agent: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub score: i64,
}

/// Adds answers to every tally, as statements of the caller's script (run
/// inside its transaction): the answers are summed per tally row first, so
/// a batch costs one upsert statement per table however many answers it
/// holds.
pub(crate) fn add_all(script: &mut Script, answers: &[Tallied<'_>]) {
    if answers.is_empty() {
        return;
    }
    for (table, unit) in [
        ("tally_hour", HOUR_MS),
        ("tally_day", DAY_MS),
        ("tally_week", WEEK_MS),
    ] {
        // BTreeMap: rows in key order, so concurrent writers lock in one order.
        let mut all: BTreeMap<(&str, &str, i64, i64), i64> = BTreeMap::new();
        let mut per: BTreeMap<(&str, &str, i64, &str, &str, i64), i64> = BTreeMap::new();
        for a in answers {
            let bucket = a.created_at_ms.div_euclid(unit) * unit;
            *all.entry((a.survey, a.kind, bucket, a.score)).or_default() += 1;
            let key = (
                a.survey,
                a.kind,
                bucket,
                a.agent.unwrap_or(""),
                a.queue.unwrap_or(""),
                a.score,
            );
            *per.entry(key).or_default() += 1;
        }
        let all = all.into_iter().map(|((survey, kind, bucket, score), n)| {
            let key = vec![
                Bind::Text(survey.into()),
                Bind::Text(kind.into()),
                Bind::Int(bucket),
                Bind::Int(score),
            ];
            (key, n)
        });
        upsert_counts(
            script,
            &format!("{table}_all"),
            "survey, kind, bucket, score",
            all,
        );
        let per = per
            .into_iter()
            .map(|((survey, kind, bucket, agent, queue, score), n)| {
                let key = vec![
                    Bind::Text(survey.into()),
                    Bind::Text(kind.into()),
                    Bind::Int(bucket),
                    Bind::Text(agent.into()),
                    Bind::Text(queue.into()),
                    Bind::Int(score),
                ];
                (key, n)
            });
        upsert_counts(
            script,
            table,
            "survey, kind, bucket, agent, queue, score",
            per,
        );
    }
}

/// Adds `n` to the row of each key (`columns` is the table's primary key),
/// creating missing rows; keys must be distinct.
fn upsert_counts(
    script: &mut Script,
    table: &str,
    columns: &str,
    rows: impl Iterator<Item = (Vec<Bind>, i64)>,
) {
    let rows: Vec<_> = rows.collect();
    for chunk in rows.chunks(CHUNK) {
        let mut sql = Sql::new(&format!("INSERT INTO {table} ({columns}, n) VALUES "));
        let values: Vec<String> = chunk
            .iter()
            .map(|(key, n)| {
                let mut vals: Vec<String> = key.iter().map(|b| sql.bind(b.clone())).collect();
                vals.push(sql.bind(Bind::Int(*n)));
                format!("({})", vals.join(", "))
            })
            .collect();
        sql.push(&values.join(", "));
        // One statement for both databases: `excluded` is the proposed row.
        sql.push(&format!(
            " ON CONFLICT ({columns}) DO UPDATE SET n = {table}.n + excluded.n"
        ));
        script.push(sql);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evaluates a cover on a set of instants, as the database would.
    fn count(segs: &[Segment], points: &[i64]) -> i64 {
        segs.iter()
            .map(|s| {
                let unit = s.level.unit().unwrap_or(1);
                // Rollup rows hold whole units: a point counts when its unit starts in range.
                let n = points
                    .iter()
                    .filter(|p| {
                        let key = p.div_euclid(unit) * unit;
                        key >= s.lo && key < s.hi
                    })
                    .count() as i64;
                s.sign * n
            })
            .sum()
    }

    #[test]
    fn covers_are_exact() {
        let base = 1_732_363_200_000; // 2024-11-23T12:00:00Z
        let points: Vec<i64> = (0..2000)
            .map(|i| base + i * 7_919_311 % (40 * DAY_MS))
            .collect();
        let cases = [
            (base, base + 1),
            (base - 1, base + DAY_MS + 1),
            (base + 30 * 60_000, base + 5 * DAY_MS - 45 * 60_000),
            (base - 11 * HOUR_MS, base + 13 * HOUR_MS),
            (base + 59 * 60_000, base + 61 * 60_000),
            (MIN_MS, MAX_MS),
            (MIN_MS, base + 3 * DAY_MS + 17),
            (base + 5, base + 5),
        ];
        for (lo, hi) in cases {
            let want = points.iter().filter(|p| **p >= lo && **p < hi).count() as i64;
            let segs = cover(lo, hi);
            assert_eq!(count(&segs, &points), want, "[{lo}, {hi}) {segs:?}");
            // A local day in a whole-hour zone needs no raw rows.
        }
        let berlin_day = cover(base - 13 * HOUR_MS, base + 11 * HOUR_MS);
        assert!(
            berlin_day.iter().all(|s| s.level != Level::Raw),
            "{berlin_day:?}"
        );
        assert!(berlin_day.len() <= 3);
        // A year: whole weeks, a few days and no hours at either end.
        let midnight = base - 12 * HOUR_MS;
        let year = cover(midnight, midnight + 365 * DAY_MS);
        assert!(
            year.iter()
                .all(|s| s.level != Level::Hour && s.level != Level::Raw),
            "{year:?}"
        );
        assert!(year.len() <= 3);
        assert_eq!(cover(MIN_MS, MAX_MS).len(), 1);
    }
}
