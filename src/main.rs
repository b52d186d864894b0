//! smileyd: answers post-call survey calls over SIP and serves the ratings over HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use smileyd::api;
use smileyd::call::{self, CallContext};
use smileyd::config::{Cli, Command, Config, Overrides, TokenCommand};
use smileyd::current::Current;
use smileyd::journal::Journal;
use smileyd::media::prompt::PromptLibrary;
use smileyd::media::PortAllocator;
use smileyd::metrics::Metrics;
use smileyd::service;
use smileyd::sip::timers::Timers;
use smileyd::sip::tls::TlsContext;
use smileyd::sip::{Endpoint, SipSettings, Transport};
use smileyd::store::{spawn_retention_sweeper, Scope, Store};

fn main() {
    let cli = Cli::parse_noting_sources();
    service::init_logging();
    let config = match Config::load(&cli.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smileyd: configuration error: {e}");
            std::process::exit(2);
        }
    };
    if let Some(Command::CheckConfig) = cli.command {
        println!("configuration is valid");
        return;
    }
    if let Some(Command::Token(cmd)) = cli.command {
        std::process::exit(token_command(&config, cmd));
    }
    if let Some(Command::Backup { dest }) = cli.command {
        std::process::exit(backup_command(&config, &dest));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smileyd: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(config, cli.overrides)) {
        eprintln!("smileyd: {e:#}");
        std::process::exit(1);
    }
}

async fn serve(config: Config, overrides: Overrides) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (prompts_dir, custom_dir) = (
        config.prompts_dir.clone(),
        config.custom_prompts_dir.clone(),
    );
    let (prompts, skipped) =
        tokio::task::spawn_blocking(move || PromptLibrary::open(&prompts_dir, &custom_dir))
            .await?
            .map_err(|e| anyhow::anyhow!("prompts: {e}"))?;
    for e in skipped {
        tracing::error!("uploaded prompt skipped, the shipped one plays instead: {e}");
    }
    // One registry; each layer gets the handles it records to.
    let metrics = Metrics::new();
    let journal = Journal::open(&config.journal_path)
        .map_err(|e| anyhow::anyhow!("journal_path {}: {e}", config.journal_path.display()))?
        .with_metrics(metrics.journal.clone());
    let store = Store::connect_with(&config.database_url, &config.database)
        .await
        .map_err(|e| anyhow::anyhow!("database {}: {e}", redact(&config.database_url)))?;
    store.record_metrics(metrics.db_write.clone());
    // Before any call: leftovers of a crash are recovered, never served.
    smileyd::comment::recover(&store, &config.recordings_dir).await;
    let tls = match (config.sip_tls_listen, &config.tls) {
        (Some(addr), Some(settings)) => Some((
            addr,
            TlsContext::load(settings).map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
        _ => None,
    };
    let (transport, inbound) = Transport::bind_with_tls(config.sip_listen, config.connections, tls)
        .await
        .map_err(|e| anyhow::anyhow!("sip_listen {} / sip_tls_listen: {e}", config.sip_listen))?;
    let sip_tls = transport.tls_addr();
    let ports = PortAllocator::new(config.rtp_ports.0, config.rtp_ports.1);
    // Ready means a call can be taken: at least one RTP pair can be bound.
    drop(ports.allocate(config.sip_listen.ip()).map_err(|e| {
        anyhow::anyhow!(
            "rtp_ports {}-{}: {e}",
            config.rtp_ports.0,
            config.rtp_ports.1
        )
    })?);
    if config.srtp_keys_in_cleartext {
        tracing::warn!(
            "media.srtp_allow_keys_in_cleartext is on: SRTP keys (a=crypto) are taken from SIP \
             over UDP and TCP, where anyone on the path can read them and decrypt the calls' \
             audio; meant for tests and benchmarks on loopback only"
        );
    }
    if config.srtp == smileyd::media::srtp::SrtpMode::Required
        && sip_tls.is_none()
        && !config.srtp_keys_in_cleartext
    {
        tracing::warn!(
            "media.srtp = \"required\" without sip_tls_listen: SRTP keys are only taken over \
             TLS, so every call will be refused with 488"
        );
    }
    let (new_calls_tx, mut new_calls) = mpsc::channel(1024);
    let endpoint = Endpoint::new(
        transport,
        SipSettings {
            timers: Timers { t1: config.t1 },
            allowed_networks: config.allowed_networks.clone(),
            public_ip: config.public_ip,
            answer_delay: config.answer_delay,
            min_se_secs: config.min_se_secs,
            max_calls: config.max_calls,
            max_transactions: config.max_transactions,
            srtp: config.srtp,
            srtp_keys_in_cleartext: config.srtp_keys_in_cleartext,
        },
        ports,
        new_calls_tx,
        metrics.sip.clone(),
    );
    let draining = Arc::new(AtomicBool::new(false));
    let surveys = api::SurveysHandle::new(api::SurveyCatalog::of(&config));
    let api_state = api::ApiState::new(store.clone())
        .with_surveys(surveys.clone())
        .with_draining(draining.clone())
        .with_recordings_dir(config.recordings_dir.clone())
        .with_prompts(prompts.clone())
        .with_metrics(config.metrics)
        .with_private_webhooks(config.webhook_delivery.allow_private_networks)
        .with_metrics_registry(metrics.registry.clone());
    let hooks: Vec<(String, String)> = config
        .webhooks
        .iter()
        .map(|w| (w.url.clone(), w.secret.clone()))
        .collect();
    store
        .sync_config_webhooks(&hooks)
        .await
        .map_err(|e| anyhow::anyhow!("webhooks: {e}"))?;
    api::spawn_dispatcher(
        store.clone(),
        api::DispatchSettings {
            metrics: metrics.webhooks.clone(),
            delivery: config.webhook_delivery.clone(),
            ..Default::default()
        },
    );
    spawn_retention_sweeper(
        store.clone(),
        config.recordings_dir.clone(),
        config.retention_days,
        Duration::from_secs(3600),
    );
    if !store.any_tokens().await.unwrap_or(true) {
        tracing::warn!(
            "no API tokens: the API answers read requests from loopback only and refuses admin \
             requests; create a token with `smileyd token create --scope read --name NAME`"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|e| anyhow::anyhow!("http_listen {}: {e}", config.http_listen))?;
    let ctx = Arc::new(CallContext {
        config: Current::new(config.clone()),
        store: store.clone(),
        prompts,
        endpoint: endpoint.clone(),
        journal: journal.clone(),
        metrics: metrics.call.clone(),
        media_metrics: metrics.media.clone(),
    });
    journal.spawn_replayer(store.clone(), Duration::from_secs(2));
    spawn_reloader(overrides, ctx.clone(), surveys);
    tokio::spawn(endpoint.clone().run(inbound));
    // Every call task is tracked, so that shutdown can wait for them.
    let calls = TaskTracker::new();
    let tracker = calls.clone();
    tokio::spawn(async move {
        while let Some(incoming) = new_calls.recv().await {
            tracker.spawn(call::run(ctx.clone(), incoming));
        }
    });
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        api::serve(listener, api::router(api_state), async {
            let _ = stop_http_rx.await;
        })
        .await;
    });
    tracing::info!(
        version = service::VERSION,
        sip = %config.sip_listen,
        sip_tls = %sip_tls.map_or("off".to_string(), |a| a.to_string()),
        http = %config.http_listen,
        database = %redact(&config.database_url),
        rtp_ports = %format!("{}-{}", config.rtp_ports.0, config.rtp_ports.1),
        "smileyd ready"
    );
    // SIP and RTP are bound, the database open and migrated, the API
    // listening and served: systemd may start what depends on us.
    service::notify_ready(&format!(
        "taking calls on {}, API on {}",
        config.sip_listen, config.http_listen
    ));

    shutdown_signal().await;
    service::notify_stopping();
    // Stop taking calls (503), let the calls in progress finish, then exit.
    tracing::info!(
        active = calls.len(),
        "shutting down: no new calls; waiting for calls in progress"
    );
    draining.store(true, Ordering::SeqCst);
    endpoint.drain();
    // New INVITEs get 503 now; the tracker is done once the last call task is.
    calls.close();
    tokio::select! {
        _ = calls.wait() => {}
        _ = tokio::time::sleep(config.max_call + Duration::from_secs(5)) => {
            tracing::warn!(active = calls.len(), "calls still running after max_call_secs; exiting");
        }
        _ = shutdown_signal() => {
            tracing::warn!("second signal: exiting without waiting for calls");
        }
    }
    let _ = stop_http_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// `smileyd token create|list|revoke`: talks to the configured database and
/// exits; the secret of a new token is printed once and never stored.
fn token_command(config: &Config, cmd: TokenCommand) -> i32 {
    let run = async {
        let store = Store::connect_with(&config.database_url, &config.database)
            .await
            .map_err(|e| anyhow::anyhow!("database {}: {e}", redact(&config.database_url)))?;
        match cmd {
            TokenCommand::Create { scope, name } => {
                let scope = Scope::parse(&scope)
                    .ok_or_else(|| anyhow::anyhow!("--scope must be read or admin"))?;
                let (info, secret) = store.create_token(&name, scope).await?;
                eprintln!(
                    "created token {} ({}, scope {}); it is shown only now:",
                    info.id,
                    info.name,
                    info.scope.as_str()
                );
                println!("{secret}");
            }
            TokenCommand::List => {
                for t in store.list_tokens().await? {
                    let state = match t.revoked_at {
                        Some(at) => format!("revoked {}", at.to_rfc3339()),
                        None => "active".to_owned(),
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        t.id,
                        t.name,
                        t.scope.as_str(),
                        t.created_at.to_rfc3339(),
                        state
                    );
                }
            }
            TokenCommand::Revoke { id_or_name } => {
                let n = store.revoke_token(&id_or_name).await?;
                if n == 0 {
                    anyhow::bail!("no active token with id or name {id_or_name:?}");
                }
                println!("revoked {n} token(s)");
            }
        }
        store.close().await;
        Ok::<(), anyhow::Error>(())
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smileyd: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("smileyd: {e:#}");
            1
        }
    }
}

/// `smileyd backup FILE`: a consistent copy of the SQLite database, taken
/// while the daemon runs.
fn backup_command(config: &Config, dest: &std::path::Path) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smileyd: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(smileyd::store::backup_sqlite(&config.database_url, dest)) {
        Ok(size) => {
            println!(
                "backed up {} to {} ({size} bytes)",
                redact(&config.database_url),
                dest.display()
            );
            0
        }
        Err(e) => {
            eprintln!("smileyd: backup of {}: {e}", redact(&config.database_url));
            1
        }
    }
}

/// SIGHUP reloads the configuration file: new calls get the new surveys,
/// sources, timeouts and allowed networks; calls in progress keep theirs. An
/// invalid file is logged and the old configuration stays.
fn spawn_reloader(overrides: Overrides, ctx: Arc<CallContext>, surveys: api::SurveysHandle) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; configuration reload is off");
            return;
        };
        while hup.recv().await.is_some() {
            service::notify_reloading();
            match Config::load(&overrides) {
                Ok(new) => {
                    let old = ctx.config.get();
                    if new.sip_listen != old.sip_listen
                        || new.sip_tls_listen != old.sip_tls_listen
                        || new.http_listen != old.http_listen
                        || new.database_url != old.database_url
                        || new.rtp_ports != old.rtp_ports
                    {
                        tracing::warn!("sip_listen, sip_tls_listen, http_listen, database_url and rtp_ports take effect only after a restart");
                    }
                    if new.srtp != old.srtp
                        || new.srtp_keys_in_cleartext != old.srtp_keys_in_cleartext
                    {
                        tracing::warn!("media.srtp and media.srtp_allow_keys_in_cleartext take effect only after a restart");
                    }
                    // The certificate files are read again (a renewed
                    // certificate); open TLS connections keep theirs.
                    if let Some(settings) = &new.tls {
                        match TlsContext::load(settings) {
                            Ok(tls) => {
                                if ctx.endpoint.reload_tls(tls) {
                                    tracing::info!("TLS certificate reloaded");
                                }
                            }
                            Err(e) => tracing::error!(
                                "TLS reload refused, keeping the old certificate: {e}"
                            ),
                        }
                    }
                    ctx.endpoint
                        .set_allowed_networks(new.allowed_networks.clone());
                    surveys.set(api::SurveyCatalog::of(&new));
                    ctx.config.set(new);
                    tracing::info!("configuration reloaded");
                    service::notify_ready("taking calls; configuration reloaded");
                }
                Err(e) => {
                    tracing::error!("configuration reload refused, keeping the old one: {e}");
                    service::notify_ready(
                        "taking calls; configuration reload refused (see the log)",
                    );
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (overrides, ctx, surveys);
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Hides a password in a database URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
