//! Where a new connection goes when the one a dialog came on is gone
//! (RFC 3261 §18): a response to the `received` address and the Via's
//! sent-by port (§18.2.2), a request of ours (BYE) to the first Route or
//! the remote target (§18.1.1, §8.1.2). Names are resolved to addresses
//! (A/AAAA); the SRV and NAPTR steps of RFC 3263 are not done, so a URI
//! without a port gets the transport's default one.

use std::io;
use std::net::SocketAddr;

use super::headers::TopVia;
use super::transport::{Flow, Transport};

/// RFC 3261 §19.1.2: the default ports.
const SIP_PORT: u16 = 5060;
const SIPS_PORT: u16 = 5061;

/// The host and port of a SIP URI (`sip:user@host:port;params`, in angle
/// brackets or not).
pub fn host_port(uri: &str, tls: bool) -> Option<(String, u16)> {
    let uri = uri.trim().trim_start_matches('<');
    let uri = uri.split('>').next()?;
    let (_, rest) = uri.split_once(':')?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = rest.split([';', '?']).next()?;
    let default = if tls { SIPS_PORT } else { SIP_PORT };
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host.to_string(), port));
    }
    match hostport.split_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((hostport.to_string(), default)),
    }
}

async fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok((ip, port).into());
    }
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| io::Error::other(format!("{host}: no address")))
}

/// `flow` if its connection is open, else a new connection to `uri`.
pub async fn for_request(transport: &Transport, flow: Flow, uri: &str) -> io::Result<Flow> {
    if transport.is_open(flow) {
        return Ok(flow);
    }
    let (host, port) = host_port(uri, flow.is_tls())
        .ok_or_else(|| io::Error::other(format!("no host in '{uri}'")))?;
    let addr = resolve(&host, port).await?;
    transport.connect(flow, addr, &host).await
}

/// `flow` if its connection is open, else a new connection to where the
/// request's Via says responses go (§18.2.2: `received`, sent-by's port).
pub async fn for_response(transport: &Transport, flow: Flow, via: &TopVia) -> io::Result<Flow> {
    if transport.is_open(flow) {
        return Ok(flow);
    }
    let default = if flow.is_tls() { SIPS_PORT } else { SIP_PORT };
    let addr = (flow.peer().ip(), via.port.unwrap_or(default)).into();
    transport.connect(flow, addr, &via.host).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_uris() {
        let hp = |u, tls| host_port(u, tls).map(|(h, p)| format!("{h} {p}"));
        assert_eq!(
            hp("<sip:a@192.0.2.1:5070;transport=tls>", true).as_deref(),
            Some("192.0.2.1 5070")
        );
        assert_eq!(
            hp("sips:pbx.example.net", true).as_deref(),
            Some("pbx.example.net 5061")
        );
        assert_eq!(
            hp("sip:b@[2001:db8::1];lr", false).as_deref(),
            Some("2001:db8::1 5060")
        );
        assert_eq!(
            hp("<sip:proxy.example:5080;lr>", false).as_deref(),
            Some("proxy.example 5080")
        );
        assert_eq!(hp("sip:x@host:notaport", false), None);
    }
}
