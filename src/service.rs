//! Running as a system service: the version line, readiness notifications to
//! systemd (sd_notify) and log lines fit for the journal.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `smileyd --version`: the package version and the commit it was built
/// from (build.rs), e.g. `0.1.0 (commit 8386e2b1c0de)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SMILEYD_BUILD_SOURCE"),
    ")"
);

/// Tells systemd (Type=notify) that SIP, RTP, the database and the API are
/// up. Without NOTIFY_SOCKET (not started by systemd) nothing is sent.
pub fn notify_ready(status: &str) {
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(status),
    ]);
}

/// Tells systemd the daemon is stopping (draining calls before it exits).
pub fn notify_stopping() {
    notify(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("stopping: waiting for calls in progress"),
    ]);
}

/// Tells systemd a configuration reload has begun; [`notify_ready`] ends it.
/// MONOTONIC_USEC lets systemd ≥ 253 match it to the reload it asked for.
pub fn notify_reloading() {
    let mut states = vec![sd_notify::NotifyState::Reloading];
    if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify(&states);
}

fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}

/// Sets up logging to stderr. When stderr is the journal's stream, lines
/// carry their priority as a `<N>` prefix (journald's SyslogLevelPrefix)
/// and no timestamp (journald stamps them); colours only on a terminal.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "smileyd=info".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if stderr_is_journal() {
        builder
            .event_format(JournalFormat(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// Whether stderr is connected to the journal: systemd sets JOURNAL_STREAM
/// to `DEVICE:INODE` of the stream it gave the service, and a child that
/// inherited the variable but writes elsewhere must not match.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    is_stream(&std::io::stderr(), dev, ino)
}

fn is_stream(fd: &impl std::os::fd::AsFd, dev: u64, ino: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(owned) = fd.as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(owned).metadata() {
        Ok(m) => m.dev() == dev && m.ino() == ino,
        Err(_) => false,
    }
}

/// A line's syslog priority as journald reads it from a `<N>` prefix.
fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Prefixes each line of the inner format with its syslog priority.
struct JournalFormat<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journal_lines_carry_priority_and_no_timestamp() {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .event_format(JournalFormat(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("disk full");
            tracing::warn!("slow");
            tracing::info!(calls = 2, "ready");
            tracing::debug!("detail");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("<3>ERROR "), "{}", lines[0]);
        assert!(lines[1].starts_with("<4> WARN "), "{}", lines[1]);
        assert!(lines[2].starts_with("<6> INFO "), "{}", lines[2]);
        assert!(lines[2].ends_with("ready calls=2"), "{}", lines[2]);
    }

    #[test]
    fn the_stream_is_told_by_device_and_inode() {
        let file = tempfile::tempfile().unwrap();
        let meta = file.metadata().unwrap();
        assert!(is_stream(&file, meta.dev(), meta.ino()));
        assert!(!is_stream(&file, meta.dev(), meta.ino() + 1));
        let other = tempfile::tempfile().unwrap();
        assert!(!is_stream(&other, meta.dev(), meta.ino()));
    }

    #[test]
    fn version_names_the_build_source() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        let source = env!("SMILEYD_BUILD_SOURCE");
        assert!(
            source.starts_with("commit ") || source == "not built from a git checkout",
            "{source}"
        );
    }
}
