//! The command line: subcommands and the flags that override the file, each
//! also read from its SMILEYD_* variable.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "smileyd",
    version = crate::service::VERSION,
    about = "Post-call satisfaction surveys over SIP"
)]
pub struct Cli {
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the command line as `Cli::parse` does, and notes which
    /// overrides were taken from their SMILEYD_* variable, so that an error
    /// in one names the variable rather than the flag.
    pub fn parse_noting_sources() -> Cli {
        let mut command = Cli::command();
        Cli::from_matches(&command.get_matches_mut())
            .unwrap_or_else(|e| e.format(&mut command).exit())
    }

    pub(super) fn from_matches(matches: &clap::ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        cli.overrides.from_env = matches
            .ids()
            .map(|id| id.as_str())
            .filter(|id| matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable))
            .map(str::to_string)
            .collect();
        Ok(cli)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration and exit.
    CheckConfig,
    /// Manage API tokens (in the configured database).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy the SQLite database to a new file while the daemon runs (a
    /// consistent snapshot; PostgreSQL: use pg_dump).
    Backup {
        /// The file to write; it must not exist yet.
        dest: PathBuf,
    },
}

/// `smileyd token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// read (apps, wallboards) or admin (also deletes comments, manages webhooks).
        #[arg(long, value_parser = ["read", "admin"])]
        scope: String,
        /// A name to recognise it by, e.g. wallboard.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the token(s) with this id or name.
    Revoke {
        /// Token id or name.
        id_or_name: String,
    },
}

/// Flags that override the file; each also reads SMILEYD_<NAME>. Values are
/// kept as text and checked by `Config::load` with the same types as the
/// file's, so that an error names the flag or variable.
#[derive(Args, Debug, Default)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "SMILEYD_CONFIG")]
    pub config: Option<PathBuf>,
    /// SIP address, UDP and TCP (default 0.0.0.0:5060).
    #[arg(long, env = "SMILEYD_SIP_LISTEN")]
    pub sip_listen: Option<String>,
    /// SIP over TLS address (off unless given; 5061 is usual); needs [tls].
    #[arg(long, env = "SMILEYD_SIP_TLS_LISTEN")]
    pub sip_tls_listen: Option<String>,
    /// HTTP API address (default 127.0.0.1:8080).
    #[arg(long, env = "SMILEYD_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// sqlite://FILE (default sqlite://smileyd.db) or postgres://…
    #[arg(long, env = "SMILEYD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory with <language>/<prompt>.wav (default prompts).
    #[arg(long, env = "SMILEYD_PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Writable directory for prompts uploaded through the API, layered over prompts_dir (default prompts-custom).
    #[arg(long, env = "SMILEYD_CUSTOM_PROMPTS_DIR")]
    pub custom_prompts_dir: Option<PathBuf>,
    /// Directory for recorded comments (default recordings).
    #[arg(long, env = "SMILEYD_RECORDINGS_DIR")]
    pub recordings_dir: Option<PathBuf>,
    /// RTP port range, FIRST-LAST (default 10000-20000).
    #[arg(long, env = "SMILEYD_RTP_PORTS")]
    pub rtp_ports: Option<String>,
    /// Address written into SDP and Contact (default: the local address the INVITE arrived on).
    #[arg(long, env = "SMILEYD_PUBLIC_IP")]
    pub public_ip: Option<String>,
    /// Local journal for ratings while the database is away (default smileyd.journal).
    #[arg(long, env = "SMILEYD_JOURNAL_PATH")]
    pub journal_path: Option<PathBuf>,
    /// The ids (field names) of the overrides above that were taken from
    /// their SMILEYD_* variable rather than given as a flag.
    #[arg(skip)]
    pub(super) from_env: Vec<String>,
}

impl Overrides {
    /// How the override with this id was given: its variable
    /// (SMILEYD_RTP_PORTS) or its flag (--rtp-ports).
    pub(super) fn given_as(&self, id: &str) -> String {
        let cli = Cli::command();
        let arg = cli.get_arguments().find(|a| a.get_id() == id);
        if self.from_env.iter().any(|e| e == id) {
            match arg.and_then(|a| a.get_env()) {
                Some(env) => env.to_string_lossy().into_owned(),
                None => format!("SMILEYD_{}", id.to_ascii_uppercase()),
            }
        } else {
            match arg.and_then(|a| a.get_long()) {
                Some(long) => format!("--{long}"),
                None => format!("--{}", id.replace('_', "-")),
            }
        }
    }
}
