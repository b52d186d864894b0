//! SRTP (RFC 3711) with SDES keys (RFC 4568) over real sockets: a survey
//! call over TLS rated by an RFC 4733 key, a recorded comment whose stored
//! samples equal what was sent while a tampered and a replayed packet are
//! dropped and counted, the `media.srtp` policy, and SDES keys refused over
//! UDP unless `srtp_allow_keys_in_cleartext` allows them.
//!
//! The caller's side of SRTP (common/srtp.rs) is written from the RFC on
//! the bare AES and HMAC-SHA1 primitives, and checked here against the
//! RFC's Appendix B vectors first: every packet of the daemon's that it
//! accepts is SRTP as the RFC defines it.

mod common;

use std::net::SocketAddr;

use common::call::{assert_rated, survey_with_key};
use common::g711;
use common::pki::Ca;
use common::rtp::{event_payload, rtp_header};
use common::srtp::{derive, keystream, Srtp};
use common::*;

const SUITE_80: &str = "AES_CM_128_HMAC_SHA1_80";
const SUITE_32: &str = "AES_CM_128_HMAC_SHA1_32";

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation).
#[test]
fn caller_side_srtp_matches_rfc3711_appendix_b() {
    // B.2: session key and salt, ROC 0, SEQ 0, SSRC 0.
    let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
    let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap();
    let ks = keystream(&key, &iv, 48);
    assert_eq!(
        ks,
        hex(
            "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB \
             41E95B3BB0A2E8DD477901E4FCA894C0"
        )
    );
    // B.3: master key and salt → cipher key, cipher salt, auth key.
    let mk: [u8; 16] = hex("E1F97A0D3E018BE0D64FA32C06DE4139").try_into().unwrap();
    let ms: [u8; 14] = hex("0EC675AD498AFEEBB6960B3AABE6").try_into().unwrap();
    assert_eq!(
        derive(&mk, &ms, 0, 16),
        hex("C61E7A93744F39EE10734AFE3FF7A087")
    );
    assert_eq!(derive(&mk, &ms, 2, 14), hex("30CBBC08863D8C85D49DB34A9AE1"));
    assert_eq!(
        derive(&mk, &ms, 1, 20),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
    // Round trip across a sequence wrap, and a flipped bit refused.
    let master = [0x42u8; 30];
    let (mut tx, mut rx) = (Srtp::new(&master, 10), Srtp::new(&master, 10));
    for (i, seq) in (65_530u16..=65_535).chain(0..5).enumerate() {
        let mut p = rtp_header(false, 0, seq, i as u32 * 160, 77);
        p.extend_from_slice(&[i as u8; 160]);
        let sealed = tx.protect(&p);
        assert_ne!(sealed[12..172], p[12..]);
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert!(rx.unprotect(&bad).is_none());
        assert_eq!(rx.unprotect(&sealed).as_deref(), Some(&p[..]), "seq {seq}");
    }
}

struct TlsDaemon {
    d: Daemon,
    tls: SocketAddr,
    ca: Ca,
    _pki: tempfile::TempDir,
}

/// A daemon with TLS on (a certificate for 127.0.0.1 from a fresh CA),
/// `media` appended to [media] and `extra` to the file.
async fn tls_daemon(media: &str, extra: &str) -> TlsDaemon {
    let ca = Ca::new("smileyd SRTP test CA");
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = ca
        .leaf(&["localhost", "127.0.0.1"])
        .write(pki.path(), "server");
    let ca_file = ca.write(pki.path(), "ca.pem");
    let port = daemon::free_port();
    let d = Daemon::with_settings(Settings {
        top_toml: format!("sip_tls_listen = \"127.0.0.1:{port}\""),
        media_toml: media.into(),
        extra_toml: format!(
            "\n[tls]\ncert_file = {:?}\nkey_file = {:?}\nca_file = {:?}\n{extra}\n",
            cert.display().to_string(),
            key.display().to_string(),
            ca_file.display().to_string(),
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

async fn tls_ua(t: &TlsDaemon) -> SipUa {
    let leaf = t.ca.leaf(&["127.0.0.1"]);
    SipUa::tls(t.tls, t.ca.client(None), t.ca.server(&leaf)).await
}

fn srtp_offer(suite: &'static str) -> (OfferKind, [u8; 30]) {
    let key: [u8; 30] = rand::random();
    (OfferKind::Srtp { suite, key }, key)
}

/// `smileyd_srtp_dropped_total{reason}`.
async fn dropped(d: &Daemon, reason: &str) -> u64 {
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/metrics", d.api.base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let line = format!("smileyd_srtp_dropped_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("{line} missing from /metrics:\n{text}"))
        .trim()
        .parse()
        .expect("a count")
}

/// Nothing the daemon sent was plain RTP: every datagram authenticated
/// under the caller's RFC 3711 code, and none carries the G.711 it decrypts
/// to in the clear.
fn assert_all_srtp(call: &Call, tag_len: usize) {
    assert_eq!(
        call.rtp.srtp_failed(),
        0,
        "datagrams that did not authenticate"
    );
    let wire = call.rtp.wire_in();
    assert!(!wire.is_empty(), "nothing from the daemon");
    let audio = call.rtp.audio();
    assert!(
        audio.len() >= wire.len(),
        "{} decrypted of {}",
        audio.len(),
        wire.len()
    );
    for (raw, plain) in wire.iter().zip(&audio) {
        assert_eq!(
            raw.len(),
            12 + plain.payload.len() + tag_len,
            "tag on every packet"
        );
        assert_ne!(&raw[12..12 + plain.payload.len()], &plain.payload[..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_call_over_tls_with_srtp_rated_by_rfc4733_key() {
    let t = tls_daemon("", "").await;
    let ua = tls_ua(&t).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("srtp-tls"));
    let (kind, _) = srtp_offer(SUITE_80);
    let call = Call::place(&t.d, &ua, opts.clone(), kind).await;
    // Prompts heard and the key taken: both directions decrypt.
    survey_with_key(&call, '1').await;
    assert_all_srtp(&call, 10);
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&t.d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
    assert_eq!(dropped(&t.d, "auth").await, 0);
    assert_eq!(dropped(&t.d, "replay").await, 0);
}

/// The caller's hand-made stream after the beep: frames protected with the
/// call's key, sent from the call's RTP socket.
struct Talker {
    dest: SocketAddr,
    pt: u8,
    event_pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Talker {
    fn new(call: &Call) -> Talker {
        Talker {
            dest: call.answer.media_addr().expect("media address"),
            pt: call.audio_pt,
            event_pt: call.event_pt,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
        }
    }

    /// One protected audio packet per 160 samples.
    fn packets(&mut self, call: &Call, pcm: &[i16]) -> Vec<Vec<u8>> {
        pcm.chunks(160)
            .map(|c| {
                let mut p = rtp_header(false, self.pt, self.seq, self.ts, self.ssrc);
                p.extend_from_slice(&g711::encode(self.pt, c));
                self.seq = self.seq.wrapping_add(1);
                self.ts = self.ts.wrapping_add(c.len() as u32);
                call.rtp.protect(&p)
            })
            .collect()
    }

    /// '#' as RFC 4733 events, protected.
    fn pound(&mut self, call: &Call) -> Vec<Vec<u8>> {
        (0..6)
            .map(|i| {
                let dur = (160 * (i + 1)).min(800) as u16;
                let mut e = rtp_header(i == 0, self.event_pt, self.seq, self.ts, self.ssrc);
                e.extend_from_slice(&event_payload(11, i >= 3, 10, dur));
                self.seq = self.seq.wrapping_add(1);
                call.rtp.protect(&e)
            })
            .collect()
    }
}

async fn send_paced(call: &Call, dest: SocketAddr, packets: &[Vec<u8>]) {
    let mut tick = tokio::time::interval(ms(20));
    for p in packets {
        tick.tick().await;
        call.rtp.send_raw(dest, p).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_comment_over_srtp_is_what_was_sent_and_forgeries_are_dropped() {
    let t = tls_daemon("", "\n[surveys.smiley]\ncomment = \"always\"\n").await;
    let ua = tls_ua(&t).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("srtp-comment"));
    let (kind, _) = srtp_offer(SUITE_32);
    let call = Call::place(&t.d, &ua, opts.clone(), kind).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.press('2').await;
    call.heard(Prompt::Comment, secs(8)).await;
    // From here the test speaks for the caller; the agent's stream stops so
    // the recording holds exactly what is sent below.
    call.rtp.stop();
    call.prompt_done(Prompt::Beep, secs(8)).await;

    let mut talker = Talker::new(&call);
    // Two seconds of a sweeping tone, loud enough to count as speech.
    let pcm: Vec<i16> = (0..16_000)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (9000.0 * (2.0 * std::f64::consts::PI * (300.0 + 200.0 * t) * t).sin()) as i16
        })
        .collect();
    let packets = talker.packets(&call, &pcm);
    let (first, rest) = packets.split_at(50);
    send_paced(&call, talker.dest, first).await;
    // A forgery of the next frame (one payload bit flipped) goes first: had
    // it been taken, the stored audio would differ from what was sent.
    let mut forged = rest[0].clone();
    forged[30] ^= 0x40;
    call.rtp.send_raw(talker.dest, &forged).await;
    // A replay of a frame already taken.
    call.rtp.send_raw(talker.dest, &first[10]).await;
    send_paced(&call, talker.dest, rest).await;
    let pound = talker.pound(&call);
    send_paced(&call, talker.dest, &pound).await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;

    let agent = opts.agent.as_deref().unwrap();
    let items = t.d.api.wait_items(agent, 1, secs(5)).await;
    let m = &items[0];
    assert_eq!(m["rating"], "sad");
    assert_eq!(m["comment"]["status"], "dtmf", "{m:#}");
    let url = m["comment_url"].as_str().expect("comment_url");
    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}{url}", t.d.api.base))
        .send()
        .await
        .expect("GET comment")
        .bytes()
        .await
        .expect("WAV");
    let samples: Vec<i16> = hound::WavReader::new(std::io::Cursor::new(body.to_vec()))
        .expect("a WAV file")
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let sent: Vec<i16> = pcm
        .chunks(160)
        .flat_map(|c| g711::decode(call.audio_pt, &g711::encode(call.audio_pt, c)))
        .collect();
    assert_eq!(samples.len(), sent.len(), "recorded length");
    assert!(samples == sent, "the recording differs from what was sent");
    assert_eq!(dropped(&t.d, "auth").await, 1, "the forged packet");
    assert_eq!(dropped(&t.d, "replay").await, 1, "the replayed packet");
    assert_all_srtp(&call, 4);
    call.assert_clean();
}

/// INVITE with `body`; the final response.
async fn invite(d: &Daemon, ua: &SipUa, body: &str) -> SipMessage {
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("srtp-refused"));
    let req = build_invite(ua, d.sip, &opts, Some(body));
    let rs = ua.transaction(&req, secs(10)).await;
    rs.last().expect("a response").clone()
}

fn assert_488(resp: &SipMessage, warning: &str) {
    assert_eq!(resp.code(), Some(488), "{}", resp.text());
    let w = resp.header("Warning").unwrap_or_default();
    assert!(w.contains(warning), "Warning {w:?}\n{}", resp.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_offer_is_refused_when_srtp_is_required() {
    let t = tls_daemon("srtp = \"required\"", "").await;
    let ua = tls_ua(&t).await;
    let rtp = RtpEndpoint::bind().await;
    let plain = Offer::baresip(rtp.local, rtp.ssrc()).render();
    let resp = invite(&t.d, &ua, &plain).await;
    assert_488(&resp, "SRTP required");
    // The same caller offering SRTP gets through.
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("srtp-required"));
    let (kind, _) = srtp_offer(SUITE_80);
    let call = Call::place(&t.d, &ua, opts.clone(), kind).await;
    survey_with_key(&call, '1').await;
    assert_all_srtp(&call, 10);
    assert_rated(&t.d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// An INVITE without SDP under "required": our offer in the 200 is
/// RTP/SAVP with our key, the ACK's answer carries the caller's, and the
/// call runs SRTP both ways. Over UDP the same INVITE is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_offer_under_required_is_an_srtp_offer() {
    let t = tls_daemon("srtp = \"required\"", "").await;
    let ua = tls_ua(&t).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("srtp-delayed"));
    let call = Call::place(&t.d, &ua, opts.clone(), OfferKind::Delayed).await;
    assert_eq!(call.answer.proto, "RTP/SAVP", "{}", call.answer.raw);
    let (tag, suite, _) = common::srtp::parse_crypto(&call.answer.crypto[0]);
    assert_eq!((tag, suite.as_str()), (1, SUITE_80));
    survey_with_key(&call, '1').await;
    assert_all_srtp(&call, 10);
    call.assert_clean();
    assert_rated(&t.d, &opts, call.call_id(), "happy", "1", "rfc4733").await;

    let udp = SipUa::udp(t.d.sip).await;
    let req = build_invite(&udp, t.d.sip, &opts, None);
    let resp = udp.transaction(&req, secs(10)).await;
    assert_488(resp.last().unwrap(), "only taken over SIP over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_offer_over_udp_needs_the_cleartext_keys_option() {
    let srtp_body = |rtp: &RtpEndpoint| {
        Offer {
            crypto: vec![common::srtp::crypto_line(1, SUITE_80, &rand::random())],
            ..Offer::baresip(rtp.local, rtp.ssrc())
        }
        .render()
    };
    // Default policy (optional), keys over UDP: refused, saying why.
    let d = Daemon::start().await;
    let allowing = Daemon::with_settings(Settings {
        media_toml: "srtp_allow_keys_in_cleartext = true".into(),
        ..Default::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let rtp = RtpEndpoint::bind().await;
    let resp = invite(&d, &ua, &srtp_body(&rtp)).await;
    assert_488(&resp, "only taken over SIP over TLS");
    // Offered beside plain RTP (best-effort SRTP), the plain stream is taken.
    let both = srtp_body(&rtp).replace(
        "m=audio",
        &format!(
            "m=audio {} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\nm=audio",
            rtp.local.port() + 2
        ),
    );
    let resp = invite(&d, &ua, &both).await;
    assert_eq!(resp.code(), Some(200), "{}", resp.text());
    let answer = Sdp::parse(&resp.body_str()).unwrap();
    assert_eq!(answer.proto, "RTP/AVP", "{}", resp.text());
    assert!(answer.crypto.is_empty(), "{}", resp.text());

    // With the option, the same offer over UDP makes a whole SRTP call.
    let d = allowing;
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    assert!(
        log.contains("srtp_allow_keys_in_cleartext is on"),
        "no start-up warning:\n{log}"
    );
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("srtp-udp"));
    let (kind, _) = srtp_offer(SUITE_80);
    let call = Call::place(&d, &ua, opts.clone(), kind).await;
    survey_with_key(&call, '1').await;
    assert_all_srtp(&call, 10);
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// RFC 4568 §7.1.4: a re-INVITE with the same key keeps ours; one with a
/// new key gets a new one of ours, and the call goes on under both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_keeps_or_changes_the_srtp_keys() {
    let t = tls_daemon("", "").await;
    let ua = tls_ua(&t).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("srtp-rekey"));
    let (kind, key) = srtp_offer(SUITE_80);
    let mut call = Call::place(&t.d, &ua, opts.clone(), kind).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    let answered_key = |sdp: &Sdp| {
        assert_eq!(sdp.crypto.len(), 1, "{}", sdp.raw);
        let (tag, suite, k) = common::srtp::parse_crypto(&sdp.crypto[0]);
        assert_eq!((tag, suite.as_str()), (1, SUITE_80), "{}", sdp.raw);
        k
    };
    let first = answered_key(&call.answer);
    let mut offer = call.offer.clone().unwrap();

    // A refresh with the same key: the same key back.
    offer.version += 1;
    let (_, ok) = call
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    ua.send_ack(&call.dialog.ack(&ua, None)).await;
    let same = Sdp::parse(&ok.body_str()).unwrap();
    assert_eq!(same.proto, "RTP/SAVP");
    assert_eq!(answered_key(&same), first, "key changed on a refresh");

    // A new key of ours: a new one of the daemon's.
    let new_key: [u8; 30] = rand::random();
    offer.version += 1;
    offer.crypto = vec![common::srtp::crypto_line(1, SUITE_80, &new_key)];
    let (_, ok) = call
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    ua.send_ack(&call.dialog.ack(&ua, None)).await;
    let rekeyed = answered_key(&Sdp::parse(&ok.body_str()).unwrap());
    assert!(rekeyed != first && rekeyed != key && rekeyed != new_key);
    call.rtp
        .set_srtp(Srtp::new(&new_key, 10), Srtp::new(&rekeyed, 10));
    // The key goes in under our new key, the thanks come under the daemon's.
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    call.assert_clean();
    assert_rated(&t.d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}
