//! SIP over TLS (RFC 3261 §26, RFC 5922, RFC 5630) over real sockets, with
//! certificates made at test time: a whole survey call, the BYE over the
//! caller's connection or, once that is gone, a new one to its Contact;
//! plaintext and stalled handshakes; mutual TLS with a name check; and a
//! certificate reload on SIGHUP that drops no call.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::call::{assert_rated, survey_with_key};
use common::pki::{Ca, Leaf};
use common::sip::{new_branch, new_call_id, new_tag};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct TlsDaemon {
    d: Daemon,
    tls: SocketAddr,
    ca: Ca,
    _pki: tempfile::TempDir,
}

/// A daemon with TLS on, its certificate (localhost, 127.0.0.1) signed by
/// a fresh CA that it also trusts for peers; `tls_toml` goes into [tls].
async fn tls_daemon(tls_toml: &str, sip_toml: &str) -> TlsDaemon {
    let ca = Ca::new("smileyd test CA");
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path();
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]).write(dir, "server");
    let ca_file = ca.write(dir, "ca.pem");
    let port = daemon::free_port();
    let d = Daemon::with_settings(Settings {
        top_toml: format!("sip_tls_listen = \"127.0.0.1:{port}\""),
        sip_toml: sip_toml.into(),
        extra_toml: format!(
            "\n[tls]\ncert_file = {:?}\nkey_file = {:?}\nca_file = {:?}\n{tls_toml}\n",
            cert.display().to_string(),
            key.display().to_string(),
            ca_file.display().to_string()
        ),
        ..Default::default()
    })
    .await;
    TlsDaemon {
        d,
        tls: ([127, 0, 0, 1], port).into(),
        ca,
        _pki: pki,
    }
}

/// A UA over TLS trusting `ca`, listening with a certificate for 127.0.0.1
/// from the same CA (for connections the daemon opens).
async fn tls_ua(t: &TlsDaemon, me: Option<&Leaf>) -> SipUa {
    let server_leaf = t.ca.leaf(&["127.0.0.1"]);
    SipUa::tls(t.tls, t.ca.client(me), t.ca.server(&server_leaf)).await
}

fn options(ua: &SipUa, to: SocketAddr) -> Request {
    Request::new("OPTIONS", &format!("sip:survey@{to}"))
        .h("Via", ua.via(&new_branch()))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:tester@127.0.0.1>;tag={}", new_tag()))
        .h("To", format!("<sip:survey@{to}>"))
        .h("Call-ID", new_call_id())
        .h("CSeq", format!("{} OPTIONS", ua.next_cseq()))
}

async fn options_ok(ua: &SipUa, to: SocketAddr) -> bool {
    let req = options(ua, to);
    let rs = ua.transaction(&req, secs(5)).await;
    rs.last().and_then(|r| r.code()) == Some(200)
}

/// Connects with `client` and sends an OPTIONS; whether a 200 comes back.
async fn raw_tls_options(to: SocketAddr, client: Arc<rustls::ClientConfig>) -> bool {
    let Ok(tcp) = TcpStream::connect(to).await else {
        return false;
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let Ok(Ok(mut s)) = tokio::time::timeout(
        secs(5),
        tokio_rustls::TlsConnector::from(client).connect(name, tcp),
    )
    .await
    else {
        return false;
    };
    let local = s.get_ref().0.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:survey@{to} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch={}\r\nMax-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag={}\r\nTo: <sip:survey@{to}>\r\nCall-ID: {}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        new_branch(),
        new_tag(),
        new_call_id()
    );
    if s.write_all(msg.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(secs(5), s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"),
        _ => false,
    }
}

/// Whether the daemon closes `s` within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_call_over_tls_with_the_bye_on_the_same_connection() {
    let t = tls_daemon("", "").await;
    let ua = tls_ua(&t, None).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("tls"));
    let call = Call::place(&t.d, &ua, opts.clone(), OfferKind::Baresip).await;
    let contact = call.ok.header("Contact").unwrap_or_default().to_string();
    assert!(
        contact.contains(&format!("127.0.0.1:{};transport=tls", t.tls.port())),
        "Contact over TLS: {contact}"
    );
    survey_with_key(&call, '1').await;
    let bye = ua
        .received()
        .into_iter()
        .find(|i| i.msg.method() == Some("BYE"))
        .expect("BYE");
    assert_eq!(bye.conn, 0, "the BYE came on a new connection");
    let via = bye.msg.top_via().expect("Via");
    assert!(
        via.transport.eq_ignore_ascii_case("TLS"),
        "BYE Via over TLS: {}",
        bye.msg.text()
    );
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&t.d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sips_request_uri_gets_a_sips_contact() {
    let t = tls_daemon("", "").await;
    let ua = tls_ua(&t, None).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("sips"));
    let rtp = RtpEndpoint::bind().await;
    let offer = Offer::baresip(rtp.local, rtp.ssrc());
    let mut invite = build_invite(&ua, t.tls, &opts, Some(&offer.render()));
    invite.uri = format!("sips:survey@127.0.0.1:{}", t.tls.port());
    let rs = ua.transaction(&invite, secs(5)).await;
    let ok = rs.last().expect("a final response");
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    let contact = ok.contact_uri().unwrap_or_default();
    assert!(
        contact.starts_with("sips:") && !contact.contains("transport=tls"),
        "{contact}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_goes_over_a_new_connection_to_the_contact_when_the_old_one_is_gone() {
    let t = tls_daemon("", "").await;
    let ua = tls_ua(&t, None).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("tls-gone"));
    let call = Call::place(&t.d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.rtp
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap();
    // The caller's side closes its connection (a NAT rebinding, a restart).
    ua.close_connection(0).await;
    tokio::time::sleep(ms(300)).await;
    call.press('1').await;
    let bye = call.expect_daemon_bye(secs(10)).await;
    assert_ne!(bye.conn, 0, "the BYE came on the closed connection");
    assert_rated(&t.d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_stalled_handshakes_are_closed_and_nothing_else_is_affected() {
    let t = tls_daemon("handshake_timeout_ms = 700", "").await;
    let ua = tls_ua(&t, None).await;
    // A SIP request in clear on the TLS port.
    let mut plain = TcpStream::connect(t.tls).await.unwrap();
    let peer = plain.local_addr().unwrap();
    plain
        .write_all(b"OPTIONS sip:survey@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut plain, secs(3)).await,
        "plaintext accepted"
    );
    tokio::time::sleep(ms(200)).await;
    let log = t.d.log_tail(200);
    assert!(
        log.contains(&peer.to_string()) && log.contains("plaintext"),
        "not logged with the peer address: {log}"
    );
    // A connection that never starts its handshake.
    let mut stalled = TcpStream::connect(t.tls).await.unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_within(&mut stalled, secs(5)).await,
        "stalled handshake kept open"
    );
    assert!(
        started.elapsed() >= ms(600),
        "closed before the handshake timeout"
    );
    // The TLS caller was not affected.
    assert!(options_ok(&ua, t.tls).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_checks_the_client_certificate_and_its_name() {
    let t = tls_daemon(
        "verify_client = true\nclient_names = [\"pbx.example.test\"]",
        "",
    )
    .await;
    let good = t.ca.leaf(&["pbx.example.test"]);
    assert!(
        raw_tls_options(t.tls, t.ca.client(Some(&good))).await,
        "a client with a good certificate was refused"
    );
    assert!(
        !raw_tls_options(t.tls, t.ca.client(None)).await,
        "a client without a certificate was served"
    );
    let wrong_name = t.ca.leaf(&["other.example.test"]);
    assert!(
        !raw_tls_options(t.tls, t.ca.client(Some(&wrong_name))).await,
        "a certificate for another name was accepted"
    );
    let other_ca = Ca::new("someone else's CA");
    let foreign = other_ca.leaf(&["pbx.example.test"]);
    assert!(
        !raw_tls_options(t.tls, t.ca.client(Some(&foreign))).await,
        "a certificate from an unknown CA was accepted"
    );
    // The daemon goes on serving good clients.
    assert!(raw_tls_options(t.tls, t.ca.client(Some(&good))).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_a_call() {
    let t = tls_daemon("", "").await;
    let ua = tls_ua(&t, None).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("tls-reload"));
    let call = Call::place(&t.d, &ua, opts.clone(), OfferKind::Baresip).await;
    // A renewed certificate from another CA, written over the files.
    let renewed_ca = Ca::new("renewed CA");
    let leaf = renewed_ca.leaf(&["localhost", "127.0.0.1"]);
    let cfg = std::fs::read_to_string(t.d.config_path()).unwrap();
    let cert_path = cfg
        .lines()
        .find_map(|l| l.strip_prefix("cert_file = "))
        .map(|p| p.trim_matches('"').to_string())
        .unwrap();
    let dir = Path::new(&cert_path).parent().unwrap();
    leaf.write(dir, "server");
    t.d.signal("HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        if t.d.log_tail(100).contains("TLS certificate reloaded") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(ms(100)).await;
    }
    assert!(reloaded, "no reload logged: {}", t.d.log_tail(50));
    assert!(
        raw_tls_options(t.tls, renewed_ca.client(None)).await,
        "a new connection does not get the renewed certificate"
    );
    assert!(
        !raw_tls_options(t.tls, t.ca.client(None)).await,
        "a new connection still gets the old certificate"
    );
    // The call made before the reload goes on over its connection.
    survey_with_key(&call, '2').await;
    assert_rated(&t.d, &opts, call.call_id(), "sad", "2", "rfc4733").await;
}
