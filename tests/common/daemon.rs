//! Starts the smileyd binary on loopback with its own ports, database,
//! prompts and config file, and stops it when dropped.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::api::Api;
use super::tones::{write_prompts, PromptLengths};

static RTP_BLOCK: AtomicUsize = AtomicUsize::new(0);
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port free on 127.0.0.1 for both UDP and TCP, not handed out before
/// in this process.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut set = HANDED_OUT.lock().unwrap();
        if set.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// A distinct RTP port range per daemon in this process: 21000 + 200·n for
/// n < 50, or, with `SMILEYD_TEST_RTP_BASE` set (test runs side by side on
/// one machine), base + 200·n for n < 10.
pub fn rtp_range() -> (u16, u16) {
    rtp_blocks(1)
}

/// `count` adjacent blocks of [`rtp_range`] (200 ports, 100 calls, each),
/// for a daemon that holds more calls at once.
pub fn rtp_blocks(count: usize) -> (u16, u16) {
    let (base, blocks) = match std::env::var("SMILEYD_TEST_RTP_BASE")
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
    {
        Some(b) if (1024..=63000).contains(&b) => (b, 10),
        _ => (21000, 50),
    };
    assert!(
        (1..=blocks).contains(&count),
        "{count} RTP blocks of {blocks}"
    );
    let mut n = RTP_BLOCK.fetch_add(count, Ordering::SeqCst) % blocks;
    if n + count > blocks {
        // Not past the end of the range: start again from its first block.
        n = 0;
    }
    let lo = base + 200 * n as u16;
    (lo, lo + 200 * count as u16 - 1)
}

/// The config file's name in the daemon's directory.
const CONFIG_FILE: &str = "smileyd.toml";

/// The daemon's nested config keys (written as TOML per test).
#[derive(Clone, Debug)]
pub struct Settings {
    pub digit_timeout_ms: u64,
    pub attempts: u32,
    pub happy_key: String,
    pub sad_key: String,
    /// survey.comment; "never" by default so calls end right after the thanks.
    pub comment: String,
    pub symmetric_rtp: bool,
    pub media_timeout_secs: u64,
    pub max_call_secs: u64,
    pub t1_ms: u64,
    pub allowed_networks: Vec<String>,
    /// sip.answer_delay_ms (ring time before the 200); written only when set.
    pub answer_delay_ms: Option<u64>,
    /// Top-level keys, written before any table.
    pub top_toml: String,
    /// Appended verbatim to the [media] table.
    pub media_toml: String,
    /// Appended verbatim to the [sip] table.
    pub sip_toml: String,
    /// Appended verbatim to the config file.
    pub extra_toml: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            digit_timeout_ms: 1500,
            attempts: 3,
            happy_key: "1".into(),
            sad_key: "2".into(),
            comment: "never".into(),
            symmetric_rtp: true,
            media_timeout_secs: 30,
            max_call_secs: 600,
            t1_ms: 500,
            allowed_networks: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            answer_delay_ms: None,
            top_toml: String::new(),
            media_toml: String::new(),
            sip_toml: String::new(),
            extra_toml: String::new(),
        }
    }
}

impl Settings {
    pub fn toml(&self) -> String {
        let nets: Vec<String> = self
            .allowed_networks
            .iter()
            .map(|n| format!("{n:?}"))
            .collect();
        format!(
            r#"{}
[survey]
digit_timeout_ms = {}
attempts = {}
happy_key = {:?}
sad_key = {:?}
comment = {:?}

[media]
symmetric_rtp = {}
media_timeout_secs = {}
max_call_secs = {}
{}

[sip]
t1_ms = {}
allowed_networks = [{}]{}
{}

[headers]
agent = "X-Agent-Id"
queue = "X-Queue"
original_call_id = "X-Original-Call-Id"
{}
"#,
            self.top_toml,
            self.digit_timeout_ms,
            self.attempts,
            self.happy_key,
            self.sad_key,
            self.comment,
            self.symmetric_rtp,
            self.media_timeout_secs,
            self.max_call_secs,
            self.media_toml,
            self.t1_ms,
            nets.join(", "),
            self.answer_delay_ms
                .map(|ms| format!("\nanswer_delay_ms = {ms}"))
                .unwrap_or_default(),
            self.sip_toml,
            self.extra_toml
        )
    }
}

#[derive(Clone, Debug)]
pub enum Prompts {
    /// Tones written to the temp dir (see tones.rs).
    Generated(PromptLengths),
    /// The prompts/ directory shipped with the crate.
    Shipped,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub settings: Settings,
    pub prompts: Prompts,
    /// Blocks of 200 RTP ports (100 calls each) the daemon gets.
    pub rtp_blocks: usize,
    /// Variables set for the daemon (every other SMILEYD_* is removed).
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings::default(),
            prompts: Prompts::Generated(PromptLengths::default()),
            rtp_blocks: 1,
            env: Vec::new(),
        }
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub sip: SocketAddr,
    /// What the daemon was given as --database-url.
    pub database_url: String,
    /// A PostgreSQL database made for this daemon, dropped with it.
    pg_database: Option<String>,
    pub http: SocketAddr,
    pub rtp_ports: (u16, u16),
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    pub prompts_dir: PathBuf,
    pub api: Api,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
}

/// Start the binary with `args` and the variables `env` in `dir`, appending
/// its output to `log`.
fn spawn(args: &[std::ffi::OsString], env: &[(String, String)], dir: &Path, log: &Path) -> Child {
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smileyd"));
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf);
    // Keep the environment from choosing other addresses or files.
    for (k, _) in std::env::vars() {
        if k.starts_with("SMILEYD_") {
            cmd.env_remove(k);
        }
    }
    if std::env::var("RUST_LOG").is_err() {
        cmd.env("RUST_LOG", "debug");
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.spawn().expect("spawn smileyd")
}

pub fn shipped_prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

impl Daemon {
    pub async fn start() -> Daemon {
        Daemon::start_with(Options::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Daemon {
        Daemon::start_with(Options {
            settings,
            ..Options::default()
        })
        .await
    }

    pub async fn start_with(opts: Options) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("smileyd-test-")
            .tempdir()
            .unwrap();
        let prompts_dir = match &opts.prompts {
            Prompts::Generated(lens) => {
                let p = dir.path().join("prompts");
                write_prompts(&p, lens);
                p
            }
            Prompts::Shipped => shipped_prompts_dir(),
        };
        let recordings = dir.path().join("recordings");
        std::fs::create_dir_all(&recordings).unwrap();
        let config = dir.path().join(CONFIG_FILE);
        std::fs::write(&config, opts.settings.toml()).unwrap();
        let (database_url, pg_database) = test_database(dir.path());
        let log = dir.path().join("smileyd.log");
        let sip_port = free_port();
        let http_port = free_port();
        let sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
        let rtp_ports = rtp_blocks(opts.rtp_blocks);
        let args: Vec<std::ffi::OsString> = vec![
            "--config".into(),
            config.clone().into(),
            "--sip-listen".into(),
            sip.to_string().into(),
            "--http-listen".into(),
            http.to_string().into(),
            "--database-url".into(),
            database_url.clone().into(),
            "--prompts-dir".into(),
            prompts_dir.clone().into(),
            "--recordings-dir".into(),
            recordings.clone().into(),
            "--rtp-ports".into(),
            format!("{}-{}", rtp_ports.0, rtp_ports.1).into(),
            "--public-ip".into(),
            "127.0.0.1".into(),
        ];
        let child = spawn(&args, &opts.env, dir.path(), &log);
        let api = Api::new(http);
        let mut d = Daemon {
            child: Some(child),
            sip,
            database_url,
            pg_database,
            http,
            rtp_ports,
            dir,
            log,
            prompts_dir,
            api,
            args,
            env: opts.env,
        };
        d.wait_ready(Duration::from_secs(15)).await;
        d
    }

    async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "smileyd exited during start-up with {status}\n--- log ---\n{}",
                        self.log_tail(80)
                    );
                }
            }
            if self.api.status("/healthz").await == Some(200) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "smileyd not ready (GET /healthz != 200) within {timeout:?}\n--- log ---\n{}",
                    self.log_tail(80)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(f) = std::fs::File::open(&self.log) else {
            return String::new();
        };
        let all: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
        let start = all.len().saturating_sub(lines);
        all[start..].join("\n")
    }

    /// Lines of the log containing `needle`, in order.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Waits until the log has `n` lines containing `needle`; the `n`th
    /// (1-based), or None on timeout.
    pub async fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log_lines(needle).into_iter().nth(n - 1) {
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Send a signal (e.g. "TERM") to the daemon.
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().expect("daemon not running");
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} {pid} failed");
    }

    /// Wait for the process to exit; its status, or None on timeout.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Some(st);
                }
            } else {
                return None;
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Start the daemon again with the same ports, database and config
    /// (after it stopped or was killed).
    pub async fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.child = Some(spawn(&self.args, &self.env, self.dir.path(), &self.log));
        self.wait_ready(Duration::from_secs(15)).await;
    }

    /// The file given as --config.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join(CONFIG_FILE)
    }

    /// Replace the config file (read again on SIGHUP or restart), through a
    /// rename so the daemon never reads half a file.
    pub fn write_config(&self, toml: &str) {
        let tmp = self.dir.path().join(format!("{CONFIG_FILE}.new"));
        std::fs::write(&tmp, toml).unwrap();
        std::fs::rename(&tmp, self.config_path()).unwrap();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- smileyd log (last 120 lines) ---\n{}\n--- end of log ---",
                self.log_tail(120)
            );
        }
        if std::env::var_os("SMILEYD_TEST_KEEP").is_some() {
            let p = self.dir.path().to_path_buf();
            eprintln!("keeping {}", p.display());
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().unwrap(),
            ));
            if self.pg_database.take().is_some() {
                eprintln!("keeping {}", self.database_url);
            }
        }
        if let Some(name) = self.pg_database.take() {
            let _ = psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// `SMILEYD_TEST_DATABASE=postgres` (server `postgres://postgres@127.0.0.1:5432`)
/// or `=postgres://USER@HOST:PORT` runs each daemon on a new PostgreSQL
/// database, dropped when the `Daemon` is; unset, a SQLite file in `dir`.
fn test_database(dir: &Path) -> (String, Option<String>) {
    if pg_server().is_none() {
        return (format!("sqlite://{}", dir.join("t.db").display()), None);
    }
    let name = format!("smileyd_t_{}", uuid::Uuid::now_v7().simple());
    if let Err(e) = psql(&format!("CREATE DATABASE {name}")) {
        panic!("SMILEYD_TEST_DATABASE: cannot create a database: {e}");
    }
    (format!("{}/{name}", pg_server().unwrap()), Some(name))
}

fn pg_server() -> Option<String> {
    match std::env::var("SMILEYD_TEST_DATABASE").ok()?.as_str() {
        "" | "sqlite" => None,
        "postgres" => Some("postgres://postgres@127.0.0.1:5432".into()),
        url => Some(url.trim_end_matches('/').to_string()),
    }
}

/// One statement on the server's `postgres` database, with the psql CLI.
fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(format!("{}/postgres", pg_server().unwrap_or_default()))
        .args(["-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
