//! Databases written by older schemas keep their figures after the upgrade.

use super::*;

/// A database written by the smiley-only schema (migrations 0001–0003)
/// keeps its figures after the upgrade: its ratings are recounted into the
/// per-survey tallies, as smiley answers of their survey.
async fn upgrade_recounts_smiley_ratings(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    let all = sqlx::migrate!("./migrations");
    let old = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version <= 3)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate!("./migrations")
    };
    old.run(&pool).await.expect("old schema");
    // Rows as the smiley-only code wrote them: two happy, one sad for ann
    // an hour apart, one sad without an agent.
    for (i, (agent, rating, ms)) in [
        (Some("ann"), "happy", T0),
        (Some("ann"), "happy", T0 + 3_600_000),
        (Some("ann"), "sad", T0 + 3_600_000),
        (None, "sad", T0 + 86_400_000),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO measurements (id, created_at, survey, kind, score, rating, digit, \
             dtmf_source, agent, queue, original_call_id, sip_call_id, caller) \
             VALUES ($1, $2, 'smiley', 'smiley', $3, $4, $5, 'rfc4733', $6, 'support', NULL, $7, NULL)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(ms)
        .bind(i64::from(rating == "happy"))
        .bind(rating)
        .bind(if rating == "happy" { "1" } else { "2" })
        .bind(agent)
        .bind(format!("old-{i}@pbx"))
        .execute(&pool)
        .await
        .expect("old row");
    }
    pool.close().await;

    let store = Store::connect(url).await.expect("upgrade");
    let smiley = Filter {
        survey: Some("smiley".into()),
        kind: Some(ScaleKind::Smiley),
        ..Filter::default()
    };
    assert_eq!(
        store.satisfaction(&smiley).await.expect("counts"),
        Counts::smiley(2, 2)
    );
    let per = store.per_agent(&smiley).await.expect("per agent");
    assert_eq!(per[0], (Some("ann".into()), Counts::smiley(2, 1)));
    // Whole days and hours come from the recounted tallies.
    let day = Filter {
        from: Some(at(T0 - 12 * 3_600_000)),
        to: Some(at(T0 + 12 * 3_600_000)),
        ..smiley.clone()
    };
    assert_eq!(
        store.satisfaction(&day).await.expect("counts"),
        Counts::smiley(2, 1)
    );
    let listed = store
        .list_measurements(&smiley, 10, None)
        .await
        .expect("list")
        .0;
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|m| m.kind == ScaleKind::Smiley));
    // New answers go on counting where the old ones left off.
    insert_many(&store, Some("ann"), Rating::Happy, 1, T0).await;
    assert_eq!(
        store.satisfaction(&smiley).await.expect("counts"),
        Counts::smiley(3, 2)
    );
}

#[tokio::test]
async fn upgrade_from_smiley_only_schema_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    upgrade_recounts_smiley_ratings(&url).await;
}

#[tokio::test]
async fn upgrade_from_smiley_only_schema_postgres() {
    let Some((admin, db)) = create_pg_database("the upgrade test").await else {
        return;
    };
    let url = format!("{}/{db}", pg_base());
    // Not spawned (sqlx's Acquire futures are not Send enough for that):
    // a panic is caught here so the database is dropped either way.
    let r = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        upgrade_recounts_smiley_ratings(&url),
    ))
    .await;
    drop_pg_database(admin, &db, r).await;
}
