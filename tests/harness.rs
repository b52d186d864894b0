//! Self-checks of the test harness (no daemon needed): the SIP parser, the
//! G.711 codecs, tone classification, RFC 4733 event shapes and the SDP
//! answer checks. If these fail, the other tests' verdicts mean nothing.

mod common;

use common::rtp::{segments, RtpEndpoint};
use common::sdp::check_answer;
use common::sip::*;
use common::tones::{classify, Sound};
use common::*;

#[test]
fn sip_parser_handles_compact_folded_and_multi_via() {
    let raw = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa;rport=5071;received=127.0.0.1\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb, SIP/2.0/TCP h;branch=z9hG4bKc\r\nt: sip:survey@h\r\n ;tag=abc\r\nf: \"x, y\" <sip:a@b>;tag=1\r\ni: cid\r\nCSeq: 7 INVITE\r\nl: 3\r\n\r\nabcdef";
    let m = SipMessage::parse(raw).unwrap();
    assert_eq!(m.code(), Some(200));
    assert_eq!(m.vias().len(), 3);
    assert_eq!(m.tag_in_to().as_deref(), Some("abc"));
    assert_eq!(m.tag_in_from().as_deref(), Some("1"));
    assert_eq!(m.body, b"abc");
    assert_eq!(m.branch().as_deref(), Some("z9hG4bKa"));
    let v = m.top_via().unwrap();
    assert_eq!(
        v.response_target("127.0.0.1:1".parse().unwrap()),
        Some("127.0.0.1:5071".parse().unwrap())
    );
    assert_eq!(
        uri_host_port("sip:survey@127.0.0.1:5080;transport=tcp"),
        Some(("127.0.0.1".into(), Some(5080)))
    );
    assert_eq!(
        uri_host_port("<sip:127.0.0.1:7;transport=udp>"),
        Some(("127.0.0.1".into(), Some(7)))
    );
    assert_eq!(without_tag("sip:survey@h;tag=abc"), "sip:survey@h");
    assert_eq!(
        without_tag("\"a\" <sip:x@y>;tag=1;foo=2"),
        "\"a\" <sip:x@y>;foo=2"
    );
    assert_eq!(
        name_addr_uri("<sip:127.0.0.1:5;transport=udp>;+sip.instance=\"<urn:uuid:1>\""),
        "sip:127.0.0.1:5;transport=udp"
    );
    let linphone_contact =
        "<sip:127.0.0.1:5;transport=udp>;+sip.instance=\"<urn:uuid:1-2>\";expires=60";
    assert_eq!(
        name_addr_uri(linphone_contact),
        "sip:127.0.0.1:5;transport=udp"
    );
    assert_eq!(header_params(linphone_contact).len(), 2);
    assert_eq!(
        tag_of("\"a <b>\" <sip:x@y>;+sip.instance=\"<urn:uuid:1>\";tag=t1").as_deref(),
        Some("t1")
    );
    assert_eq!(
        without_tag("<sip:x@y>;+sip.instance=\"<urn:1>\";tag=t1"),
        "<sip:x@y>;+sip.instance=\"<urn:1>\""
    );
    assert!(SipMessage::parse(b"\x00\x01garbage").is_err());
}

#[test]
fn request_renders_compact_and_content_length() {
    let mut r = Request::new("OPTIONS", "sip:x@127.0.0.1")
        .h("Via", "SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1")
        .h("Call-ID", "c")
        .h("Supported", "")
        .with_body("text/plain", "hi");
    r.compact = true;
    let s = String::from_utf8(r.to_bytes()).unwrap();
    assert!(
        s.starts_with("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP"),
        "{s}"
    );
    assert!(
        s.contains("\r\ni: c\r\n")
            && s.contains("\r\nk:\r\n")
            && s.contains("\r\nc: text/plain\r\n"),
        "{s}"
    );
    assert!(s.ends_with("l: 2\r\n\r\nhi"), "{s}");
    let m = SipMessage::parse(s.as_bytes()).unwrap();
    assert_eq!(m.method(), Some("OPTIONS"));
    assert_eq!(m.branch().as_deref(), Some("z9hG4bK1"));
}

#[test]
fn g711_round_trip_and_tone_classification() {
    for pt in [0u8, 8] {
        for s in [-32768i16, -8000, -100, 0, 100, 8000, 32767] {
            let back = common::g711::decode(pt, &common::g711::encode(pt, &[s]))[0];
            let err = (back as i32 - s as i32).abs();
            assert!(err <= (s as i32).abs() / 16 + 16, "pt {pt}: {s} -> {back}");
        }
        for p in common::tones::ALL {
            let samples: Vec<i16> = (0..160)
                .map(|i| {
                    ((2.0 * std::f64::consts::PI * p.freq() * (i as f64 + 37.0) / 8000.0).sin()
                        * 8000.0) as i16
                })
                .collect();
            let dec = common::g711::decode(pt, &common::g711::encode(pt, &samples));
            assert_eq!(classify(&dec), Sound::Prompt(p), "pt {pt} {p:?}");
        }
        let silence = common::g711::decode(pt, &[common::g711::silence(pt); 160]);
        assert_eq!(classify(&silence), Sound::Silence);
    }
}

/// Two endpoints on loopback: B hears A's key presses in the shapes the
/// field notes describe.
#[tokio::test]
async fn rtp_events_have_rfc4733_shape() {
    let a = RtpEndpoint::bind().await;
    let b = RtpEndpoint::bind().await;
    a.set_seq(0);
    a.start(b.local, 0, 96);
    a.press('5', DtmfStyle::linphone()).await;
    a.press('#', DtmfStyle::baresip()).await;
    tokio::time::sleep(ms(100)).await;
    let pk = b.packets();
    let ev: Vec<_> = pk.iter().filter(|p| p.pt == 96).collect();
    let five: Vec<_> = ev.iter().filter(|p| p.payload[0] == 5).collect();
    let pound: Vec<_> = ev.iter().filter(|p| p.payload[0] == 11).collect();
    assert_eq!(five.len(), 7 + 3);
    assert!(five[0].marker && five.iter().skip(1).all(|p| !p.marker));
    assert!(
        five.iter().all(|p| p.ts == five[0].ts),
        "one timestamp per event"
    );
    let ends: Vec<_> = five.iter().filter(|p| p.payload[1] & 0x80 != 0).collect();
    assert_eq!(ends.len(), 3);
    assert!(
        ends.iter().all(|p| p.seq == ends[0].seq),
        "linphone: end packets share a seq"
    );
    let durs: Vec<u16> = five
        .iter()
        .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
        .collect();
    assert_eq!(&durs[..3], &[160, 320, 480]);
    assert_eq!(pound.len(), 9 + 3);
    let pends: Vec<_> = pound.iter().filter(|p| p.payload[1] & 0x80 != 0).collect();
    assert_eq!(pends.len(), 3);
    assert!(
        pends[0].seq != pends[1].seq,
        "baresip: end packets take new seqs"
    );
    // baresip interleaves audio: its event seqs step by 2.
    assert_eq!(pound[1].seq.wrapping_sub(pound[0].seq), 2);
    // Audio stream from A is continuous apart from the event.
    let audio: Vec<_> = pk.iter().filter(|p| p.pt == 0).collect();
    assert!(audio.len() > 5);
    assert!(pk.iter().all(|p| p.ssrc == a.ssrc()));
}

#[tokio::test]
async fn tone_segments_are_found() {
    let a = RtpEndpoint::bind().await;
    let b = RtpEndpoint::bind().await;
    a.start(b.local, 8, 101);
    a.set_tone(Some(Prompt::Thanks.freq()));
    tokio::time::sleep(ms(300)).await;
    a.set_tone(None);
    tokio::time::sleep(ms(200)).await;
    let segs = segments(&b.audio());
    let heard: Vec<_> = segs.iter().map(|s| s.sound).collect();
    assert!(heard.contains(&Sound::Prompt(Prompt::Thanks)), "{heard:?}");
    assert!(b.stream_problems().is_empty(), "{:?}", b.stream_problems());
}

#[test]
fn answer_checks_catch_wrong_answers() {
    let addr = "127.0.0.1:4000".parse().unwrap();
    let offer = Offer::linphone(addr, 1);
    let good = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 21000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
    let p = check_answer(&offer, &Sdp::parse(good).unwrap(), Some((21000, 21199)));
    assert!(p.is_empty(), "{p:?}");
    let wrong_te = good
        .replace("101", "99")
        .replace("telephone-event/8000", "telephone-event/48000");
    assert!(!check_answer(&offer, &Sdp::parse(&wrong_te).unwrap(), None).is_empty());
    let pcma_first = good
        .replace("RTP/AVP 0 101", "RTP/AVP 8 101")
        .replace("a=rtpmap:0 PCMU", "a=rtpmap:8 PCMA");
    assert!(!check_answer(&offer, &Sdp::parse(&pcma_first).unwrap(), None).is_empty());
    let hold = Offer {
        direction: Direction::SendOnly,
        ..Offer::baresip(addr, 1)
    };
    let sendrecv = good.to_string() + "a=sendrecv\r\n";
    assert!(!check_answer(&hold, &Sdp::parse(&sendrecv).unwrap(), None).is_empty());
}

/// The UA against a tiny hand-written UAS: transaction matching, ACK and
/// automatic 200 for an incoming BYE.
#[tokio::test]
async fn ua_transaction_and_auto_bye_answer() {
    let uas = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uas_addr = uas.local_addr().unwrap();
    let ua = SipUa::udp(uas_addr).await;
    let opts = InviteOpts::new(UaStyle::Linphone, "a");
    let invite = build_invite(&ua, uas_addr, &opts, Some("v=0\r\n"));
    let server = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let (n, src) = uas.recv_from(&mut buf).await.unwrap();
        let req = SipMessage::parse(&buf[..n]).unwrap();
        uas.send_to(&sip::response_to(&req, 100, "Trying", None, &[], None), src)
            .await
            .unwrap();
        let ok = sip::response_to(
            &req,
            200,
            "OK",
            Some("uastag"),
            &[("Contact", &format!("<sip:s@{uas_addr}>"))],
            None,
        );
        uas.send_to(&ok, src).await.unwrap();
        let (n, _) = uas.recv_from(&mut buf).await.unwrap();
        let ack = SipMessage::parse(&buf[..n]).unwrap();
        // Now the UAS hangs up.
        let bye = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {uas_addr};branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\nFrom: <sip:survey@127.0.0.1>;tag=uastag\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            req.contact_uri().unwrap(),
            req.header("From").unwrap(),
            req.call_id().unwrap()
        );
        uas.send_to(bye.as_bytes(), src).await.unwrap();
        let (n, _) = uas.recv_from(&mut buf).await.unwrap();
        (ack, SipMessage::parse(&buf[..n]).unwrap())
    });
    let rs = ua.transaction(&invite, secs(5)).await;
    assert_eq!(
        rs.iter().map(|r| r.code().unwrap()).collect::<Vec<_>>(),
        vec![100, 200]
    );
    for r in &rs {
        assert!(
            response_problems(&invite, r).is_empty(),
            "{:?}",
            response_problems(&invite, r)
        );
    }
    let dialog = Dialog::from_2xx(&invite, &rs[1]);
    assert_eq!(dialog.remote_uri, "sip:survey@127.0.0.1");
    ua.send_ack(&dialog.ack(&ua, None)).await;
    let (ack, bye_ok) = server.await.unwrap();
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.tag_in_to().as_deref(), Some("uastag"));
    assert_eq!(ack.cseq().unwrap().1, "ACK");
    assert_eq!(bye_ok.code(), Some(200));
    assert_eq!(bye_ok.cseq().unwrap().1, "BYE");
    assert!(ua.violations().is_empty(), "{:?}", ua.violations());
}
