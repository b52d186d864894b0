//! CSV for spreadsheets: the lists (measurements, agents, queues, time
//! series) as `text/csv` when asked with `format=csv` or `Accept: text/csv`,
//! with the same numbers as their JSON. RFC 4180 (CRLF, quotes doubled), and
//! text cells that a spreadsheet would run as a formula (= + - @, tab, CR at
//! the start, OWASP's "CSV injection") are prefixed with `'`. Numbers are
//! written as the JSON writes them.

use axum::body::Body;
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::counts::FiguresJson;
use super::error::ApiError;
use super::measurements::{rfc3339, MeasurementJson};
use super::params::Params;
use super::state::ApiState;
use crate::store::{Cursor, Filter, Measurement};
use crate::survey::ScaleKind;

/// Rows fetched per query while streaming measurements.
const PAGE: u32 = 1000;

pub const CSV_TYPE: &str = "text/csv; charset=utf-8; header=present";

/// Which representation a list is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    /// `format=csv|json` wins; else `Accept` naming `text/csv` (RFC 9110
    /// §12.5.1) asks for CSV; else JSON.
    pub fn of(headers: &HeaderMap, params: &Params) -> Result<Format, ApiError> {
        match params.get("format") {
            Some("csv") => return Ok(Format::Csv),
            Some("json") => return Ok(Format::Json),
            Some(_) => return Err(ApiError::invalid("format", "must be 'json' or 'csv'")),
            None => {}
        }
        let csv = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or("");
                // A range with q=0 is one the client refuses.
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                media.eq_ignore_ascii_case("text/csv") && !refused
            });
        Ok(if csv { Format::Csv } else { Format::Json })
    }

    /// Part of an ETag key: the same URL answers both.
    pub fn key(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

/// Adds `Vary: Accept`: the answer depends on it.
pub fn vary(mut resp: Response) -> Response {
    resp.headers_mut()
        .append(VARY, HeaderValue::from_static("accept"));
    resp
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Free text (names, notes): guarded against formulas.
    Text(String),
    /// A number as JSON writes it, or empty for null.
    Number(String),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    pub fn opt(s: Option<impl Into<String>>) -> Cell {
        s.map_or(Cell::Number(String::new()), |s| Cell::Text(s.into()))
    }

    pub fn int(n: i64) -> Cell {
        Cell::Number(n.to_string())
    }

    /// A JSON number (or null, written empty); anything else as text.
    fn json(v: &Value) -> Cell {
        match v {
            Value::Number(n) => Cell::Number(n.to_string()),
            Value::Null => Cell::Number(String::new()),
            Value::String(s) => Cell::Text(s.clone()),
            other => Cell::Text(other.to_string()),
        }
    }

    fn write(&self) -> String {
        match self {
            Cell::Number(n) => n.clone(),
            Cell::Text(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
            Cell::Text(s) => s.clone(),
        }
    }
}

/// A header and its rows, written as RFC 4180 text.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: Vec<String>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// The CSV text of the header (when `with_header`) and the rows.
    pub fn to_bytes(&self, with_header: bool) -> Vec<u8> {
        let mut w = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::CRLF)
            .flexible(false)
            .from_writer(Vec::new());
        // Writing to memory cannot fail; a record of the wrong length would
        // be a bug, and is left out rather than breaking the download.
        if with_header {
            let _ = w.write_record(&self.header);
        }
        for row in &self.rows {
            let _ = w.write_record(row.iter().map(Cell::write));
        }
        w.into_inner().unwrap_or_default()
    }

    /// The whole table as a download named `name`.csv.
    pub fn response(&self, name: &str) -> Response {
        download(Body::from(self.to_bytes(true)), name)
    }
}

/// A CSV body with its type and a file name for browsers.
pub fn download(body: Body, name: &str) -> Response {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(CSV_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"smileyd-{safe}.csv\"")) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    r
}

/// The columns of a figure: total, the scale's own, then answers per score.
pub fn figure_columns(kind: ScaleKind) -> Vec<String> {
    let own: &[&str] = match kind {
        ScaleKind::Smiley => &["happy", "sad", "happy_pct"],
        ScaleKind::Csat => &["csat_pct", "dsat_pct"],
        ScaleKind::Nps => &["nps", "promoters", "passives", "detractors"],
    };
    std::iter::once("total".to_owned())
        .chain(own.iter().map(|c| (*c).to_owned()))
        .chain(crate::store::scores(kind).map(|s| format!("answers_{s}")))
        .collect()
}

/// A figure's cells in [`figure_columns`] order, taken from its JSON so the
/// numbers are the JSON's.
pub fn figure_cells(kind: ScaleKind, figures: &FiguresJson) -> Vec<Cell> {
    let json = serde_json::to_value(figures).unwrap_or(Value::Null);
    figure_columns(kind)
        .iter()
        .map(|c| match c.strip_prefix("answers_") {
            Some(score) => Cell::json(&json["distribution"][score]),
            None => Cell::json(&json[c.as_str()]),
        })
        .collect()
}

/// Columns of a measurement row.
pub const MEASUREMENT_COLUMNS: [&str; 20] = [
    "id",
    "created_at",
    "survey",
    "kind",
    "score",
    "rating",
    "digit",
    "agent",
    "queue",
    "call_id",
    "original_call_id",
    "caller",
    "dtmf_source",
    "comment_status",
    "comment_duration_ms",
    "comment_url",
    "follow_up_by",
    "follow_up_via",
    "follow_up_at",
    "follow_up_note",
];

/// One measurement as cells, in [`MEASUREMENT_COLUMNS`] order.
pub fn measurement_cells(m: Measurement) -> Vec<Cell> {
    let comment_status = m.comment.as_ref().map(|c| c.status.as_str().to_owned());
    let comment_ms = m.comment.as_ref().map(|c| c.duration_ms);
    let follow = m.follow_up.clone();
    let json = MeasurementJson::from(m);
    vec![
        Cell::text(json.id),
        Cell::text(json.created_at),
        Cell::text(json.survey),
        Cell::text(json.kind.as_str()),
        Cell::int(i64::from(json.score)),
        Cell::text(json.rating),
        Cell::text(json.digit),
        Cell::opt(json.agent),
        Cell::opt(json.queue),
        Cell::text(json.call_id),
        Cell::opt(json.original_call_id),
        Cell::opt(json.caller),
        Cell::text(json.dtmf_source.as_str()),
        Cell::opt(comment_status),
        comment_ms.map_or(Cell::Number(String::new()), Cell::int),
        Cell::opt(json.comment_url),
        Cell::opt(follow.as_ref().and_then(|f| f.by.name().map(str::to_owned))),
        Cell::opt(follow.as_ref().map(|f| f.by.via())),
        Cell::opt(follow.as_ref().map(|f| rfc3339(f.created_at))),
        Cell::opt(follow.map(|f| f.note)),
    ]
}

/// The measurements `filter` selects, newest first from `cursor`, at most
/// `limit` (all without one), as CSV streamed a page at a time, so a
/// million rows never sit in memory. A store failure part-way aborts the
/// body: the client sees a failed download, never a silently short file.
pub fn measurements_body(
    state: ApiState,
    filter: Filter,
    limit: Option<u32>,
    cursor: Option<Cursor>,
) -> Body {
    struct Walk {
        state: ApiState,
        filter: Filter,
        cursor: Option<Cursor>,
        left: Option<u32>,
        started: bool,
        done: bool,
    }
    let walk = Walk {
        state,
        filter,
        cursor,
        left: limit,
        started: false,
        done: false,
    };
    let header = || Table::new(MEASUREMENT_COLUMNS.map(str::to_owned).to_vec());
    let stream = futures_util::stream::unfold(walk, move |mut w| async move {
        if w.done {
            return None;
        }
        if !w.started {
            w.started = true;
            return Some((Ok(bytes::Bytes::from(header().to_bytes(true))), w));
        }
        let page = w.left.map_or(PAGE, |l| l.min(PAGE));
        let fetched = w
            .state
            .store_call(w.state.store.list_measurements(&w.filter, page, w.cursor))
            .await;
        match fetched {
            Ok((items, next)) => {
                let mut t = header();
                if let Some(left) = w.left.as_mut() {
                    *left = left.saturating_sub(u32::try_from(items.len()).unwrap_or(u32::MAX));
                }
                for m in items {
                    t.push(measurement_cells(m));
                }
                w.done = next.is_none() || w.left == Some(0);
                w.cursor = next;
                Some((Ok(bytes::Bytes::from(t.to_bytes(false))), w))
            }
            Err(e) => {
                w.done = true;
                tracing::warn!(error = %e.message, "CSV export of measurements cut short");
                Some((Err(std::io::Error::other(e.message)), w))
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(rows: Vec<Vec<Cell>>) -> String {
        let mut t = Table::new(vec!["a".into(), "b".into()]);
        for r in rows {
            t.push(r);
        }
        String::from_utf8(t.to_bytes(true)).unwrap_or_default()
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        assert_eq!(
            csv(vec![vec![
                Cell::text("Smith, Jo"),
                Cell::text("said \"hi\"\nthen left")
            ]]),
            "a,b\r\n\"Smith, Jo\",\"said \"\"hi\"\"\nthen left\"\r\n"
        );
    }

    #[test]
    fn formulas_are_defused_numbers_are_not() {
        let out = csv(vec![
            vec![
                Cell::text("=HYPERLINK(\"http://x\")"),
                Cell::text("+4930123"),
            ],
            vec![Cell::text("-2+3"), Cell::text("@SUM(A1)")],
            vec![Cell::text("\tx"), Cell::Number("-20.5".into())],
            vec![Cell::opt(None::<String>), Cell::text("Åsa")],
        ]);
        assert_eq!(
            out,
            "a,b\r\n\"'=HYPERLINK(\"\"http://x\"\")\",'+4930123\r\n'-2+3,'@SUM(A1)\r\n\
             '\tx,-20.5\r\n,Åsa\r\n"
        );
    }

    #[test]
    fn accept_and_format() {
        let p = |pairs: &[(&str, &str)]| {
            Params::new(
                pairs
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        let mut h = HeaderMap::new();
        assert_eq!(Format::of(&h, &p(&[])).ok(), Some(Format::Json));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/csv;q=0.5"),
        );
        assert_eq!(Format::of(&h, &p(&[])).ok(), Some(Format::Csv));
        assert_eq!(
            Format::of(&h, &p(&[("format", "json")])).ok(),
            Some(Format::Json)
        );
        h.insert(ACCEPT, HeaderValue::from_static("text/csv;q=0, */*"));
        assert_eq!(Format::of(&h, &p(&[])).ok(), Some(Format::Json));
        let e = Format::of(&h, &p(&[("format", "xls")])).expect_err("bad");
        assert!(e.message.starts_with("format: "));
    }

    #[test]
    fn figure_columns_match_the_json() {
        let c = crate::store::Counts::from_scores(&[(0, 3), (10, 1)]);
        let f = FiguresJson::of(ScaleKind::Nps, c);
        let cells = figure_cells(ScaleKind::Nps, &f);
        let cols = figure_columns(ScaleKind::Nps);
        assert_eq!(cols.len(), cells.len());
        assert_eq!(
            cols[..5],
            ["total", "nps", "promoters", "passives", "detractors"]
        );
        assert_eq!(cells[0], Cell::Number("4".into()));
        assert_eq!(cells[1], Cell::Number("-50.0".into()));
        assert_eq!(cols[5], "answers_0");
        assert_eq!(cells[5], Cell::Number("3".into()));
    }
}
