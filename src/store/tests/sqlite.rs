//! SQLite specifics: the file's durable settings, what another process sees,
//! in-memory databases, refused URLs, and WAL checkpoints kept off the commit path.

use super::*;

#[tokio::test]
async fn sqlite_file_is_created_with_durable_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub-less.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("open");
    assert!(path.exists(), "file created on first start");
    assert_eq!(store.backend(), Backend::Sqlite);

    let mut conn = store.pool.acquire().await.expect("conn");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
    // 2 = FULL: the WAL is synced on every commit.
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .expect("synchronous");
    assert_eq!(sync, 2);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .expect("busy_timeout");
    assert!(busy >= 1000, "busy_timeout {busy}");
    drop(conn);

    let m = rating(Some("ann"), Rating::Happy, T0);
    store.insert_measurement(&m).await.expect("insert");
    store.close().await;

    // Reopening applies no migration twice and finds the committed row.
    let again = Store::connect(&url).await.expect("reopen");
    assert!(again
        .get_measurement(&m.id.to_string())
        .await
        .expect("get")
        .is_some());
}

#[tokio::test]
async fn committed_rating_is_visible_to_another_process_view() {
    // A second, independent pool stands in for another process: what
    // insert_measurement acknowledged must already be in the file.
    let db = TempSqlite::new().await;
    let other = Store::connect(&db.url).await.expect("second pool");
    let m = rating(Some("ann"), Rating::Sad, T0);
    db.store.insert_measurement(&m).await.expect("insert");
    assert_eq!(
        other.get_measurement(&m.id.to_string()).await.expect("get"),
        db.store
            .get_measurement(&m.id.to_string())
            .await
            .expect("get")
    );
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.expect("open");
    store
        .insert_measurement(&rating(None, Rating::Happy, T0))
        .await
        .expect("insert");
    assert_eq!(
        store
            .satisfaction(&Filter::default())
            .await
            .expect("counts"),
        Counts::smiley(1, 0)
    );
}

/// The group-commit writer keeps a connection of its own only when the pool
/// has room for the rest: with one connection (in memory, or `pool_size =
/// 1`) a read right after a grouped write must not wait for it.
#[tokio::test]
async fn grouped_writes_leave_a_small_pool_to_the_readers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = format!("sqlite://{}", dir.path().join("one.db").display());
    for url in ["sqlite::memory:", file.as_str()] {
        let opts = ConnectOptions {
            pool_size: Some(1),
            statement_timeout: None,
        };
        let store = Store::connect_with(url, &opts).await.expect("open");
        for i in 0..3 {
            let m = rating(None, Rating::Happy, T0 + i);
            store
                .write_grouped(Grouped::Measurement(m))
                .await
                .expect("grouped write");
            let counts = tokio::time::timeout(
                Duration::from_secs(2),
                store.satisfaction(&Filter::default()),
            )
            .await
            .unwrap_or_else(|_| panic!("{url}: a read waited for the writer's connection"))
            .expect("counts");
            assert_eq!(counts, Counts::smiley(i + 1, 0), "{url}");
        }
    }
}

#[tokio::test]
async fn unsupported_url_is_an_error() {
    let err = Store::connect("mysql://u:secret@h/db")
        .await
        .expect_err("rejected");
    assert!(matches!(err, StoreError::UnsupportedUrl(_)));
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn commits_never_checkpoint_and_the_background_task_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wal.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("open");
    let mut conn = store.pool.acquire().await.expect("conn");
    let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(&mut *conn)
        .await
        .expect("wal_autocheckpoint");
    assert_eq!(auto, 0, "a commit must not checkpoint");
    drop(conn);
    // Let the task copy the migrations over, then write well past the
    // 1000 pages at which SQLite would checkpoint by itself.
    tokio::time::sleep(checkpoint::CHECKPOINT_EVERY * 3).await;
    let before = std::fs::metadata(&path).expect("db").len();
    for i in 0..600 {
        let agent = format!("agent-{i}");
        let m = rating(Some(&agent), Rating::Happy, T0 + i64::from(i) * 3_600_000);
        store.insert_measurement(&m).await.expect("insert");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).expect("db").len();
        if now > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file never grew ({before} bytes): nothing checkpointed the WAL"
        );
        tokio::time::sleep(checkpoint::CHECKPOINT_EVERY).await;
    }
}
