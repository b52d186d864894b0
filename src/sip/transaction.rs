//! Server and client transactions (RFC 3261 §17), reduced to what a UAS that
//! answers at once needs: absorb retransmitted requests by replaying the last
//! response, retransmit non-2xx INVITE finals until ACK (Timer G/H), and
//! retransmit our own BYE until answered (Timer E/F).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};

use super::message::{Message, Via};
use super::transport::Flow;

/// RFC 3261 §17.2.3: a server transaction is matched by the top Via's branch
/// and sent-by plus the method (ACK matching the INVITE it acknowledges).
/// Pre-RFC 3261 peers without the magic cookie are keyed on the §17.2.3
/// fallback fields instead.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxKey {
    pub branch: String,
    pub sent_by: String,
    pub method: String,
}

impl TxKey {
    pub fn of(msg: &Message, method: &str) -> Option<TxKey> {
        let via = Via::parse(msg.top_via()?)?;
        let sent_by = format!("{}:{}", via.host, via.port.unwrap_or(0));
        let branch = match via.branch() {
            Some(b) if b.starts_with("z9hG4bK") => b.to_string(),
            _ => format!(
                "{}|{}|{}|{}",
                msg.call_id()?,
                msg.cseq()?.0,
                msg.from_tag().unwrap_or(""),
                msg.request_uri().unwrap_or("")
            ),
        };
        let method = if method == "ACK" { "INVITE" } else { method };
        Some(TxKey {
            branch,
            sent_by,
            method: method.to_string(),
        })
    }
}

/// What a server transaction remembers.
pub struct ServerTx {
    pub flow: Flow,
    pub last_response: Option<Bytes>,
    pub final_sent: bool,
    /// For INVITE: the dialog it created, so CANCEL can find the call.
    pub call_id: Option<(String, String)>,
    /// Set when the ACK for a non-2xx final arrives (stops Timer G).
    pub acked: Option<std::sync::Arc<Notify>>,
    pub expires: Instant,
}

#[derive(Default)]
pub struct ServerTable {
    map: Mutex<HashMap<TxKey, ServerTx>>,
}

impl ServerTable {
    /// For a retransmission: the response to send again (None when the
    /// transaction exists but has not answered yet). Outer None: new request.
    pub fn retransmission(&self, key: &TxKey) -> Option<Option<(Flow, Bytes)>> {
        let map = self.map.lock().ok()?;
        let tx = map.get(key)?;
        Some(tx.last_response.clone().map(|r| (tx.flow, r)))
    }

    pub fn insert(&self, key: TxKey, tx: ServerTx) {
        if let Ok(mut map) = self.map.lock() {
            map.insert(key, tx);
        }
    }

    pub fn with<R>(&self, key: &TxKey, f: impl FnOnce(&mut ServerTx) -> R) -> Option<R> {
        let mut map = self.map.lock().ok()?;
        map.get_mut(key).map(f)
    }

    /// Records the response sent, and how long to keep answering
    /// retransmissions with it.
    pub fn responded(&self, key: &TxKey, resp: Bytes, is_final: bool, keep: std::time::Duration) {
        self.with(key, |tx| {
            tx.last_response = Some(resp);
            if is_final {
                tx.final_sent = true;
                tx.expires = Instant::now() + keep;
            }
        });
    }

    /// Drops transactions whose time is up.
    pub fn sweep(&self, now: Instant) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, tx| tx.expires > now);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Our outstanding client transactions (the BYEs we send), by branch.
#[derive(Default)]
pub struct ClientTable {
    map: Mutex<HashMap<String, oneshot::Sender<u16>>>,
}

impl ClientTable {
    pub fn register(&self, branch: &str) -> oneshot::Receiver<u16> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.map.lock() {
            map.insert(branch.to_string(), tx);
        }
        rx
    }

    /// A final response arrived: wake the sender. Provisionals only mean
    /// "keep waiting" and are not passed on.
    pub fn complete(&self, branch: &str, code: u16) {
        if code < 200 {
            return;
        }
        if let Some(tx) = self.map.lock().ok().and_then(|mut m| m.remove(branch)) {
            let _ = tx.send(code);
        }
    }

    pub fn forget(&self, branch: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(branch);
        }
    }
}
