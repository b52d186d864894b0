//! The TCP stream framer (src/sip/connection.rs, RFC 3261 §18.3) fed a
//! connection's bytes in arbitrary pieces.
//!
//! Invariants: the messages framed, and whether and how the stream breaks,
//! do not depend on how it was cut into reads; every message is at most `MAX_MESSAGE` bytes, starts with
//! neither CR nor LF and holds a whole header section; a framed message the
//! parser accepts has exactly the body its Content-Length declared.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smileyd::fuzzing::{tcp_next_frame, TcpFrame};
use smileyd::sip::message::{header_end, parse, MAX_MESSAGE};

/// Frames the stream read in `cuts`-sized pieces, as the connection task
/// does; stops where the daemon closes the connection (`TooLarge`,
/// `Invalid`), returning the messages and how it ended. Keep-alive pings are
/// not compared: how many CRLF pairs count as pings depends on the reads.
fn frame(stream: &[u8], cuts: &[u8]) -> (Vec<Vec<u8>>, Option<TcpFrame>) {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cut = cuts.iter().cycle();
    while at < stream.len() {
        let n = if cuts.is_empty() {
            stream.len()
        } else {
            usize::from(*cut.next().unwrap()) + 1
        };
        let end = (at + n).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        loop {
            match tcp_next_frame(&mut buf) {
                TcpFrame::Message(m) => out.push(m.to_vec()),
                TcpFrame::Ping => {}
                TcpFrame::Incomplete => break,
                end @ (TcpFrame::TooLarge | TcpFrame::Invalid(_)) => return (out, Some(end)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = rest.split_at(usize::from(n % 16).min(rest.len()));
    let whole = frame(stream, &[]);
    let pieces = frame(stream, cuts);
    assert_eq!(whole, pieces, "framing depends on how reads were cut");

    for m in &whole.0 {
        assert!(m.len() <= MAX_MESSAGE);
        assert!(!matches!(m.first(), Some(b'\r' | b'\n') | None));
        let end = header_end(m).expect("a framed message has a whole header section");
        if let Ok(msg) = parse(m, false) {
            assert_eq!(msg.body.len(), m.len() - end, "body is not what was framed");
        }
    }
});
