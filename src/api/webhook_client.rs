//! The HTTP client webhooks are delivered with, and the rule for where it
//! may connect.
//!
//! - TLS is rustls (no OpenSSL), trusting the Mozilla roots built into the
//!   binary (webpki-roots: the same on every host and inside the systemd
//!   sandbox) plus the certificates of `webhook_delivery.ca_file`, for
//!   receivers behind a private CA. A certificate error is a failed attempt
//!   like any other, its reason in `last_error`.
//! - Every name is resolved by `GuardedResolver`, which drops the addresses
//!   `model::webhook_destination` refuses; the connection goes to one of
//!   the addresses it returned, so a name that resolves to a public address
//!   when the receiver is added and to 127.0.0.1 or 169.254.169.254 later
//!   (DNS rebinding) reaches nothing. Address literals never reach a
//!   resolver: `deliver` checks them before the request.
//! - No proxy from the environment (a proxy would resolve the name itself,
//!   out of reach of the check) and no redirects (a 3xx is a failed
//!   attempt, not a way to another address).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::WebhookDelivery;
use crate::model::webhook_destination::{check, refusal_message};

/// How long resolving a receiver's name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The client for deliveries; an error names what is wrong (an unreadable
/// or empty CA file).
pub fn build(delivery: &WebhookDelivery, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .user_agent(concat!("smileyd/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private_networks: delivery.allow_private_networks,
        }));
    if let Some(path) = &delivery.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("webhook_delivery.ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("webhook_delivery.ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "webhook_delivery.ca_file {}: no PEM certificate in it",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| error_chain(&e))
}

/// Resolves receivers' names and keeps only the addresses deliveries may go
/// to; none left is an error that says which addresses were refused.
pub struct GuardedResolver {
    pub allow_private_networks: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_networks;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = resolve_allowed(&host, allow)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Why a name gave no address to deliver to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name did not resolve (now).
    #[error("cannot resolve {0}: {1}")]
    Lookup(String, String),
    /// It resolved, but only to refused addresses.
    #[error("{0}")]
    Refused(String),
}

/// The addresses `host` resolves to that webhooks may be delivered to.
pub async fn resolve_allowed(
    host: &str,
    allow_private_networks: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let lookup = tokio::net::lookup_host((host, 0));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => return Err(ResolveError::Lookup(host.into(), e.to_string())),
        Err(_) => {
            let e = format!("no answer in {RESOLVE_TIMEOUT:?}");
            return Err(ResolveError::Lookup(host.into(), e));
        }
    };
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    for a in addrs {
        match check(a.ip(), allow_private_networks) {
            Ok(()) => allowed.push(a),
            Err(r) => refused.push(refusal_message(a.ip(), r)),
        }
    }
    if allowed.is_empty() {
        return Err(ResolveError::Refused(format!(
            "{host} resolves to no address webhooks may be delivered to ({})",
            if refused.is_empty() {
                "no address at all".to_owned()
            } else {
                refused.join("; ")
            }
        )));
    }
    Ok(allowed)
}

/// An error with its causes, "error sending request …: client error
/// (Connect): invalid peer certificate: UnknownIssuer": the outermost
/// message alone does not say what went wrong.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}
