//! Surveys on every scale, end to end: real calls (SIP and RTP over
//! loopback) answer a smiley, a CSAT and an NPS survey, and the answers and
//! figures are checked through the API. The large published sets are added
//! through the store's own insert path, next to the calls' answers.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use common::*;
use smileyd::model::DtmfSource;
use smileyd::store::{NewMeasurement, Store};
use smileyd::survey::ScaleKind;

/// Four surveys; with no `default_survey` the first by name ("csat") is
/// the default.
const SURVEYS: &str = r#"
[surveys.smiley]
kind = "smiley"

[surveys.csat]
kind = "csat"

[surveys.nps]
kind = "nps"

[surveys.service]
kind = "csat"
"#;

async fn daemon() -> Daemon {
    Daemon::with_settings(Settings {
        extra_toml: SURVEYS.into(),
        ..Settings::default()
    })
    .await
}

/// How a caller enters one key.
#[derive(Clone, Copy, Debug)]
enum Key {
    /// RFC 4733 telephone-event.
    Rtp(char),
    /// SIP INFO, application/dtmf-relay.
    Info(char),
}

/// One survey call: the survey picked by X-Survey, the keys entered after
/// the question, then the thanks and the daemon's BYE. The Call-ID.
async fn answer(d: &Daemon, survey: &str, agent: &str, keys: &[Key]) -> String {
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, agent);
    opts.queue = Some(format!("{survey}-line"));
    opts.extra_headers
        .push(("X-Survey".to_string(), survey.to_string()));
    let mut call = Call::place(d, &ua, opts, OfferKind::Baresip).await;
    call.rtp
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap_or_else(|e| panic!("{survey} {keys:?}: no question: {e}"));
    for key in keys {
        match *key {
            Key::Rtp(k) => call.press(k).await,
            Key::Info(k) => {
                call.info(
                    "application/dtmf-relay",
                    &format!("Signal={k}\r\nDuration=160\r\n"),
                )
                .await
            }
        }
    }
    call.rtp
        .wait_heard(Prompt::Thanks, 1, secs(8))
        .await
        .unwrap_or_else(|e| panic!("{survey} {keys:?}: no thanks: {e}"));
    call.expect_daemon_bye(secs(8)).await;
    let heard = call.rtp.prompts_heard();
    assert!(
        !heard.contains(&Prompt::Invalid),
        "{survey} {keys:?} was refused: heard {heard:?}"
    );
    call.assert_clean();
    call.call_id().to_string()
}

async fn get(d: &Daemon, path: &str, query: &[(&str, &str)]) -> Value {
    let (status, _, body) = d.api.get(path, query).await;
    assert_eq!(status, 200, "GET {path} {query:?}: {body}");
    body
}

/// The agent's answers, newest first, once there are `n`.
async fn answers_of(d: &Daemon, agent: &str, n: usize) -> Vec<Value> {
    let items = d.api.wait_items(agent, n, secs(5)).await;
    assert_eq!(items.len(), n, "answers of {agent}: {items:#?}");
    items
}

/// (kind, score, rating, digit, dtmf_source) of each answer, oldest first.
fn shapes(items: &[Value]) -> Vec<(String, i64, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    items
        .iter()
        .rev()
        .map(|i| {
            (
                s(&i["kind"]),
                i["score"].as_i64().unwrap_or(-1),
                s(&i["rating"]),
                s(&i["digit"]),
                s(&i["dtmf_source"]),
            )
        })
        .collect()
}

fn shape(
    kind: &str,
    score: i64,
    rating: &str,
    digit: &str,
    source: &str,
) -> (String, i64, String, String, String) {
    (
        kind.into(),
        score,
        rating.into(),
        digit.into(),
        source.into(),
    )
}

/// Close enough for a percentage computed in floating point.
fn approx(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

/// Answers added through the store's own insert path (tallies, events and
/// all), `n` of each score, at distinct recent instants.
async fn fill(store: &Store, survey: &str, kind: ScaleKind, agent: &str, spread: &[(u8, usize)]) {
    let now = chrono::Utc::now() - chrono::Duration::minutes(5);
    let mut i = 0i64;
    for &(score, n) in spread {
        for _ in 0..n {
            i += 1;
            let m = NewMeasurement {
                id: Uuid::now_v7(),
                created_at: now + chrono::Duration::milliseconds(i),
                survey: survey.into(),
                kind,
                score,
                digits: score.to_string(),
                dtmf_source: DtmfSource::Rfc4733,
                agent: Some(agent.into()),
                queue: Some(format!("{survey}-line")),
                original_call_id: None,
                sip_call_id: format!("{}@filled", Uuid::now_v7().simple()),
                caller: None,
            };
            store
                .insert_measurement(&m)
                .await
                .unwrap_or_else(|e| panic!("insert {survey} {score}: {e}"));
        }
    }
}

/// Smiley, CSAT and NPS calls in parallel, each answer checked as stored
/// and each survey's figures on its own scale; a survey a call did not
/// name gets none of its answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_into_each_kind_of_survey() {
    let d = daemon().await;
    let (smiley, csat, nps) = (agent("smiley"), agent("csat"), agent("nps"));
    use Key::*;
    let calls: Vec<(&str, &str, Vec<Key>)> = vec![
        ("smiley", &smiley, vec![Rtp('1')]),
        ("smiley", &smiley, vec![Info('2')]),
        ("csat", &csat, vec![Rtp('5')]),
        ("csat", &csat, vec![Info('4')]),
        ("csat", &csat, vec![Rtp('2')]),
        ("csat", &csat, vec![Rtp('3')]),
        // Ten is "1" then "0"; "1" alone is taken when '#' follows.
        ("nps", &nps, vec![Rtp('1'), Rtp('0')]),
        ("nps", &nps, vec![Rtp('9')]),
        ("nps", &nps, vec![Info('9')]),
        ("nps", &nps, vec![Rtp('7')]),
        ("nps", &nps, vec![Rtp('1'), Rtp('#')]),
    ];
    // Calls to one survey go one after the other, so their order is known;
    // the three surveys run side by side.
    let run = |survey: &'static str| {
        let calls = calls.clone();
        let d = &d;
        async move {
            for (s, agent, keys) in calls.iter().filter(|(s, _, _)| *s == survey) {
                answer(d, s, agent, keys).await;
            }
        }
    };
    tokio::join!(run("smiley"), run("csat"), run("nps"));

    // Each answer as the caller gave it.
    assert_eq!(
        shapes(&answers_of(&d, &smiley, 2).await),
        [
            shape("smiley", 1, "happy", "1", "rfc4733"),
            shape("smiley", 0, "sad", "2", "info"),
        ]
    );
    assert_eq!(
        shapes(&answers_of(&d, &csat, 4).await),
        [
            shape("csat", 5, "5", "5", "rfc4733"),
            shape("csat", 4, "4", "4", "info"),
            shape("csat", 2, "2", "2", "rfc4733"),
            shape("csat", 3, "3", "3", "rfc4733"),
        ]
    );
    let nps_items = answers_of(&d, &nps, 5).await;
    assert_eq!(
        shapes(&nps_items),
        [
            shape("nps", 10, "10", "10", "rfc4733"),
            shape("nps", 9, "9", "9", "rfc4733"),
            shape("nps", 9, "9", "9", "info"),
            shape("nps", 7, "7", "7", "rfc4733"),
            shape("nps", 1, "1", "1", "rfc4733"),
        ]
    );
    assert!(
        nps_items.iter().all(|i| i["survey"] == "nps"),
        "{nps_items:#?}"
    );

    // Smiley: as before, plus the distribution.
    let sat = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "smiley"), ("agent", &smiley)],
    )
    .await;
    assert_eq!(
        (
            &sat["survey"],
            &sat["kind"],
            &sat["happy"],
            &sat["sad"],
            &sat["total"]
        ),
        (
            &json!("smiley"),
            &json!("smiley"),
            &json!(1),
            &json!(1),
            &json!(2)
        ),
        "{sat}"
    );
    assert!(approx(&sat["happy_pct"], 50.0), "{sat}");
    assert_eq!(sat["distribution"], json!({"0": 1, "1": 1}), "{sat}");

    // CSAT: 5 and 4 of four answers → 50 %; one 2 → DSAT 25 %.
    let sat = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "csat"), ("agent", &csat)],
    )
    .await;
    assert_eq!(
        (&sat["kind"], &sat["total"]),
        (&json!("csat"), &json!(4)),
        "{sat}"
    );
    assert!(
        approx(&sat["csat_pct"], 50.0) && approx(&sat["dsat_pct"], 25.0),
        "{sat}"
    );
    assert_eq!(
        sat["distribution"],
        json!({"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}),
        "{sat}"
    );
    assert!(
        sat.get("happy_pct").is_none(),
        "no smiley figures on a CSAT survey: {sat}"
    );

    // NPS: promoters 10, 9, 9; passive 7; detractor 1 → 60 % − 20 % = +40.
    let sat = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "nps"), ("agent", &nps)],
    )
    .await;
    assert_eq!(
        (&sat["kind"], &sat["total"]),
        (&json!("nps"), &json!(5)),
        "{sat}"
    );
    assert!(approx(&sat["nps"], 40.0), "{sat}");
    assert_eq!(
        (&sat["promoters"], &sat["passives"], &sat["detractors"]),
        (&json!(3), &json!(1), &json!(1)),
        "{sat}"
    );
    assert_eq!(sat["distribution"]["10"], 1, "{sat}");
    assert_eq!(sat["distribution"]["1"], 1, "{sat}");

    // Figures of one survey hold none of another's answers.
    for (survey, agent) in [
        ("smiley", &csat),
        ("csat", &nps),
        ("nps", &smiley),
        ("service", &csat),
    ] {
        let sat = get(
            &d,
            "/api/v1/satisfaction",
            &[("survey", survey), ("agent", agent)],
        )
        .await;
        assert_eq!(sat["total"], 0, "{survey} for {agent}: {sat}");
    }
    // Without `survey`, the default survey (the first by name), said so.
    let sat = get(&d, "/api/v1/satisfaction", &[("agent", &csat)]).await;
    assert_eq!(
        (&sat["survey"], &sat["total"]),
        (&json!("csat"), &json!(4)),
        "{sat}"
    );

    // Every call of a survey is offered and rated there only.
    let deadline = Instant::now() + secs(5);
    let responses = loop {
        let r = get(
            &d,
            "/api/v1/responses",
            &[("survey", "nps"), ("agent", &nps)],
        )
        .await;
        if r["rated"] == 5 || Instant::now() >= deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (
            &responses["survey"],
            &responses["offered"],
            &responses["rated"]
        ),
        (&json!("nps"), &json!(5), &json!(5)),
        "{responses}"
    );
    let r = get(
        &d,
        "/api/v1/responses",
        &[("survey", "smiley"), ("agent", &nps)],
    )
    .await;
    assert_eq!(r["offered"], 0, "{r}");

    // Per agent, per queue and over time, on the survey's scale.
    let agents = get(&d, "/api/v1/agents", &[("survey", "nps")]).await;
    assert_eq!(agents["kind"], "nps");
    assert_eq!(agents["items"][0]["agent"], json!(nps), "{agents}");
    assert!(approx(&agents["items"][0]["nps"], 40.0), "{agents}");
    let queues = get(&d, "/api/v1/queues", &[("survey", "csat")]).await;
    assert_eq!(queues["items"][0]["queue"], "csat-line", "{queues}");
    assert!(approx(&queues["items"][0]["csat_pct"], 50.0), "{queues}");
    let series = get(
        &d,
        "/api/v1/timeseries",
        &[("survey", "nps"), ("agent", &nps), ("bucket", "hour")],
    )
    .await;
    let items = series["items"].as_array().cloned().unwrap_or_default();
    let total: i64 = items.iter().map(|i| i["total"].as_i64().unwrap_or(0)).sum();
    assert_eq!((&series["kind"], total), (&json!("nps"), 5), "{series}");
    // Every bucket with answers has its own NPS; empty ones have none.
    for i in &items {
        assert_eq!(i["nps"].is_null(), i["total"] == 0, "{i}");
    }

    // Listings by survey and by an answer's label.
    let (_, _, list) = d
        .api
        .get(
            "/api/v1/measurements",
            &[("survey", "nps"), ("rating", "9"), ("agent", &nps)],
        )
        .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");

    // Counted on /metrics by survey, scale and score.
    let (status, _, _) = d.api.get("/metrics", &[]).await;
    assert_eq!(status, 200);
    let text = reqwest::get(format!("{}/metrics", d.api.base))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    for line in [
        r#"smileyd_answers_total{survey="nps",kind="nps",score="10"} 1"#,
        r#"smileyd_answers_total{survey="nps",kind="nps",score="9"} 2"#,
        r#"smileyd_answers_total{survey="csat",kind="csat",score="4"} 1"#,
        r#"smileyd_ratings_total{rating="happy"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from /metrics:\n{text}");
    }
    assert!(
        text.contains("smileyd_comments_total{result=\"stored\"}"),
        "{text}"
    );
}

/// The published CSAT example (160 of 200 rate 4 or 5 → 80 %) and an NPS
/// set with a known score, added through the store next to answers from
/// real calls; the API's figures are exact for each and for their sum, and
/// a second survey on the same scale stays apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn published_figures_over_filled_sets() {
    let d = daemon().await;
    let (called, published, known) = (agent("called"), agent("published"), agent("known"));
    // Real calls first: CSAT 5 and 1, NPS 10 and 6.
    answer(&d, "csat", &called, &[Key::Rtp('5')]).await;
    answer(&d, "csat", &called, &[Key::Rtp('1')]).await;
    answer(&d, "nps", &called, &[Key::Rtp('1'), Key::Rtp('0')]).await;
    answer(&d, "nps", &called, &[Key::Info('6')]).await;

    let store = Store::connect(&d.database_url).await.expect("store");
    // 160 of 200 rate 4 or 5; 20 rate 1 or 2.
    fill(
        &store,
        "csat",
        ScaleKind::Csat,
        &published,
        &[(5, 100), (4, 60), (3, 20), (2, 12), (1, 8)],
    )
    .await;
    // 50 promoters, 30 passives, 20 detractors of 100 → NPS +30.
    fill(
        &store,
        "nps",
        ScaleKind::Nps,
        &known,
        &[(10, 25), (9, 25), (8, 15), (7, 15), (6, 10), (0, 10)],
    )
    .await;
    // The same agent on another CSAT survey: all 1s, counted there only.
    fill(&store, "service", ScaleKind::Csat, &published, &[(1, 10)]).await;
    store.close().await;

    let sat = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "csat"), ("agent", &published)],
    )
    .await;
    assert_eq!(
        (&sat["total"], &sat["csat_pct"]),
        (&json!(200), &json!(80.0)),
        "{sat}"
    );
    assert!(approx(&sat["dsat_pct"], 10.0), "{sat}");
    assert_eq!(
        sat["distribution"],
        json!({"1": 8, "2": 12, "3": 20, "4": 60, "5": 100}),
        "{sat}"
    );
    // The group: the called agent's 5 and 1 too, 161 of 202.
    assert_eq!(sat["group"]["total"], 202, "{sat}");
    assert!(
        approx(&sat["group"]["csat_pct"], 161.0 * 100.0 / 202.0),
        "{sat}"
    );
    let other = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "service"), ("agent", &published)],
    )
    .await;
    assert_eq!(
        (&other["total"], &other["csat_pct"], &other["dsat_pct"]),
        (&json!(10), &json!(0.0), &json!(100.0)),
        "{other}"
    );

    let sat = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "nps"), ("agent", &known)],
    )
    .await;
    assert_eq!(
        (&sat["total"], &sat["nps"]),
        (&json!(100), &json!(30.0)),
        "{sat}"
    );
    assert_eq!(
        (&sat["promoters"], &sat["passives"], &sat["detractors"]),
        (&json!(50), &json!(30), &json!(20)),
        "{sat}"
    );
    // With the calls' 10 and 6: 51 promoters, 21 detractors of 102.
    let all = &sat["group"];
    assert_eq!(all["total"], 102, "{sat}");
    assert!(approx(&all["nps"], (51.0 - 21.0) * 100.0 / 102.0), "{sat}");
    let called_nps = get(
        &d,
        "/api/v1/satisfaction",
        &[("survey", "nps"), ("agent", &called)],
    )
    .await;
    assert_eq!(
        (&called_nps["total"], &called_nps["nps"]),
        (&json!(2), &json!(0.0)),
        "{called_nps}"
    );

    // League tables rank on the scale: CSAT 80 % before 50 %; NPS +30 before 0.
    let agents = get(&d, "/api/v1/agents", &[("survey", "csat")]).await;
    let order: Vec<&Value> = agents["items"]
        .as_array()
        .map(|a| a.iter().map(|i| &i["agent"]).collect())
        .unwrap_or_default();
    assert_eq!(order, [&json!(published), &json!(called)], "{agents}");
    let agents = get(
        &d,
        "/api/v1/agents",
        &[("survey", "nps"), ("min_responses", "3")],
    )
    .await;
    let order: Vec<&Value> = agents["items"]
        .as_array()
        .map(|a| a.iter().map(|i| &i["agent"]).collect())
        .unwrap_or_default();
    assert_eq!(order, [&json!(known)], "{agents}");

    // The surveys the daemon runs, with their scales.
    let surveys = get(&d, "/api/v1/surveys", &[]).await;
    assert_eq!(surveys["default_survey"], "csat", "{surveys}");
    let kinds: Vec<(Value, Value)> = surveys["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| (i["name"].clone(), i["kind"].clone()))
                .collect()
        })
        .unwrap_or_default();
    for (name, kind) in [
        ("smiley", "smiley"),
        ("csat", "csat"),
        ("nps", "nps"),
        ("service", "csat"),
    ] {
        assert!(
            kinds.contains(&(json!(name), json!(kind))),
            "{name}: {surveys}"
        );
    }
    // An unknown survey is a 404 that names the parameter.
    let (status, _, body) = d
        .api
        .get("/api/v1/satisfaction", &[("survey", "nope")])
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("survey:"),
        "{body}"
    );
}
