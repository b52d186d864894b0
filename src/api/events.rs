//! GET /api/v1/events: every new measurement and comment as it is committed.
//! With `Accept: text/event-stream` it is a Server-Sent Events stream that
//! resumes after `Last-Event-ID`; otherwise one JSON page of the events after
//! `after`, for clients that poll.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::header::ACCEPT;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::watch;

use super::error::{ApiError, ErrorJson};
use super::etag::{request_key, Tag};
use super::event_json::{event_json, EventJson};
use super::params::Params;
use super::state::ApiState;
use crate::store::Store;

/// How often a stream looks for events written by other daemons.
const POLL: Duration = Duration::from_millis(300);

/// Events fetched per query.
const BATCH: u32 = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPageJson {
    pub items: Vec<EventJson>,
    /// Pass as `after` for the next page (also when `items` is empty).
    pub last_event_id: i64,
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

fn parse_id(name: &str, v: &str) -> Result<i64, ApiError> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid(name, "not an event id (a non-negative integer)"))
}

/// New measurements and comments, live or by page.
#[utoipa::path(
    get,
    operation_id = "list_events",
    path = "/api/v1/events",
    tag = "events",
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Only events after this id (default: from now on for streams, from the start for pages)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size (JSON only), default 100"),
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "SSE resume: replays every event after this id, then goes live"),
    ),
    responses(
        (status = 200, description = "A page of events (JSON) or, with Accept: text/event-stream, an endless SSE stream whose events carry id, event (the type) and data (the same JSON as a page item)",
            content((EventsPageJson = "application/json"), (String = "text/event-stream"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let params = params.only(&["after", "limit"])?;
    let mut after = params
        .get("after")
        .map(|v| parse_id("after", v))
        .transpose()?;
    if let Some(v) = headers.get("last-event-id") {
        let v = v
            .to_str()
            .map_err(|_| ApiError::invalid("Last-Event-ID", "not an event id"))?;
        if !v.trim().is_empty() {
            after = Some(parse_id("Last-Event-ID", v)?);
        }
    }
    if wants_stream(&headers) {
        // Held by the stream until the client goes away.
        let slot = state
            .event_streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::too_many_streams(super::state::MAX_EVENT_STREAMS))?;
        let start = match after {
            Some(a) => a,
            None => state.store_call(state.store.last_event_id()).await?,
        };
        let stream = live(state.store.clone(), start).map(move |e| {
            let _held = &slot;
            e
        });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let limit = match params.get("limit") {
        None => 100,
        Some(_) => params.limit()?,
    };
    let tag = Tag::versioned(&state, &request_key(&uri)).await?;
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    let after = after.unwrap_or(0);
    let page = state
        .store_call(async {
            let events = state.store.events_after(after, limit).await?;
            let last = events.last().map(|e| e.id).unwrap_or(after);
            let mut items = Vec::new();
            for e in events.iter().filter(|e| e.kind.is_published()) {
                items.push(event_json(&state.store, e).await?);
            }
            Ok(EventsPageJson {
                items,
                last_event_id: last,
            })
        })
        .await?;
    Ok(tag.attach(Json(page)))
}

struct Live {
    store: Store,
    last: i64,
    queue: VecDeque<SseEvent>,
    wake: watch::Receiver<u64>,
}

/// Replays events after `start`, then waits for new ones: woken by local
/// commits, polling for other daemons'. A database hiccup delays the
/// stream; it does not end it.
fn live(store: Store, start: i64) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let wake = store.subscribe();
    let state = Live {
        store,
        last: start,
        queue: VecDeque::new(),
        wake,
    };
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(ev) = s.queue.pop_front() {
                return Some((Ok(ev), s));
            }
            s.wake.borrow_and_update();
            match s.store.events_after(s.last, BATCH).await {
                Ok(events) if !events.is_empty() => {
                    for e in &events {
                        s.last = e.id;
                        if !e.kind.is_published() {
                            continue;
                        }
                        match event_json(&s.store, e).await {
                            Ok(json) => {
                                let data = serde_json::to_string(&json).unwrap_or_default();
                                s.queue.push_back(
                                    SseEvent::default()
                                        .id(e.id.to_string())
                                        .event(e.kind.as_str())
                                        .data(data),
                                );
                            }
                            Err(err) => {
                                // Retry this event on the next round.
                                tracing::warn!(error = %err, "events: cannot read an event's measurement");
                                s.last = e.id - 1;
                                break;
                            }
                        }
                    }
                    if s.queue.is_empty() {
                        tokio::time::sleep(POLL).await;
                    }
                }
                Ok(_) => {
                    let _ = tokio::time::timeout(POLL, s.wake.changed()).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "events: store unavailable");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    })
}
