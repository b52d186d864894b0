//! Our non-INVITE client transactions (RFC 3261 §17.1.2): the BYE smileyd
//! sends, with Timers E and F.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::metrics::SipMetrics;
use crate::sip::retransmit;
use crate::sip::timers::Timers;
use crate::sip::transport::{Flow, Transport};

/// Outstanding client transactions by branch, each waiting for its final
/// response.
#[derive(Clone)]
pub struct ClientTransactions {
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<u16>>>>,
    transport: Transport,
    timers: Timers,
    stats: SipMetrics,
}

impl ClientTransactions {
    pub fn new(transport: Transport, timers: Timers, stats: SipMetrics) -> ClientTransactions {
        ClientTransactions {
            waiting: Arc::default(),
            transport,
            timers,
            stats,
        }
    }

    /// Sends a non-INVITE request whose top Via carries `branch`, again on
    /// Timer E over UDP, until a final response comes (its status) or
    /// Timer F fires (None).
    pub async fn request(
        &self,
        flow: Flow,
        branch: &str,
        method: &str,
        data: Bytes,
    ) -> Option<u16> {
        let (tx, final_response) = oneshot::channel();
        if let Ok(mut map) = self.waiting.lock() {
            map.insert(branch.to_string(), tx);
        }
        self.stats.request_out(method);
        retransmit::send(&self.transport, flow, data.clone()).await;
        let schedule = self.timers.timer_e();
        let got = retransmit::until(&self.transport, flow, &data, schedule, final_response).await;
        if got.is_none() {
            self.forget(branch);
        }
        got.and_then(Result::ok)
    }

    /// A response arrived: a final one completes its transaction;
    /// provisionals only mean "keep waiting" (§17.1.2.2).
    pub fn response(&self, branch: &str, code: u16) {
        if code < 200 {
            return;
        }
        if let Some(tx) = self.waiting.lock().ok().and_then(|mut m| m.remove(branch)) {
            let _ = tx.send(code);
        }
    }

    fn forget(&self, branch: &str) {
        if let Ok(mut map) = self.waiting.lock() {
            map.remove(branch);
        }
    }
}
