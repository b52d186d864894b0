//! A small client for the daemon's HTTP API.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .no_proxy()
                .build()
                .unwrap(),
        }
    }

    /// Status code of a GET, or None when the connection failed.
    pub async fn status(&self, path: &str) -> Option<u16> {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// GET with query parameters: (status, content-type, JSON body or Null).
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, String, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} {query:?}: {e}"));
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, ct, v)
    }

    async fn get_ok(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (s, _, v) = self.get(path, query).await;
        assert_eq!(s, 200, "GET {path} {query:?} → {s}: {v}");
        v
    }

    pub async fn measurements(&self, agent: &str) -> Value {
        self.get_ok("/api/v1/measurements", &[("agent", agent)])
            .await
    }

    pub async fn satisfaction(&self, agent: &str) -> Value {
        self.get_ok("/api/v1/satisfaction", &[("agent", agent)])
            .await
    }

    pub async fn responses(&self, agent: &str) -> Value {
        self.get_ok("/api/v1/responses", &[("agent", agent)]).await
    }

    /// Items of /measurements for `agent`, waiting up to `timeout` until
    /// there are at least `n` (the write may land just after the BYE).
    pub async fn wait_items(&self, agent: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.measurements(agent).await;
            let items = v["items"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| panic!("no items array in {v}"));
            if items.len() >= n || Instant::now() >= deadline {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// /responses for `agent` once `field` reaches `want` (or the timeout).
    pub async fn wait_responses(
        &self,
        agent: &str,
        field: &str,
        want: i64,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.responses(agent).await;
            if num(&v[field]) >= want as f64 || Instant::now() >= deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A JSON number as f64 (NaN when absent).
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}
