//! Keys sent in SIP INFO (src/media/dtmf/info.rs): the whole request
//! through the message parser, then its Content-Type and body (read as the
//! daemon reads it, lossily as UTF-8) through the key parser. Also the body
//! alone under both content types, so the fuzzer need not build a message
//! to reach it.
//!
//! Invariant: a key found is one of the 16 DTMF keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smileyd::media::parse_info;
use smileyd::sip::message::parse;

fn check(key: Option<char>) {
    if let Some(k) = key {
        assert!("0123456789*#ABCD".contains(k), "key {k:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = parse(data, true) {
        if let Some(ct) = msg.content_type() {
            check(parse_info(ct, &String::from_utf8_lossy(&msg.body)));
        }
    }
    let body = String::from_utf8_lossy(data);
    check(parse_info("application/dtmf-relay", &body));
    check(parse_info("application/dtmf", &body));
});
