//! The one retransmitter: sends a message again on a [`Schedule`] until
//! something stops it or the schedule gives up. Used for non-2xx finals to
//! INVITE (Timer G/H), the 2xx to INVITE (the dialog's job, RFC 3261
//! §13.3.1.4) and our BYE (Timer E/F).

use std::future::Future;

use bytes::Bytes;
use tokio::time::Instant;

use super::timers::Schedule;
use super::transport::{Flow, Transport};

/// Sends one message, logging (not returning) a failure: a lost message is
/// what retransmissions and timeouts are for.
pub async fn send(transport: &Transport, flow: Flow, data: Bytes) {
    if let Err(e) = transport.send(flow, data).await {
        tracing::debug!(peer = %flow.peer(), error = %e, "sip send failed");
    }
}

/// After the first send (done by the caller), sends `data` again on
/// `schedule` until `stop` completes: `Some` with its output, or `None`
/// when the schedule gave up first. Over a reliable flow nothing is sent
/// again (RFC 3261 §17.1.2.2, §17.2.1) unless the schedule says so (RFC
/// 3262 §3), but the time limit still applies.
pub async fn until<F: Future>(
    transport: &Transport,
    flow: Flow,
    data: &Bytes,
    schedule: Schedule,
    stop: F,
) -> Option<F::Output> {
    tokio::pin!(stop);
    let deadline = Instant::now() + schedule.give_up;
    let mut interval = schedule.first;
    loop {
        let wake = if flow.is_udp() || schedule.on_reliable_flows {
            (Instant::now() + interval).min(deadline)
        } else {
            deadline
        };
        tokio::select! {
            out = &mut stop => return Some(out),
            _ = tokio::time::sleep_until(wake) => {}
        }
        if Instant::now() >= deadline {
            return None;
        }
        send(transport, flow, data.clone()).await;
        interval = schedule.next(interval);
    }
}
