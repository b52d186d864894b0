//! Server transactions (RFC 3261 §17.2, with RFC 6026's Accepted state):
//! INVITE ones with Timers G, H, I and L, non-INVITE ones with Timer J.
//! Every response smileyd sends goes out through [`ServerTransactions::respond`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::TxKey;
use crate::metrics::SipMetrics;
use crate::sip::dialog::DialogKey;
use crate::sip::retransmit;
use crate::sip::timers::Timers;
use crate::sip::transport::{Flow, Transport};

/// §17.2.1 as amended by RFC 6026 §7.1.
enum InviteState {
    /// No final response yet (provisionals may have gone out).
    Proceeding,
    /// A non-2xx final sent; it goes again on Timer G until the ACK wakes
    /// `acked`, or Timer H ends it.
    Completed { acked: Arc<Notify> },
    /// The ACK for the non-2xx came; further ACKs are absorbed for Timer I.
    Confirmed,
    /// A 2xx sent; retransmitted INVITEs are absorbed for Timer L.
    Accepted,
}

/// §17.2.2: Trying/Proceeding until the final, then Completed for Timer J.
enum NonInviteState {
    Proceeding,
    Completed,
}

enum Kind {
    Invite {
        state: InviteState,
        /// The dialog this INVITE created, so that CANCEL can find the call.
        dialog: Option<DialogKey>,
    },
    NonInvite(NonInviteState),
}

struct ServerTx {
    kind: Kind,
    /// Where responses go (§18.2.2), and the last one sent, replayed to
    /// retransmitted requests.
    last_response: Option<(Flow, Bytes)>,
    /// When the current state's timer ends the transaction.
    expires: Instant,
}

impl ServerTx {
    fn final_sent(&self) -> bool {
        match &self.kind {
            Kind::Invite { state, .. } => !matches!(state, InviteState::Proceeding),
            Kind::NonInvite(state) => matches!(state, NonInviteState::Completed),
        }
    }

    /// Moves to the state a final response leads to and sets its timer;
    /// for a non-2xx to INVITE over UDP, the wake-up that stops Timer G.
    fn finalize(&mut self, code: u16, reliable: bool, timers: &Timers) -> Option<Arc<Notify>> {
        let now = Instant::now();
        match &mut self.kind {
            Kind::Invite { state, .. } if code < 300 => {
                *state = InviteState::Accepted;
                self.expires = now + timers.timer_l();
                None
            }
            Kind::Invite { state, .. } => {
                let acked = Arc::new(Notify::new());
                *state = InviteState::Completed {
                    acked: acked.clone(),
                };
                // Timer H bounds the wait for the ACK over any transport.
                self.expires = now + timers.timeout();
                (!reliable).then_some(acked)
            }
            Kind::NonInvite(state) => {
                *state = NonInviteState::Completed;
                self.expires = now + timers.timer_j(reliable);
                None
            }
        }
    }
}

/// What a request's arrival means to its server transaction.
pub enum Arrival {
    /// No transaction has it: a new request.
    New,
    /// A retransmission of a request not answered yet: nothing to do.
    Pending,
    /// A retransmission: send the last response again (§17.2.1, §17.2.2).
    Replay(Flow, Bytes),
}

/// What CANCEL needs to know about the INVITE it refers to (§9.2).
pub struct CancelTarget {
    pub dialog: Option<DialogKey>,
    pub final_sent: bool,
}

/// The server transactions in progress.
#[derive(Clone)]
pub struct ServerTransactions {
    map: Arc<Mutex<HashMap<TxKey, ServerTx>>>,
    transport: Transport,
    timers: Timers,
    stats: SipMetrics,
}

impl ServerTransactions {
    pub fn new(transport: Transport, timers: Timers, stats: SipMetrics) -> ServerTransactions {
        ServerTransactions {
            map: Arc::default(),
            transport,
            timers,
            stats,
        }
    }

    fn with<R>(&self, key: &TxKey, f: impl FnOnce(&mut ServerTx) -> R) -> Option<R> {
        let mut map = self.map.lock().ok()?;
        map.get_mut(key).map(f)
    }

    /// §17.2.3: whether a request belongs to a transaction already.
    pub fn arrival(&self, key: &TxKey) -> Arrival {
        let found = self.with(key, |tx| tx.last_response.clone());
        match found {
            None => Arrival::New,
            Some(None) => Arrival::Pending,
            Some(Some((flow, resp))) => Arrival::Replay(flow, resp),
        }
    }

    /// Starts the transaction of a new request; false (and nothing kept)
    /// when `limit` transactions are in progress already.
    pub fn begin(&self, key: TxKey, limit: usize) -> bool {
        let kind = if key.method == "INVITE" {
            Kind::Invite {
                state: InviteState::Proceeding,
                dialog: None,
            }
        } else {
            Kind::NonInvite(NonInviteState::Proceeding)
        };
        let tx = ServerTx {
            kind,
            last_response: None,
            expires: Instant::now() + self.timers.unanswered_limit(),
        };
        let Ok(mut map) = self.map.lock() else {
            return false;
        };
        if map.len() >= limit {
            return false;
        }
        map.insert(key, tx);
        true
    }

    /// Sends a response to `flow` and, when the request has a transaction
    /// (`key`), records it there: a final one moves the transaction on, and
    /// a non-2xx final to INVITE over UDP is sent again on Timer G until the
    /// ACK or Timer H (§17.2.1).
    pub async fn respond(&self, key: Option<&TxKey>, flow: Flow, code: u16, resp: Bytes) {
        self.stats.response_out(code);
        retransmit::send(&self.transport, flow, resp.clone()).await;
        let Some(key) = key else { return };
        let timer_g = self
            .with(key, |tx| {
                tx.last_response = Some((flow, resp.clone()));
                if code >= 200 {
                    tx.finalize(code, !flow.is_udp(), &self.timers)
                } else {
                    None
                }
            })
            .flatten();
        if let Some(acked) = timer_g {
            let me = self.clone();
            tokio::spawn(async move {
                let schedule = me.timers.timer_g();
                retransmit::until(&me.transport, flow, &resp, schedule, acked.notified()).await;
            });
        }
    }

    /// An ACK with an INVITE transaction's key: when that INVITE got a
    /// non-2xx final, the ACK is the transaction's (it stops Timer G and
    /// starts Timer I) and true is returned. An ACK for a 2xx is the
    /// dialog's (§17.2.1, §13.3.1.4).
    pub fn absorb_ack(&self, key: &TxKey, reliable: bool) -> bool {
        let timer_i = self.timers.timer_i(reliable);
        self.with(key, |tx| match &mut tx.kind {
            Kind::Invite { state, .. } => match state {
                InviteState::Completed { acked } => {
                    acked.notify_one();
                    *state = InviteState::Confirmed;
                    tx.expires = Instant::now() + timer_i;
                    true
                }
                InviteState::Confirmed => true,
                InviteState::Proceeding | InviteState::Accepted => false,
            },
            Kind::NonInvite(_) => false,
        })
        .unwrap_or(false)
    }

    /// Notes the dialog an INVITE created.
    pub fn set_dialog(&self, key: &TxKey, dialog: DialogKey) {
        self.with(key, |tx| {
            if let Kind::Invite { dialog: d, .. } = &mut tx.kind {
                *d = Some(dialog);
            }
        });
    }

    /// The INVITE transaction a CANCEL names, if there is one.
    pub fn cancel_target(&self, invite: &TxKey) -> Option<CancelTarget> {
        self.with(invite, |tx| CancelTarget {
            dialog: match &tx.kind {
                Kind::Invite { dialog, .. } => dialog.clone(),
                Kind::NonInvite(_) => None,
            },
            final_sent: tx.final_sent(),
        })
    }

    /// Ends the transactions whose timer has run out.
    pub fn sweep(&self, now: Instant) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, tx| tx.expires > now);
        }
    }
}
