//! Benchmark of the figure queries on a large SQLite database, measured the
//! way a client sees them: over HTTP on loopback, through the real router.
//!
//! cargo run --release --example api_bench [-- ROWS [DB_PATH]]
//!
//! Fills a fresh SQLite file with ROWS ratings (default 1,000,000: a year of
//! calls, 50 agents in 4 queues, 80 % happy) through the bulk path, then
//! times each request 50 times and prints p50/p99/max in milliseconds as a
//! Markdown table. An existing DB_PATH with enough rows is reused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use smileyd::api::{router, ApiState};
use smileyd::model::{DtmfSource, Rating};
use smileyd::store::{smiley_score, Filter, NewMeasurement, Store};
use smileyd::survey::ScaleKind;
use uuid::Uuid;

/// 2024-01-01T00:00:00Z; the data covers the following 365 days.
const START_MS: i64 = 1_704_067_200_000;
const SPAN_MS: i64 = 365 * 86_400_000;

fn fake(i: u64, rows: u64) -> NewMeasurement {
    // A cheap deterministic scramble for agents and ratings.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let agent = h % 50;
    let ms = START_MS + (i as i64) * SPAN_MS / rows as i64;
    let happy = (h >> 8) % 100 < 80;
    NewMeasurement {
        id: Uuid::now_v7(),
        created_at: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
        survey: "smiley".into(),
        kind: ScaleKind::Smiley,
        score: smiley_score(if happy { Rating::Happy } else { Rating::Sad }),
        digits: if happy { "1" } else { "2" }.into(),
        dtmf_source: DtmfSource::Rfc4733,
        agent: Some(format!("agent{agent:02}")),
        queue: Some(format!("queue{}", agent % 4)),
        original_call_id: None,
        sip_call_id: format!("{i}@bench"),
        caller: None,
    }
}

async fn fill(store: &Store, rows: u64) -> anyhow::Result<()> {
    let have = store.satisfaction(&Filter::default()).await?.total() as u64;
    if have >= rows {
        eprintln!("reusing {have} ratings");
        return Ok(());
    }
    let started = Instant::now();
    let mut i = have;
    while i < rows {
        let n = (rows - i).min(20_000);
        let batch: Vec<NewMeasurement> = (i..i + n).map(|k| fake(k, rows)).collect();
        store.bulk_insert_measurements(&batch).await?;
        i += n;
        if i.is_multiple_of(200_000) {
            eprintln!("{i} ratings ({:.0?})", started.elapsed());
        }
    }
    store.rebuild_rollups().await?;
    store.analyze().await?;
    eprintln!("loaded {rows} ratings in {:.1?}", started.elapsed());
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    let store = Store::connect(&format!("sqlite://{}", path.display())).await?;
    fill(&store, rows).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app =
        router(ApiState::new(store.clone())).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("http://{addr}");

    let cases: &[(&str, &str)] = &[
        ("satisfaction, all time", "/api/v1/satisfaction"),
        ("satisfaction, one agent + group, all time", "/api/v1/satisfaction?agent=agent07"),
        (
            "satisfaction, 30 days with ragged edges",
            "/api/v1/satisfaction?from=2024-06-01T10:17:00Z&to=2024-07-01T15:43:00Z",
        ),
        ("agents, all time", "/api/v1/agents"),
        (
            "agents, one queue, 90 days, min_responses=100",
            "/api/v1/agents?queue=queue1&from=2024-04-01T00:00:00%2B02:00&to=2024-06-30T00:00:00%2B02:00&min_responses=100",
        ),
        (
            "timeseries, 365 local days (Europe/Berlin)",
            "/api/v1/timeseries?bucket=day&tz=Europe/Berlin&from=2024-01-01T00:00:00%2B01:00&to=2025-01-01T00:00:00%2B01:00",
        ),
        (
            "timeseries, 168 hours, one agent (America/New_York)",
            "/api/v1/timeseries?bucket=hour&tz=America/New_York&agent=agent07&from=2024-11-01T00:00:00Z&to=2024-11-08T00:00:00Z",
        ),
        (
            "timeseries, 53 weeks, one queue",
            "/api/v1/timeseries?bucket=week&queue=queue2&from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z",
        ),
        (
            "timeseries, 31 days in Asia/Kolkata (+05:30)",
            "/api/v1/timeseries?bucket=day&tz=Asia/Kolkata&from=2024-03-01T00:00:00%2B05:30&to=2024-04-01T00:00:00%2B05:30",
        ),
    ];
    println!("| request | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (name, path) in cases {
        let url = format!("{base}{path}");
        let mut times = Vec::new();
        let mut etag = String::new();
        for _ in 0..50 {
            let t = Instant::now();
            let r = client.get(&url).send().await?;
            let status = r.status();
            etag = r
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = r.bytes().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                status.is_success(),
                "{path}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            pct(&times, 0.5),
            pct(&times, 0.99),
            times[times.len() - 1]
        );
        if *name == "satisfaction, all time" {
            let mut times = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                let r = client
                    .get(&url)
                    .header("if-none-match", &etag)
                    .send()
                    .await?;
                let status = r.status();
                let _ = r.bytes().await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(
                    status == reqwest::StatusCode::NOT_MODIFIED,
                    "expected 304, got {status}"
                );
            }
            times.sort_by(f64::total_cmp);
            println!(
                "| 304 Not Modified (satisfaction, If-None-Match) | {:.2} | {:.2} | {:.2} |",
                pct(&times, 0.5),
                pct(&times, 0.99),
                times[times.len() - 1]
            );
        }
    }
    store.close().await;
    Ok(())
}
