//! Figures per survey and scale: CSAT and NPS read off the distribution of
//! answers, every survey counted on its own, the default survey when none is
//! named, and the survey a request resolved to in every answer.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{serve, Server};
use crate::api::{ApiState, SurveyCatalog, SurveysHandle};
use crate::model::DtmfSource;
use crate::store::tests::{at, T0};
use crate::store::NewMeasurement;
use crate::survey::ScaleKind;

fn catalog() -> SurveyCatalog {
    SurveyCatalog {
        default_survey: "smiley".into(),
        surveys: vec![
            ("smiley".into(), ScaleKind::Smiley),
            ("after-sales".into(), ScaleKind::Csat),
            ("nps".into(), ScaleKind::Nps),
        ],
    }
}

async fn start() -> (Server, SurveysHandle) {
    let surveys = SurveysHandle::new(catalog());
    let handle = surveys.clone();
    let s = serve(move |store| ApiState::new(store).with_surveys(handle)).await;
    (s, surveys)
}

fn answer(
    survey: &str,
    kind: ScaleKind,
    score: u8,
    agent: &str,
    queue: &str,
    ms: i64,
) -> NewMeasurement {
    NewMeasurement {
        id: Uuid::now_v7(),
        created_at: at(ms),
        survey: survey.into(),
        kind,
        score,
        digits: score.to_string(),
        dtmf_source: DtmfSource::Rfc4733,
        agent: Some(agent.into()),
        queue: Some(queue.into()),
        original_call_id: None,
        sip_call_id: format!("{}@pbx", Uuid::now_v7().simple()),
        caller: None,
    }
}

async fn insert(s: &Server, m: &NewMeasurement) {
    s.store().insert_measurement(m).await.expect("insert");
}

async fn get_ok(s: &Server, path: &str) -> Value {
    let (status, body) = s.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn csat_is_the_share_of_fours_and_fives() {
    let (s, _) = start().await;
    // The published example: 160 of 200 rate 4 or 5 → 80 %; 20 rate 1 or 2 → 10 % DSAT.
    let spread = [(5u8, 100), (4, 60), (3, 20), (2, 12), (1, 8)];
    for (score, n) in spread {
        for i in 0..n {
            insert(
                &s,
                &answer(
                    "after-sales",
                    ScaleKind::Csat,
                    score,
                    "ann",
                    "support",
                    T0 + i,
                ),
            )
            .await;
        }
    }
    // Another survey's answers, on another scale and on the same one, change nothing.
    insert(
        &s,
        &answer("smiley", ScaleKind::Smiley, 0, "ann", "support", T0),
    )
    .await;
    insert(&s, &answer("nps", ScaleKind::Nps, 5, "ann", "support", T0)).await;
    let body = get_ok(&s, "/api/v1/satisfaction?survey=after-sales").await;
    assert_eq!(
        body,
        json!({
            "survey": "after-sales", "kind": "csat", "total": 200,
            "csat_pct": 80.0, "dsat_pct": 10.0,
            "distribution": {"1": 8, "2": 12, "3": 20, "4": 60, "5": 100},
        })
    );
    // Any spelling of a configured name; the answer names it as configured.
    let body = get_ok(&s, "/api/v1/satisfaction?survey=AFTER-SALES&agent=ann").await;
    assert_eq!(body["survey"], "after-sales");
    assert_eq!(body["csat_pct"], 80.0);
    assert_eq!(body["group"]["total"], 200);
    // The default survey when none is named, and said so.
    let body = get_ok(&s, "/api/v1/satisfaction").await;
    assert_eq!(
        (&body["survey"], &body["kind"], &body["total"]),
        (&json!("smiley"), &json!("smiley"), &json!(1))
    );
    assert_eq!(body["happy_pct"], 0.0);
    let body = get_ok(
        &s,
        "/api/v1/satisfaction?survey=after-sales&from=2024-11-23T13:00:00Z",
    )
    .await;
    assert_eq!(body["csat_pct"], Value::Null);
    assert_eq!(body["distribution"]["5"], 0);
}

#[tokio::test]
async fn nps_is_promoters_minus_detractors() {
    let (s, _) = start().await;
    // 5 promoters, 2 passives, 3 detractors of 10: 50 % − 30 % = +20.
    for score in [10u8, 10, 9, 9, 9, 8, 7, 6, 3, 0] {
        insert(
            &s,
            &answer("nps", ScaleKind::Nps, score, "ann", "sales", T0),
        )
        .await;
    }
    // bob: only detractors, −100; cat: only promoters, +100.
    for score in [0u8, 6] {
        insert(
            &s,
            &answer("nps", ScaleKind::Nps, score, "bob", "support", T0),
        )
        .await;
    }
    insert(&s, &answer("nps", ScaleKind::Nps, 10, "cat", "support", T0)).await;
    let body = get_ok(&s, "/api/v1/satisfaction?survey=nps&agent=ann").await;
    assert_eq!(body["kind"], "nps");
    assert_eq!(body["nps"], 20.0);
    assert_eq!(
        (&body["promoters"], &body["passives"], &body["detractors"]),
        (&json!(5), &json!(2), &json!(3))
    );
    assert_eq!(
        body["distribution"],
        json!({"0": 1, "1": 0, "2": 0, "3": 1, "4": 0, "5": 0, "6": 1, "7": 1, "8": 1, "9": 3, "10": 2})
    );
    // Keys in score order, 10 last (not sorted as text).
    let text = s
        .raw(
            reqwest::Method::GET,
            "/api/v1/satisfaction?survey=nps&agent=ann",
            &[],
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        text.contains(
            r#""distribution":{"0":1,"1":0,"2":0,"3":1,"4":0,"5":0,"6":1,"7":1,"8":1,"9":3,"10":2}"#
        ),
        "{text}"
    );
    // Group: 6 promoters, 2 passives, 5 detractors of 13.
    let want = (6.0 - 5.0) * 100.0 / 13.0;
    assert!(
        (body["group"]["nps"].as_f64().unwrap_or(f64::NAN) - want).abs() < 1e-9,
        "{body}"
    );

    // Ranked by NPS: cat +100, ann +20, bob −100.
    let body = get_ok(&s, "/api/v1/agents?survey=nps").await;
    assert_eq!(
        (&body["survey"], &body["kind"]),
        (&json!("nps"), &json!("nps"))
    );
    let rows: Vec<(Value, Value)> = body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| (i["agent"].clone(), i["nps"].clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rows,
        [
            (json!("cat"), json!(100.0)),
            (json!("ann"), json!(20.0)),
            (json!("bob"), json!(-100.0))
        ]
    );
    // Per queue: support (bob and cat: 1 promoter, 2 detractors of 3), sales (ann).
    let body = get_ok(&s, "/api/v1/queues?survey=nps").await;
    let rows: Vec<(Value, Value)> = body["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| (i["queue"].clone(), i["total"].clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rows,
        [(json!("sales"), json!(10)), (json!("support"), json!(3))]
    );
    let body = get_ok(&s, "/api/v1/queues?survey=nps&agent=bob").await;
    assert_eq!(body["items"][0]["nps"], -100.0);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn surveys_are_never_mixed() {
    let (s, surveys) = start().await;
    // Two surveys on the same scale, same agent and hour.
    let csat_too = SurveyCatalog {
        surveys: vec![
            ("smiley".into(), ScaleKind::Smiley),
            ("after-sales".into(), ScaleKind::Csat),
            ("onboarding".into(), ScaleKind::Csat),
        ],
        ..catalog()
    };
    surveys.set(csat_too);
    for _ in 0..3 {
        insert(
            &s,
            &answer("after-sales", ScaleKind::Csat, 5, "ann", "support", T0),
        )
        .await;
    }
    insert(
        &s,
        &answer("onboarding", ScaleKind::Csat, 1, "ann", "support", T0 + 1),
    )
    .await;
    insert(
        &s,
        &answer("smiley", ScaleKind::Smiley, 1, "ann", "support", T0 + 2),
    )
    .await;
    let a = get_ok(&s, "/api/v1/satisfaction?survey=after-sales").await;
    let b = get_ok(&s, "/api/v1/satisfaction?survey=onboarding").await;
    assert_eq!((&a["total"], &a["csat_pct"]), (&json!(3), &json!(100.0)));
    assert_eq!(
        (&b["total"], &b["csat_pct"], &b["dsat_pct"]),
        (&json!(1), &json!(0.0), &json!(100.0))
    );
    let agents = get_ok(&s, "/api/v1/agents?survey=onboarding").await;
    assert_eq!(agents["items"][0]["total"], 1);
    let series = get_ok(
        &s,
        "/api/v1/timeseries?survey=after-sales&bucket=hour&from=2024-11-23T11:00:00Z&to=2024-11-23T14:00:00Z",
    )
    .await;
    assert_eq!(
        (&series["survey"], &series["kind"]),
        (&json!("after-sales"), &json!("csat"))
    );
    let totals: Vec<Value> = series["items"]
        .as_array()
        .map(|a| a.iter().map(|i| i["total"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(totals, [json!(0), json!(3), json!(0)]);
    assert_eq!(series["items"][1]["csat_pct"], 100.0);
    assert_eq!(series["items"][0]["csat_pct"], Value::Null);

    // Listing by survey and by an answer's label.
    let list = get_ok(&s, "/api/v1/measurements?survey=onboarding").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let item = &list["items"][0];
    assert_eq!(
        (
            &item["kind"],
            &item["score"],
            &item["rating"],
            &item["digit"]
        ),
        (&json!("csat"), &json!(1), &json!("1"), &json!("1"))
    );
    let list = get_ok(&s, "/api/v1/measurements?rating=5").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
    let list = get_ok(&s, "/api/v1/measurements?rating=happy").await;
    assert_eq!(list["items"][0]["kind"], "smiley");
    let (status, body) = s.get("/api/v1/measurements?rating=11").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The surveys the daemon runs.
    let body = get_ok(&s, "/api/v1/surveys").await;
    assert_eq!(body["default_survey"], "smiley");
    assert_eq!(
        body["items"][2],
        json!({"name": "onboarding", "kind": "csat", "default": false})
    );

    // A survey dropped from the configuration is still found by its answers.
    surveys.set(catalog());
    let b = get_ok(&s, "/api/v1/satisfaction?survey=onboarding").await;
    assert_eq!((&b["kind"], &b["total"]), (&json!("csat"), &json!(1)));
    // A name never configured nor answered is not found, naming the parameter.
    let (status, body) = s.get("/api/v1/satisfaction?survey=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "unknown_survey");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("survey: "),
        "{body}"
    );
}

/// A survey whose scale was changed keeps the old answers out of the new
/// figures, and the ETag follows the configuration, not only the data.
#[tokio::test]
async fn a_new_scale_starts_a_new_series() {
    let (s, surveys) = start().await;
    insert(
        &s,
        &answer("after-sales", ScaleKind::Csat, 5, "ann", "support", T0),
    )
    .await;
    let before = s
        .raw(
            reqwest::Method::GET,
            "/api/v1/satisfaction?survey=after-sales",
            &[],
        )
        .await;
    let tag = before
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    surveys.set(SurveyCatalog {
        surveys: vec![
            ("smiley".into(), ScaleKind::Smiley),
            ("after-sales".into(), ScaleKind::Nps),
        ],
        ..catalog()
    });
    let after = s
        .raw(
            reqwest::Method::GET,
            "/api/v1/satisfaction?survey=after-sales",
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "a new scale is a new answer"
    );
    let body: Value = after.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (&body["kind"], &body["total"], &body["nps"]),
        (&json!("nps"), &json!(0), &Value::Null)
    );
}

/// Large sets through the bulk path: the tallies rebuilt from the answers
/// give the same figures as the per-answer path.
#[tokio::test]
async fn bulk_loaded_answers_count_the_same() {
    let (s, _) = start().await;
    let mut items = Vec::new();
    for i in 0..1000i64 {
        let score = (i % 11) as u8;
        items.push(answer(
            "nps",
            ScaleKind::Nps,
            score,
            if i % 2 == 0 { "ann" } else { "bob" },
            "q",
            T0 + i * 60_000,
        ));
    }
    s.store()
        .bulk_insert_measurements(&items)
        .await
        .expect("bulk");
    s.store().rebuild_rollups().await.expect("rebuild");
    let body = get_ok(&s, "/api/v1/satisfaction?survey=nps").await;
    assert_eq!(body["total"], 1000);
    let count = |lo: i64, hi: i64| {
        (0..1000i64)
            .filter(|i| (lo..=hi).contains(&(i % 11)))
            .count() as f64
    };
    let want = (count(9, 10) - count(0, 6)) * 100.0 / 1000.0;
    assert!(
        (body["nps"].as_f64().unwrap_or(f64::NAN) - want).abs() < 1e-9,
        "{body} vs {want}"
    );
    // A score off the scale is refused before anything is written.
    let bad = answer("after-sales", ScaleKind::Csat, 0, "ann", "q", T0);
    assert!(s
        .store()
        .bulk_insert_measurements(std::slice::from_ref(&bad))
        .await
        .is_err());
    assert!(s.store().insert_measurement(&bad).await.is_err());
}
