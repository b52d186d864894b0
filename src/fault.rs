//! Fault injection for the isolation test (tests/stuck_call.rs): one call
//! whose commit does not come back, so the test can show that such a call
//! holds up nobody else's SIP, media or commit. Unset, as in production,
//! nothing is held.
//!
//! `SMILEYD_FAULT_HOLD_COMMIT=<file>`: while `<file>` exists, a rating for
//! the agent named in it waits before its commit; removing the file lets
//! it go on. A file, not a signal or an API call, so that the test can
//! hold and release a separate process without the daemon offering a way
//! to stall it to anyone who can reach its ports.
//!
//! The wait sits in the call's own task, before the rating is handed to
//! the store, because that is the only place a commit can be stuck for one
//! call alone: its task waits and reads none of its events while SIP for
//! the call keeps coming in. Inside the database nothing is one call's:
//! every write is serialised (SQLite has one writer; on PostgreSQL each
//! write transaction takes one advisory lock to number its events, and
//! every rating adds to the same all-agents rollup rows), and the group
//! commit (`store/batch.rs`) shares its transaction on purpose. A database
//! that stops answering stops every commit alike, and the journal bounds
//! that: a caller waits at most its commit timeout, then the rating is
//! kept on local disk and the caller thanked.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The variable naming the file that holds commits.
pub const HOLD_COMMIT_VAR: &str = "SMILEYD_FAULT_HOLD_COMMIT";

/// How often a held commit looks at the file again.
const POLL: Duration = Duration::from_millis(50);

/// The file from [`HOLD_COMMIT_VAR`], read once.
fn hold_file() -> Option<&'static PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| std::env::var_os(HOLD_COMMIT_VAR).map(PathBuf::from))
        .as_ref()
}

/// Returns at once unless commits are being held for `agent`; then waits
/// until the hold file is gone or names someone else.
pub async fn hold_commit(agent: Option<&str>, call_id: &str) {
    let (Some(file), Some(agent)) = (hold_file(), agent) else {
        return;
    };
    let mut logged = false;
    loop {
        match tokio::fs::read_to_string(file).await {
            Ok(held) if held.trim() == agent => {}
            _ => break,
        }
        if !logged {
            tracing::warn!(call_id, agent, var = HOLD_COMMIT_VAR, "commit held");
            logged = true;
        }
        tokio::time::sleep(POLL).await;
    }
    if logged {
        tracing::warn!(call_id, agent, var = HOLD_COMMIT_VAR, "commit released");
    }
}
