//! Fills a SQLite database the way a busy call centre's looks after a year,
//! for the dashboard's speed measurements (bench/dashboard.sh, BENCHMARKS.md
//! "Dashboard on 1,000,000 measurements").
//!
//! cargo run --release --example dashboard-fill -- DB_PATH [ROWS]
//!
//! ROWS answers (default 1,000,000) over the 365 days up to now, so that the
//! dashboard's windows (today, 7 and 30 days and the periods before) all
//! hold data: 80 % in the survey "smiley" (80 % happy), 20 % in "csat"
//! (scores 1–5), 50 agents in 4 queues. Every answer has its call record
//! ("rated"), and for one answer in five a call ended without one (no input,
//! hung up, failed, media timeout), so the response-rate card counts
//! 1,200,000 calls. One "smiley" answer in twenty of the last 60 days has a
//! recorded comment (the same 4 s WAV file, `bench-comment.wav` beside the
//! database: the comment pages play it), and most unhappy comments older
//! than three days are followed up; "csat" has none, like a survey with
//! comment = "never", the worst case for the comments inbox. Answers go in through the store's bulk path with
//! the tallies rebuilt once; calls, comments and follow-ups by multi-row
//! INSERTs on a second connection, since the store has no bulk path for
//! them. An existing file with enough answers is left as it is.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use smileyd::model::{DtmfSource, Rating, ScaleKind};
use smileyd::store::{smiley_score, Filter, NewMeasurement, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

const DAY_MS: i64 = 86_400_000;
const SPAN_MS: i64 = 365 * DAY_MS;
/// Comments are only in the last 60 days: retention (90 days by default)
/// would erase older audio, and the shared file with it.
const COMMENT_SPAN_MS: i64 = 60 * DAY_MS;
const COMMENT_FILE: &str = "bench-comment.wav";
const COMMENT_SECS: u32 = 4;
const BATCH: u64 = 20_000;
/// SQLite allows 32,766 bound values per statement.
const ROWS_PER_INSERT: usize = 3_000;

/// What one answer looks like, derived from its index alone so that a run
/// is repeatable.
struct Fake {
    m: NewMeasurement,
    ms: i64,
    comment: bool,
    /// An extra call without an answer placed just before this one.
    unanswered: Option<&'static str>,
    /// Three in four unhappy comments older than three days are followed up.
    handled: bool,
}

fn fake(i: u64, rows: u64, end_ms: i64) -> Fake {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let agent = h % 50;
    // Oldest first; the newest a minute before now.
    let ms = end_ms - 60_000 - SPAN_MS + (i as i64) * SPAN_MS / rows as i64;
    let roll = (h >> 8) % 100;
    let csat = (h >> 16).is_multiple_of(5);
    let (survey, kind, score, digits) = if csat {
        // 1: 5 %, 2: 7 %, 3: 13 %, 4: 35 %, 5: 40 %.
        let score = match roll {
            0..5 => 1u8,
            5..12 => 2,
            12..25 => 3,
            25..60 => 4,
            _ => 5,
        };
        ("csat", ScaleKind::Csat, score, score.to_string())
    } else {
        let rating = if roll < 80 {
            Rating::Happy
        } else {
            Rating::Sad
        };
        let digit = if rating == Rating::Happy { "1" } else { "2" };
        (
            "smiley",
            ScaleKind::Smiley,
            smiley_score(rating),
            digit.into(),
        )
    };
    let unhappy = match kind {
        ScaleKind::Smiley => score == 0,
        ScaleKind::Csat => score <= 2,
        ScaleKind::Nps => score <= 6,
    };
    let comment = !csat && ms > end_ms - COMMENT_SPAN_MS && (h >> 24).is_multiple_of(20);
    let unanswered = match (h >> 32) % 20 {
        0 | 1 => Some("no_input"),
        2 => Some("hung_up"),
        3 => Some(if (h >> 40).is_multiple_of(4) {
            "failed"
        } else {
            "media_timeout"
        }),
        _ => None,
    };
    Fake {
        m: NewMeasurement {
            id: Uuid::now_v7(),
            created_at: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
            survey: survey.into(),
            kind,
            score,
            digits,
            dtmf_source: DtmfSource::Rfc4733,
            agent: Some(format!("agent{agent:02}")),
            queue: Some(format!("queue{}", agent % 4)),
            original_call_id: None,
            sip_call_id: format!("{i}@bench"),
            caller: Some(format!("+4687{:06}", h % 1_000_000)),
        },
        ms,
        comment,
        unanswered,
        handled: unhappy && ms < end_ms - 3 * DAY_MS && !(h >> 44).is_multiple_of(4),
    }
}

/// A call record: (started_at, survey, agent, queue, outcome, measurement).
type CallRow<'a> = (i64, &'a str, &'a str, &'a str, &'static str, Option<String>);

async fn insert_calls(tx: &mut sqlx::SqliteConnection, rows: &[CallRow<'_>]) -> anyhow::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO calls (id, sip_call_id, started_at, ended_at, survey, agent, queue, \
             caller, outcome, measurement_id) ",
        );
        q.push_values(chunk, |mut b, (ms, survey, agent, queue, outcome, mid)| {
            let id = Uuid::now_v7().to_string();
            b.push_bind(id.clone())
                .push_bind(format!("{id}@bench"))
                .push_bind(*ms - 20_000)
                .push_bind(*ms + 2_000)
                .push_bind(*survey)
                .push_bind(*agent)
                .push_bind(*queue)
                .push_bind(None::<String>)
                .push_bind(*outcome)
                .push_bind(mid.clone());
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// A 4 s, 8 kHz mono recording: a quiet 300 Hz hum, enough for a player
/// to load, show its length and seek.
fn write_comment_wav(path: &Path) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for n in 0..8000 * COMMENT_SECS {
        let v =
            (2000.0 * (2.0 * std::f64::consts::PI * 300.0 * f64::from(n) / 8000.0).sin()) as i16;
        w.write_sample(v)?;
    }
    w.finalize()?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: dashboard-fill DB_PATH [ROWS]"))?,
    );
    let rows: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let wav = path.with_file_name(COMMENT_FILE);
    if !wav.exists() {
        write_comment_wav(&wav)?;
    }

    let store = Store::connect(&format!("sqlite://{}", path.display())).await?;
    let have = store.satisfaction(&Filter::default()).await?.total() as u64;
    if have >= rows {
        eprintln!("{} already holds {have} answers", path.display());
        store.close().await;
        return Ok(());
    }
    anyhow::ensure!(
        have == 0,
        "{} holds {have} answers, not {rows}: start from a fresh file",
        path.display()
    );
    let raw = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .busy_timeout(std::time::Duration::from_secs(30)),
        )
        .await?;

    let started = Instant::now();
    let end_ms = Utc::now().timestamp_millis();
    let (mut comments, mut follow_ups, mut calls) = (0u64, 0u64, 0u64);
    let mut i = 0;
    while i < rows {
        let n = (rows - i).min(BATCH);
        let batch: Vec<Fake> = (i..i + n).map(|k| fake(k, rows, end_ms)).collect();
        let answers: Vec<NewMeasurement> = batch.iter().map(|f| f.m.clone()).collect();
        store.bulk_insert_measurements(&answers).await?;

        let mut tx = raw.begin().await?;
        let mut call_rows: Vec<CallRow> = Vec::with_capacity(batch.len() * 6 / 5);
        for f in &batch {
            let (agent, queue) = (
                f.m.agent.as_deref().unwrap_or(""),
                f.m.queue.as_deref().unwrap_or(""),
            );
            if let Some(outcome) = f.unanswered {
                call_rows.push((f.ms - 60_000, &f.m.survey, agent, queue, outcome, None));
            }
            call_rows.push((
                f.ms,
                &f.m.survey,
                agent,
                queue,
                "rated",
                Some(f.m.id.to_string()),
            ));
        }
        calls += call_rows.len() as u64;
        insert_calls(&mut tx, &call_rows).await?;

        let with_comment: Vec<&Fake> = batch.iter().filter(|f| f.comment).collect();
        for chunk in with_comment.chunks(ROWS_PER_INSERT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO comments (measurement_id, created_at, file_name, duration_ms, \
                 size_bytes, status) ",
            );
            q.push_values(chunk, |mut b, f| {
                b.push_bind(f.m.id.to_string())
                    .push_bind(f.ms + 8_000)
                    .push_bind(COMMENT_FILE)
                    .push_bind(i64::from(COMMENT_SECS) * 1000)
                    .push_bind(44 + i64::from(COMMENT_SECS) * 16_000)
                    .push_bind("silence");
            });
            q.build().execute(&mut *tx).await?;
        }
        comments += with_comment.len() as u64;
        let handled: Vec<&&Fake> = with_comment.iter().filter(|f| f.handled).collect();
        for chunk in handled.chunks(ROWS_PER_INSERT) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO follow_ups (measurement_id, created_at, via, by_name, note) ",
            );
            q.push_values(chunk, |mut b, f| {
                b.push_bind(f.m.id.to_string())
                    .push_bind(f.ms + DAY_MS)
                    .push_bind("token")
                    .push_bind("lead-bench")
                    .push_bind("Called back");
            });
            q.build().execute(&mut *tx).await?;
        }
        follow_ups += handled.len() as u64;
        tx.commit().await?;

        i += n;
        if i.is_multiple_of(200_000) {
            eprintln!("{i} answers ({:.0?})", started.elapsed());
        }
    }
    raw.close().await;
    store.rebuild_rollups().await?;
    store.analyze().await?;
    store.close().await;
    eprintln!(
        "{} answers, {calls} calls, {comments} comments, {follow_ups} follow-ups in {:.1?}",
        rows,
        started.elapsed()
    );
    Ok(())
}
