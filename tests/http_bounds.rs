//! What an HTTP client can make the daemon hold, over real sockets: bodies
//! past their route's limit are refused with a JSON 413 before they are
//! read, live event streams are capped, and a client that sends its
//! headers too slowly is disconnected.

mod common;

use std::time::Instant;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` (and `body`) on a new connection and reads the whole
/// response (the request says Connection: close).
async fn raw(d: &Daemon, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(d.http).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write head");
    // The daemon may answer and close before the body is all sent.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_limit_get_413_json() {
    let d = Daemon::start().await;
    // Declared too large: refused from the Content-Length alone.
    let big = vec![b' '; 100 * 1024];
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        d.http,
        big.len()
    );
    let resp = raw(&d, &head, &big).await;
    assert_eq!(status(&resp), 413, "{resp}");
    assert!(resp.contains("\"payload_too_large\""), "{resp}");
    assert!(
        resp.contains("65536 bytes"),
        "the error names the limit: {resp}"
    );

    // Chunked, with no length: refused once the chunks pass the limit.
    let mut chunked = Vec::new();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
        chunked.extend_from_slice(&[b' '; 8192]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "PUT /api/v1/measurements/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/follow-up HTTP/1.1\r\n\
         Host: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        d.http
    );
    let resp = raw(&d, &head, &chunked).await;
    assert_eq!(status(&resp), 413, "{resp}");
    assert!(resp.contains("\"payload_too_large\""), "{resp}");

    // A small body on the same route still gets its usual answer.
    let small = br#"{"token":"smileyd_nope"}"#;
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        d.http,
        small.len()
    );
    let resp = raw(&d, &head, small).await;
    assert_ne!(status(&resp), 413, "{resp}");
    assert_ne!(status(&resp), 0, "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_capped() {
    let d = Daemon::start().await;
    let head = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        d.http
    );
    let mut open = Vec::new();
    for i in 0..100 {
        let mut s = TcpStream::connect(d.http).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(secs(10), s.read(&mut buf))
            .await
            .expect("stream answered")
            .expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(status(&text), 200, "stream {i}: {text}");
        open.push(s);
    }
    let resp = raw(
        &d,
        &format!(
            "GET /api/v1/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\
             Connection: close\r\n\r\n",
            d.http
        ),
        b"",
    )
    .await;
    assert_eq!(status(&resp), 503, "{resp}");
    assert!(resp.contains("\"too_many_streams\""), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("retry-after:"), "{resp}");
    // Closing one frees its place.
    drop(open.pop());
    let deadline = Instant::now() + secs(10);
    loop {
        let mut s = TcpStream::connect(d.http).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.expect("read");
        if status(&String::from_utf8_lossy(&buf[..n])) == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed stream's place never came free"
        );
        tokio::time::sleep(ms(100)).await;
    }
}

/// A client that starts a request and never finishes its headers is
/// disconnected (about 10 s), and meanwhile others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let d = Daemon::start().await;
    let mut slow = TcpStream::connect(d.http).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (st, _, _) = d.api.get("/healthz", &[]).await;
    assert_eq!(st, 200, "another client is served meanwhile");
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let closed = loop {
        match tokio::time::timeout(secs(30), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => continue, // a 408, if any, before the close
            Err(_) => break false,
        }
    };
    assert!(
        closed,
        "a connection with unfinished headers was still open after {:?}",
        started.elapsed()
    );
}
