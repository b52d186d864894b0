//! Webhooks to HTTPS receivers and the destination rule, over real sockets:
//! a TLS receiver on 127.0.0.1 with certificates made now (rcgen, a test CA
//! that exists only for this run) gets a delivery when smileyd trusts that
//! CA through `webhook_delivery.ca_file`; a receiver with a certificate from
//! another CA, or for another name, gets nothing and the delivery records
//! why and is retried. A name that resolves only to loopback is refused at
//! delivery time without a connection being made.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TempSqlite;
use crate::api::signature;
use crate::api::{spawn_dispatcher, DispatchSettings};
use crate::config::WebhookDelivery;
use crate::model::Rating;
use crate::store::tests::{rating, T0};
use crate::store::{Delivery, DeliveryStatus, Store};

const SECRET: &str = "0123456789abcdef-tls-secret";

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).expect("CA certificate");
    Ca { cert, key }
}

/// A server certificate for `names` (DNS names, or IP addresses when they
/// parse as one) signed by `ca`: (chain DER, key DER).
fn leaf(ca: &Ca, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().expect("leaf key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*n).try_into().expect("dns name")),
        })
        .collect();
    let cert = p
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("leaf certificate");
    (
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// What a receiver saw: bodies with a valid signature, TCP connections
/// accepted, and handshakes that failed (with rustls's reason).
#[derive(Default)]
struct Seen {
    bodies: Mutex<Vec<serde_json::Value>>,
    connections: AtomicUsize,
    handshake_errors: Mutex<Vec<String>>,
}

/// An HTTPS receiver on 127.0.0.1 presenting `chain`; a minimal HTTP/1.1
/// server (one request per connection) so nothing of smileyd's own stack
/// is on the receiving side.
async fn https_receiver(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<Seen>, tokio::task::JoinHandle<()>) {
    // The process's provider: ring, the only one built in (as for reqwest).
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            s.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, s) = (acceptor.clone(), s.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => serve_one(tls, &s).await,
                    Err(e) => s.handshake_errors.lock().expect("lock").push(e.to_string()),
                }
            });
        }
    });
    (port, seen, task)
}

/// A plain TCP listener that only counts connections: where a refused
/// delivery must never connect.
async fn counting_listener() -> (u16, Arc<Seen>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((_tcp, _)) = listener.accept().await {
            s.connections.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, seen, task)
}

async fn serve_one<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut io: S,
    seen: &Seen,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buf[head_end..head_end + len];
    let sig = header(signature::HEADER).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let status = if head.starts_with("POST /hook ")
        && signature::verify(SECRET.as_bytes(), &sig, body, now, 300)
    {
        let v = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        seen.bodies.lock().expect("lock").push(v);
        "204 No Content"
    } else {
        "401 Unauthorized"
    };
    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = io.write_all(reply.as_bytes()).await;
    let _ = io.shutdown().await;
}

fn settings(delivery: WebhookDelivery) -> DispatchSettings {
    DispatchSettings {
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        poll: Duration::from_millis(100),
        timeout: Duration::from_secs(3),
        delivery,
        ..DispatchSettings::default()
    }
}

/// The deliveries to `url`, once `done` holds for them or 10 s passed.
async fn deliveries_to(
    store: &Store,
    url: &str,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Vec<Delivery> = store
            .list_deliveries(None, None, None, 100)
            .await
            .expect("list")
            .into_iter()
            .filter(|d| d.url == url)
            .collect();
        if (!rows.is_empty() && done(&rows)) || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ca_file(dir: &tempfile::TempDir, ca: &Ca) -> std::path::PathBuf {
    let path = dir.path().join("webhook-ca.pem");
    std::fs::write(&path, ca.cert.pem()).expect("write CA");
    path
}

#[tokio::test]
async fn https_receiver_trusted_through_ca_file_gets_the_delivery() {
    let test_ca = ca("smileyd test CA");
    let (chain, key) = leaf(&test_ca, &["127.0.0.1"]);
    let (port, seen, rx) = https_receiver(chain, key).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TempSqlite::new().await;
    let url = format!("https://127.0.0.1:{port}/hook");
    db.store
        .sync_config_webhooks(&[(url.clone(), SECRET.into())])
        .await
        .expect("sync");
    let dispatcher = spawn_dispatcher(
        db.store.clone(),
        settings(WebhookDelivery {
            ca_file: Some(ca_file(&dir, &test_ca)),
            allow_private_networks: true,
        }),
    );
    let m = rating(Some("ann"), Rating::Happy, T0);
    db.store.insert_measurement(&m).await.expect("insert");
    let rows = deliveries_to(&db.store, &url, |r| {
        r.iter().all(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;
    dispatcher.abort();
    rx.abort();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].status,
        DeliveryStatus::Delivered,
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(rows[0].last_status, Some(204));
    let bodies = seen.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1, "exactly one signed POST arrived over TLS");
    assert_eq!(bodies[0]["measurement"]["id"], m.id.to_string());
    assert!(seen.handshake_errors.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn wrong_certificates_fail_with_the_reason_and_are_retried() {
    let test_ca = ca("smileyd test CA");
    let other_ca = ca("someone else's CA");
    // Signed by a CA smileyd does not trust, and signed by the trusted CA
    // but for another name.
    let (chain, key) = leaf(&other_ca, &["127.0.0.1"]);
    let (untrusted_port, untrusted_seen, rx1) = https_receiver(chain, key).await;
    let (chain, key) = leaf(&test_ca, &["receiver.example"]);
    let (misnamed_port, misnamed_seen, rx2) = https_receiver(chain, key).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TempSqlite::new().await;
    let untrusted = format!("https://127.0.0.1:{untrusted_port}/hook");
    let misnamed = format!("https://127.0.0.1:{misnamed_port}/hook");
    db.store
        .sync_config_webhooks(&[
            (untrusted.clone(), SECRET.into()),
            (misnamed.clone(), SECRET.into()),
        ])
        .await
        .expect("sync");
    let dispatcher = spawn_dispatcher(
        db.store.clone(),
        settings(WebhookDelivery {
            ca_file: Some(ca_file(&dir, &test_ca)),
            allow_private_networks: true,
        }),
    );
    db.store
        .insert_measurement(&rating(Some("ann"), Rating::Sad, T0))
        .await
        .expect("insert");
    let retried = |r: &[Delivery]| r.iter().all(|d| d.attempts >= 2);
    let u = deliveries_to(&db.store, &untrusted, retried).await;
    let n = deliveries_to(&db.store, &misnamed, retried).await;
    dispatcher.abort();
    rx1.abort();
    rx2.abort();
    for (rows, reason) in [(&u, "UnknownIssuer"), (&n, "not valid for name")] {
        assert_eq!(rows.len(), 1);
        let d = &rows[0];
        assert_eq!(d.status, DeliveryStatus::Pending, "retried, not given up");
        assert!(d.attempts >= 2, "retried like any failure: {d:?}");
        assert_eq!(d.last_status, None);
        let err = d.last_error.clone().unwrap_or_default();
        assert!(
            err.contains("invalid peer certificate") && err.contains(reason),
            "last_error says why: {err}"
        );
    }
    for seen in [&untrusted_seen, &misnamed_seen] {
        assert!(seen.bodies.lock().expect("lock").is_empty(), "nothing sent");
        assert!(seen.connections.load(Ordering::SeqCst) >= 2);
    }
}

#[tokio::test]
async fn refused_destinations_are_never_connected_to() {
    let (port, seen, rx) = counting_listener().await;
    let db = TempSqlite::new().await;
    // Added before the rule, or while private networks were allowed: the
    // check at delivery time is what stops them.
    let by_name = format!("http://localhost:{port}/hook");
    let literal = format!("http://127.0.0.1:{port}/hook");
    db.store
        .sync_config_webhooks(&[
            (by_name.clone(), SECRET.into()),
            (literal.clone(), SECRET.into()),
        ])
        .await
        .expect("sync");
    let dispatcher = spawn_dispatcher(db.store.clone(), settings(WebhookDelivery::default()));
    db.store
        .insert_measurement(&rating(None, Rating::Happy, T0))
        .await
        .expect("insert");
    let tried = |r: &[Delivery]| r.iter().all(|d| d.attempts >= 1);
    let named = deliveries_to(&db.store, &by_name, tried).await;
    let lit = deliveries_to(&db.store, &literal, tried).await;
    dispatcher.abort();
    rx.abort();
    let err = named[0].last_error.clone().unwrap_or_default();
    assert!(
        err.contains("localhost resolves to no address webhooks may be delivered to")
            && err.contains("is a loopback address"),
        "{err}"
    );
    let err = lit[0].last_error.clone().unwrap_or_default();
    assert!(
        err.contains("127.0.0.1 is a loopback address")
            && err.contains("webhook_delivery.allow_private_networks"),
        "{err}"
    );
    assert_eq!(named[0].status, DeliveryStatus::Pending);
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        0,
        "no connection made"
    );
}
