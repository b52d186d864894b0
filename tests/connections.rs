//! The bounds on SIP connections, over real TCP sockets: per-source and
//! total caps, the idle timeout and the CRLF keep-alives that defer it
//! (RFC 5626 §4.4.1), and the size and time a message may take (slowloris).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::sip::{new_branch, new_call_id, new_tag};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn daemon(sip: &str) -> Daemon {
    Daemon::with_settings(Settings {
        sip_toml: sip.into(),
        ..Default::default()
    })
    .await
}

/// A TCP connection from `from` (a loopback address) to the daemon.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
    sock.connect(to).await.expect("connect")
}

/// An OPTIONS written by hand, with `body` as its body.
fn options(local: SocketAddr, to: SocketAddr, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:survey@{to} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch={}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@{local}>;tag={}\r\n\
         To: <sip:survey@{to}>\r\n\
         Call-ID: {}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        new_branch(),
        new_tag(),
        new_call_id(),
        body.len()
    )
    .into_bytes()
}

/// The status line of the next response on `s`, or None when the
/// connection is closed or nothing comes within `wait`.
async fn status_line(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        let n = tokio::time::timeout_at(deadline.into(), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let text = text.trim_start_matches(['\r', '\n']);
        if let Some((line, _)) = text.split_once("\r\n") {
            return Some(line.to_string());
        }
    }
}

/// An OPTIONS on `s` gets 200.
async fn answers(s: &mut TcpStream, to: SocketAddr) -> bool {
    let local = s.local_addr().unwrap();
    if s.write_all(&options(local, to, "")).await.is_err() {
        return false;
    }
    status_line(s, secs(5))
        .await
        .is_some_and(|l| l.starts_with("SIP/2.0 200"))
}

/// Whether the daemon closed `s`: a read ends (EOF or reset) within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_source_cap_closes_the_extra_connection_and_frees_on_close() {
    let d = daemon("max_connections_per_source = 2").await;
    let mut a = connect_from("127.0.0.1", d.sip).await;
    let mut b = connect_from("127.0.0.1", d.sip).await;
    assert!(answers(&mut a, d.sip).await, "first connection not served");
    assert!(answers(&mut b, d.sip).await, "second connection not served");
    let mut c = connect_from("127.0.0.1", d.sip).await;
    assert!(
        closed_within(&mut c, secs(3)).await,
        "a third connection from one source was not closed"
    );
    // Another source is not affected.
    let mut other = connect_from("127.0.0.2", d.sip).await;
    assert!(answers(&mut other, d.sip).await, "another source refused");
    // The first two still work; closing one makes room.
    assert!(answers(&mut a, d.sip).await, "an admitted connection broke");
    drop(b);
    tokio::time::sleep(ms(300)).await;
    let mut e = connect_from("127.0.0.1", d.sip).await;
    assert!(answers(&mut e, d.sip).await, "no room after a close");
    assert!(d.log_tail(200).contains("max_connections_per_source"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_cap_counts_every_source() {
    let d = daemon("max_connections = 2\nmax_connections_per_source = 10").await;
    let mut a = connect_from("127.0.0.1", d.sip).await;
    let mut b = connect_from("127.0.0.2", d.sip).await;
    assert!(answers(&mut a, d.sip).await);
    assert!(answers(&mut b, d.sip).await);
    let mut c = connect_from("127.0.0.3", d.sip).await;
    assert!(
        closed_within(&mut c, secs(3)).await,
        "a connection over the total cap was not closed"
    );
    // UDP is not affected by the TCP cap.
    let ua = SipUa::udp(d.sip).await;
    let req = Request::new("OPTIONS", &format!("sip:survey@{}", d.sip))
        .h("Via", ua.via(&new_branch()))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:tester@127.0.0.1>;tag={}", new_tag()))
        .h("To", format!("<sip:survey@{}>", d.sip))
        .h("Call-ID", new_call_id())
        .h("CSeq", "1 OPTIONS");
    let rs = ua.transaction(&req, secs(5)).await;
    assert_eq!(rs.last().and_then(|r| r.code()), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_keepalives_are_answered_and_keep_an_idle_connection_open() {
    let d = daemon("connection_idle_secs = 2").await;
    let mut kept = connect_from("127.0.0.1", d.sip).await;
    let mut idle = connect_from("127.0.0.1", d.sip).await;
    assert!(answers(&mut kept, d.sip).await);
    assert!(answers(&mut idle, d.sip).await);
    let start = Instant::now();
    // RFC 5626 §4.4.1: each double CRLF ping gets a single CRLF pong.
    while start.elapsed() < secs(5) {
        kept.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 8];
        let n = tokio::time::timeout(secs(2), kept.read(&mut pong))
            .await
            .expect("no pong to a CRLF ping")
            .unwrap();
        assert_eq!(&pong[..n], b"\r\n", "pong is one CRLF");
        tokio::time::sleep(ms(700)).await;
    }
    // The silent one was closed after its 2 s; the kept one still works.
    assert!(
        closed_within(&mut idle, ms(100)).await,
        "an idle connection outlived connection_idle_secs"
    );
    assert!(
        answers(&mut kept, d.sip).await,
        "kept-alive connection closed"
    );
    // Silent from now on: closed too.
    assert!(closed_within(&mut kept, secs(4)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_dribbled_slowly_is_cut_off_while_others_are_served() {
    let d = daemon("message_timeout_ms = 1000").await;
    let mut slow = connect_from("127.0.0.1", d.sip).await;
    let mut fine = connect_from("127.0.0.1", d.sip).await;
    let msg = options(slow.local_addr().unwrap(), d.sip, "");
    let start = Instant::now();
    let mut cut = None;
    // One byte every 100 ms: the connection is never idle, but the
    // message would take seconds.
    for b in &msg {
        if slow.write_all(&[*b]).await.is_err() {
            cut = Some(start.elapsed());
            break;
        }
        if closed_within(&mut slow, ms(100)).await {
            cut = Some(start.elapsed());
            break;
        }
    }
    let cut = cut.expect("a message dribbled over seconds was accepted");
    assert!(
        cut >= ms(900),
        "cut after {cut:?}, before message_timeout_ms"
    );
    assert!(answers(&mut fine, d.sip).await);
    // The same bytes sent at once are answered.
    let mut quick = connect_from("127.0.0.1", d.sip).await;
    assert!(answers(&mut quick, d.sip).await);
    assert!(d.log_tail(200).contains("message_timeout_ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_limit_closes_the_connection() {
    let d = daemon("max_message_bytes = 2048").await;
    let mut big = connect_from("127.0.0.1", d.sip).await;
    let local = big.local_addr().unwrap();
    // Only the headers are sent: the announced length alone is too much.
    let msg = options(local, d.sip, &"x".repeat(4000));
    let head_end = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    big.write_all(&msg[..head_end]).await.unwrap();
    assert!(
        closed_within(&mut big, secs(3)).await,
        "a 4000-byte body under a 2048-byte limit was waited for"
    );
    // Headers that never end are cut off at the limit too.
    let mut endless = connect_from("127.0.0.1", d.sip).await;
    let mut head = b"OPTIONS sip:survey@127.0.0.1 SIP/2.0\r\nX-Filler: ".to_vec();
    head.resize(3000, b'a');
    endless.write_all(&head).await.unwrap();
    assert!(closed_within(&mut endless, secs(3)).await);
    // A message within the limit, body and all, is answered.
    let mut ok = connect_from("127.0.0.1", d.sip).await;
    let small = options(ok.local_addr().unwrap(), d.sip, &"y".repeat(1000));
    ok.write_all(&small).await.unwrap();
    let line = status_line(&mut ok, secs(5)).await;
    assert!(
        line.as_deref()
            .is_some_and(|l| l.starts_with("SIP/2.0 200")),
        "{line:?}"
    );
}
