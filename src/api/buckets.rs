//! Bucket boundaries in a time zone: hours, days starting at local midnight,
//! weeks starting on Monday at local midnight. Computed here, from the IANA
//! zone data (DST-correct: a local day may last 23 or 25 hours); the
//! database then counts each bucket.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// Bucket width.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
    Week,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    /// How many buckets a window has when none is given.
    pub fn default_count(self) -> i64 {
        match self {
            Bucket::Hour => 24,
            Bucket::Day => 30,
            Bucket::Week => 12,
        }
    }
}

/// The first instant of a local wall-clock time; when DST skips it, the
/// first existing instant after it.
fn local_start(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = t;
    for _ in 0..(4 * 26) {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(d) => return d.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            LocalResult::None => probe += Duration::minutes(15),
        }
    }
    Utc.from_utc_datetime(&t)
}

fn day_start(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    local_start(tz, d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The start of the bucket containing `t`.
pub fn floor(tz: Tz, bucket: Bucket, t: DateTime<Utc>) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    match bucket {
        Bucket::Hour => {
            // Local hours start where the local minute is zero (at :30 UTC in India).
            let back = Duration::seconds(i64::from(local.minute() * 60 + local.second()))
                + Duration::nanoseconds(i64::from(local.nanosecond()));
            t - back
        }
        Bucket::Day => day_start(tz, local.date_naive()),
        Bucket::Week => {
            let d = local.date_naive();
            let monday = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
            day_start(tz, monday)
        }
    }
}

/// The start of the bucket after the one starting at `start`.
pub fn next(tz: Tz, bucket: Bucket, start: DateTime<Utc>) -> DateTime<Utc> {
    match bucket {
        Bucket::Hour => {
            let mut t = floor(tz, bucket, start + Duration::hours(1));
            if t <= start {
                t = floor(tz, bucket, start + Duration::minutes(90));
            }
            t
        }
        Bucket::Day => day_start(
            tz,
            start.with_timezone(&tz).date_naive() + Duration::days(1),
        ),
        Bucket::Week => day_start(
            tz,
            start.with_timezone(&tz).date_naive() + Duration::days(7),
        ),
    }
}

/// Boundaries covering [from, to): bucket starts from the one containing
/// `from` through the first at or after `to`. `None` when there would be
/// more than `max` buckets.
pub fn boundaries(
    tz: Tz,
    bucket: Bucket,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: usize,
) -> Option<Vec<DateTime<Utc>>> {
    let mut out = vec![floor(tz, bucket, from)];
    while out.last().is_some_and(|b| *b < to) {
        if out.len() > max {
            return None;
        }
        let last = *out.last()?;
        out.push(next(tz, bucket, last));
    }
    if out.len() == 1 {
        out.push(next(tz, bucket, out[0]));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn berlin_days_across_dst() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let b = boundaries(
            tz,
            Bucket::Day,
            utc("2024-03-30T12:00:00Z"),
            utc("2024-03-31T22:00:00Z"),
            100,
        )
        .expect("few");
        let want = [
            "2024-03-29T23:00:00Z", // Sat 30 March 00:00 CET
            "2024-03-30T23:00:00Z", // Sun 31 March 00:00 CET; that day lasts 23 h
            "2024-03-31T22:00:00Z", // Mon 1 April 00:00 CEST
        ];
        assert_eq!(b, want.map(utc).to_vec());
    }

    #[test]
    fn hours_in_half_hour_zones_and_weeks() {
        let tz: Tz = "Asia/Kolkata".parse().expect("zone");
        let b = boundaries(
            tz,
            Bucket::Hour,
            utc("2024-11-23T12:10:00Z"),
            utc("2024-11-23T14:00:00Z"),
            100,
        )
        .expect("few");
        assert_eq!(
            b,
            [
                "2024-11-23T11:30:00Z",
                "2024-11-23T12:30:00Z",
                "2024-11-23T13:30:00Z",
                "2024-11-23T14:30:00Z"
            ]
            .map(utc)
            .to_vec()
        );
        let tz: Tz = "America/New_York".parse().expect("zone");
        // Fall back: the local hour 01:00 happens twice; both are buckets.
        let b = boundaries(
            tz,
            Bucket::Hour,
            utc("2024-11-03T04:00:00Z"),
            utc("2024-11-03T07:00:00Z"),
            100,
        )
        .expect("few");
        assert_eq!(b.len(), 4);
        let w = boundaries(
            tz,
            Bucket::Week,
            utc("2024-11-23T12:00:00Z"),
            utc("2024-11-26T00:00:00Z"),
            100,
        )
        .expect("few");
        assert_eq!(
            w,
            [
                "2024-11-18T05:00:00Z",
                "2024-11-25T05:00:00Z",
                "2024-12-02T05:00:00Z"
            ]
            .map(utc)
            .to_vec()
        );
        assert!(boundaries(
            tz,
            Bucket::Hour,
            utc("2000-01-01T00:00:00Z"),
            utc("2024-01-01T00:00:00Z"),
            1000
        )
        .is_none());
    }
}
