//! The transaction layer (RFC 3261 §17): server transactions absorb
//! retransmitted requests by replaying their last response and send a
//! non-2xx final to INVITE again until the ACK; our client transaction
//! (the BYE we send) is sent again until answered. Each transaction type
//! owns its timers (see [`server`], [`client`]); the 2xx to INVITE is sent
//! again by the dialog, not here (§13.3.1.4).

pub mod client;
pub mod server;

pub use client::ClientTransactions;
pub use server::{Arrival, CancelTarget, ServerTransactions};

use super::headers::CoreHeaders;

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
    pub fn of(core: &CoreHeaders) -> TxKey {
        let sent_by = format!("{}:{}", core.via.host, core.via.port.unwrap_or(0));
        let branch = match core.via.rfc3261_branch() {
            Some(b) => b.to_string(),
            None => format!(
                "{}|{}|{}|{}",
                core.call_id,
                core.cseq,
                core.from_tag.as_deref().unwrap_or(""),
                core.request_uri
            ),
        };
        let method = if core.method == "ACK" {
            "INVITE"
        } else {
            &core.method
        };
        TxKey {
            branch,
            sent_by,
            method: method.to_string(),
        }
    }

    /// The key of the transaction with the same branch and another method:
    /// the INVITE a CANCEL refers to (§9.2).
    pub fn for_method(&self, method: &str) -> TxKey {
        TxKey {
            method: method.to_string(),
            ..self.clone()
        }
    }
}
