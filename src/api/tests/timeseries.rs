//! /api/v1/timeseries: buckets follow the zone's midnights, DST included.

use chrono::DateTime;
use reqwest::StatusCode;
use serde_json::Value;

use super::start;
use crate::model::Rating;
use crate::store::tests::{insert_many, rating};

fn ms(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .timestamp_millis()
}

fn column(body: &Value, key: &str) -> Vec<Value> {
    body["items"]
        .as_array()
        .map(|a| a.iter().map(|i| i[key].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn local_days_across_dst() {
    let s = start().await;
    for (t, r) in [
        ("2024-03-30T22:30:00Z", Rating::Happy), // Berlin: Sat 30 March, 23:30
        ("2024-03-30T23:30:00Z", Rating::Sad),   // Sun 31 March, 00:30
        ("2024-03-31T21:30:00Z", Rating::Happy), // Sun 31 March, 23:30 (CEST)
        ("2024-03-31T22:30:00Z", Rating::Happy), // Mon 1 April, 00:30
    ] {
        s.store()
            .insert_measurement(&rating(Some("ann"), r, ms(t)))
            .await
            .expect("insert");
    }
    let (st, body) = s
        .get("/api/v1/timeseries?bucket=day&tz=Europe/Berlin&from=2024-03-30T00:00:00%2B01:00&to=2024-04-02T00:00:00%2B02:00")
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["bucket"], "day");
    assert_eq!(body["tz"], "Europe/Berlin");
    assert_eq!(
        column(&body, "start"),
        [
            "2024-03-30T00:00:00+01:00",
            "2024-03-31T00:00:00+01:00",
            "2024-04-01T00:00:00+02:00"
        ]
        .map(Value::from)
        .to_vec()
    );
    assert_eq!(column(&body, "total"), [1, 2, 1].map(Value::from).to_vec());
    assert_eq!(column(&body, "happy"), [1, 1, 1].map(Value::from).to_vec());
    // The same ratings in UTC days.
    let (_, utc) = s
        .get("/api/v1/timeseries?from=2024-03-30T00:00:00Z&to=2024-04-01T00:00:00Z")
        .await;
    assert_eq!(column(&utc, "total"), [2, 2].map(Value::from).to_vec());
    // Filters apply; hour buckets in a half-hour zone.
    let (_, none) = s
        .get("/api/v1/timeseries?agent=bob&from=2024-03-30T00:00:00Z&to=2024-04-01T00:00:00Z")
        .await;
    assert_eq!(column(&none, "total"), [0, 0].map(Value::from).to_vec());
    let (_, hours) = s
        .get("/api/v1/timeseries?bucket=hour&tz=Asia/Kolkata&from=2024-03-30T22:00:00Z&to=2024-03-31T00:00:00Z")
        .await;
    assert_eq!(
        column(&hours, "start"),
        [
            "2024-03-31T03:30:00+05:30",
            "2024-03-31T04:00:00+05:30",
            "2024-03-31T05:00:00+05:30"
        ]
        .map(Value::from)
        .to_vec()
    );
    // Local hours start at :30 UTC there; the edge buckets are clipped to the window.
    assert_eq!(column(&hours, "total"), [0, 1, 1].map(Value::from).to_vec());
    assert_eq!(hours["items"][2]["end"], "2024-03-31T05:30:00+05:30");
}

#[tokio::test]
async fn weeks_and_the_published_example() {
    let s = start().await;
    let monday = ms("2024-11-18T09:00:00Z");
    insert_many(s.store(), Some("ann"), Rating::Happy, 41, monday).await;
    insert_many(
        s.store(),
        Some("ann"),
        Rating::Sad,
        9,
        monday + 3 * 86_400_000,
    )
    .await;
    let (st, body) = s
        .get("/api/v1/timeseries?bucket=week&from=2024-11-11T00:00:00Z&to=2024-11-25T00:00:00Z&agent=ann")
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(column(&body, "total"), [0, 50].map(Value::from).to_vec());
    assert_eq!(body["items"][1]["happy_pct"], 82.0);
    assert_eq!(body["items"][0]["happy_pct"], Value::Null);
    // Without a window: the last 30 days, ending with the current one.
    let (st, body) = s.get("/api/v1/timeseries").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(30));
}

#[tokio::test]
async fn bad_parameters() {
    let s = start().await;
    s.bad("/api/v1/timeseries?bucket=month", "bucket").await;
    s.bad("/api/v1/timeseries?tz=Mars/Olympus", "tz").await;
    s.bad(
        "/api/v1/timeseries?bucket=hour&from=2000-01-01T00:00:00Z&to=2024-01-01T00:00:00Z",
        "from",
    )
    .await;
    let (st, body) = s
        .get("/api/v1/timeseries?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (st, body["items"].clone()),
        (StatusCode::OK, serde_json::json!([]))
    );
    s.bad("/api/v1/timeseries?to=", "to").await;
    s.bad("/api/v1/timeseries?rating=happy", "rating").await;
}
