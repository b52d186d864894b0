//! Hourly and daily rollups of smiley ratings, and how a time window is
//! covered by them. A window [a, b) is counted as whole UTC days from
//! `rollup_day`, corrected at each end by whole hours from `rollup_hour`
//! (added or subtracted), corrected again by raw ratings for the minutes
//! left. Every window, whatever its time zone, is thus exact, while reading a
//! handful of rollup rows per day instead of every rating.

use sqlx::AnyConnection;

use super::StoreError;

pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Stand-ins for an open window end; day-aligned so they need no correction.
pub(crate) const MIN_MS: i64 = -DAY_MS * 1_000_000;
pub(crate) const MAX_MS: i64 = DAY_MS * 1_000_000;

/// Where a segment's counts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Day,
    Hour,
    Raw,
}

impl Level {
    fn unit(self) -> Option<i64> {
        match self {
            Level::Day => Some(DAY_MS),
            Level::Hour => Some(HOUR_MS),
            Level::Raw => None,
        }
    }

    fn finer(self) -> Level {
        match self {
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
        cover_at(lo, hi, 1, Level::Day, &mut out);
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

/// Adds one rating to both rollups, inside the rating's transaction.
pub(crate) async fn add(
    conn: &mut AnyConnection,
    created_at_ms: i64,
    agent: Option<&str>,
    queue: Option<&str>,
    happy: bool,
) -> Result<(), StoreError> {
    for (table, unit) in [("rollup_hour", HOUR_MS), ("rollup_day", DAY_MS)] {
        sqlx::query(&format!(
            "INSERT INTO {table} (bucket, agent, queue, happy, sad) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (bucket, agent, queue) DO UPDATE SET \
             happy = {table}.happy + excluded.happy, sad = {table}.sad + excluded.sad"
        ))
        .bind(created_at_ms.div_euclid(unit) * unit)
        .bind(agent.unwrap_or(""))
        .bind(queue.unwrap_or(""))
        .bind(i64::from(happy))
        .bind(i64::from(!happy))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
        assert_eq!(cover(MIN_MS, MAX_MS).len(), 1);
    }
}
