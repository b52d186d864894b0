//! CSV exports over HTTP: the same rows and numbers as the JSON, quoted and
//! defused for spreadsheets, streamed past one page, negotiated by
//! `format` or `Accept` and tagged apart from the JSON.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{start, Server};
use crate::model::Rating;
use crate::store::tests::{insert_many, rating, T0};

/// GET with headers: status, headers, body text.
async fn get_text(
    s: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = s.raw(Method::GET, path, headers).await;
    let (st, h) = (r.status(), r.headers().clone());
    (st, h, r.text().await.expect("body"))
}

/// Rows of a CSV body as maps from column name to cell.
fn parse(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A JSON value as the CSV writes it.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn league_and_timeseries_csv_equal_their_json() {
    let s = start().await;
    insert_many(
        s.store(),
        Some("=HYPERLINK(\"http://x\")"),
        Rating::Sad,
        3,
        T0,
    )
    .await;
    insert_many(s.store(), Some("Smith, Jo"), Rating::Happy, 2, T0).await;
    insert_many(s.store(), Some("Åsa"), Rating::Happy, 1, T0 + 3_600_000).await;
    insert_many(s.store(), Some("Åsa"), Rating::Sad, 2, T0 + 3_600_000).await;

    for path in ["/api/v1/agents", "/api/v1/queues"] {
        let column = if path.ends_with("agents") {
            "agent"
        } else {
            "queue"
        };
        let (_, json) = s.get(path).await;
        let (st, h, text) = get_text(&s, &format!("{path}?format=csv"), &[]).await;
        assert_eq!(st, StatusCode::OK, "{text}");
        assert_eq!(h["content-type"], "text/csv; charset=utf-8; header=present");
        assert!(h["content-disposition"]
            .to_str()
            .unwrap_or("")
            .starts_with("attachment; filename=\"smileyd-"));
        assert!(
            text.ends_with("\r\n") && text.contains("\r\n"),
            "RFC 4180 line ends"
        );
        let rows = parse(&text);
        let items = json["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), items.len(), "{path}");
        for (row, item) in rows.iter().zip(&items) {
            let name = cell(&item[column]);
            let want = if name.starts_with('=') {
                format!("'{name}")
            } else {
                name
            };
            assert_eq!(row[column], want, "{path}");
            for k in ["total", "happy", "sad", "happy_pct"] {
                assert_eq!(row[k], cell(&item[k]), "{path} {k}");
            }
            assert_eq!(row["answers_0"], cell(&item["distribution"]["0"]));
            assert_eq!(row["answers_1"], cell(&item["distribution"]["1"]));
            assert_eq!(
                (row["survey"].as_str(), row["kind"].as_str()),
                ("smiley", "smiley")
            );
        }
        // Accept: text/csv gives the same file.
        let (_, _, by_accept) = get_text(&s, path, &[("accept", "text/csv")]).await;
        assert_eq!(by_accept, text, "{path}");
    }
    // The formula arrives defused, quoted as RFC 4180 wants.
    let (_, _, text) = get_text(&s, "/api/v1/agents?format=csv", &[]).await;
    assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
    assert!(text.contains("\"Smith, Jo\""), "{text}");

    let q = "/api/v1/timeseries?bucket=hour&from=2024-11-23T11:00:00Z&to=2024-11-23T15:00:00Z";
    let (_, json) = s.get(q).await;
    let (_, _, text) = get_text(&s, &format!("{q}&format=csv"), &[]).await;
    let rows = parse(&text);
    let items = json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(&items) {
        for k in ["start", "end", "total", "happy", "sad", "happy_pct"] {
            assert_eq!(row[k], cell(&item[k]), "{k}");
        }
        assert_eq!(
            (row["bucket"].as_str(), row["tz"].as_str()),
            ("hour", "UTC")
        );
    }
    assert_eq!(rows[1]["total"], "5");
    assert_eq!(rows[2]["happy_pct"], cell(&Value::from(100.0 / 3.0)));
    assert_eq!(rows[0]["happy_pct"], "", "null is an empty cell");

    s.bad("/api/v1/agents?format=xls", "format").await;
}

#[tokio::test]
async fn measurements_csv_streams_every_row() {
    let s = start().await;
    // Past one streamed page (1,000 rows), with a caller number that a
    // spreadsheet would take for a formula.
    let batch: Vec<_> = (0..2_345)
        .map(|i| {
            let r = if i % 5 == 0 {
                Rating::Sad
            } else {
                Rating::Happy
            };
            let mut m = rating(Some("ann"), r, T0 + i);
            m.caller = Some("+4930123456".into());
            m
        })
        .collect();
    s.store()
        .bulk_insert_measurements(&batch)
        .await
        .expect("bulk");

    let (st, h, text) = get_text(&s, "/api/v1/measurements?format=csv", &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h.get("etag").is_some());
    assert_eq!(h["vary"], "accept");
    let rows = parse(&text);
    assert_eq!(rows.len(), 2_345);
    // Newest first, as the JSON pages list them.
    let mut want = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = s
            .get(&format!("/api/v1/measurements?limit=1000{cursor}"))
            .await;
        for m in page["items"].as_array().cloned().unwrap_or_default() {
            want.push(m);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(want.len(), rows.len());
    for (row, m) in rows.iter().zip(&want) {
        for k in [
            "id",
            "created_at",
            "survey",
            "kind",
            "score",
            "rating",
            "digit",
            "agent",
        ] {
            assert_eq!(row[k], cell(&m[k]), "{k}");
        }
        assert_eq!(row["caller"], "'+4930123456");
        assert_eq!(row["comment_url"], "");
    }

    // Filters and limit apply; so does Accept.
    let (_, _, sad) = get_text(
        &s,
        "/api/v1/measurements?rating=sad",
        &[("accept", "text/csv")],
    )
    .await;
    let sad = parse(&sad);
    assert_eq!(sad.len(), 469);
    assert!(sad.iter().all(|r| r["rating"] == "sad"));
    let (_, _, ten) = get_text(&s, "/api/v1/measurements?format=csv&limit=10", &[]).await;
    assert_eq!(parse(&ten).len(), 10);

    // JSON and CSV of one URL are tagged apart.
    let r = s.raw(Method::GET, "/api/v1/measurements", &[]).await;
    let json_tag = r.headers()["etag"].to_str().unwrap_or("").to_owned();
    let r = s
        .raw(
            Method::GET,
            "/api/v1/measurements",
            &[("accept", "text/csv"), ("if-none-match", &json_tag)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv_tag = r.headers()["etag"].to_str().unwrap_or("").to_owned();
    assert_ne!(csv_tag, json_tag);
    let r = s
        .raw(
            Method::GET,
            "/api/v1/measurements",
            &[("accept", "text/csv"), ("if-none-match", &csv_tag)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
}
