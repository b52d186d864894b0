//! Placing survey calls the way real phones and PBXes do, on top of the UA
//! (sip.rs), the SDP shapes (sdp.rs) and the RTP endpoint (rtp.rs).

use std::time::{Duration, Instant};

use super::daemon::Daemon;
use super::rtp::{DtmfStyle, RtpEndpoint};
use super::sdp::{check_answer, Direction, Offer, Sdp};
use super::sip::*;
use super::tones::Prompt;

/// Which softphone's header shapes to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UaStyle {
    /// baresip 1.0: empty Supported, Allow without spaces, rport.
    Baresip,
    /// linphone 5.1: To without angle brackets or port, +sip.instance.
    Linphone,
    /// What a PBX's B2BUA leg typically looks like.
    Pbx,
}

#[derive(Clone, Debug)]
pub struct InviteOpts {
    pub style: UaStyle,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub original_call_id: Option<String>,
    pub caller: String,
    pub compact: bool,
    /// Extra Via values below ours (as if proxies had forwarded the request).
    pub lower_vias: Vec<String>,
    /// Put the extra Vias in the same header line, comma-separated.
    pub vias_in_one_line: bool,
    pub extra_headers: Vec<(String, String)>,
}

impl InviteOpts {
    pub fn new(style: UaStyle, agent: &str) -> InviteOpts {
        InviteOpts {
            style,
            agent: Some(agent.to_string()),
            queue: Some("support".into()),
            original_call_id: Some(format!("orig-{}", random_hex(12))),
            caller: "+4520304050".into(),
            compact: false,
            lower_vias: Vec::new(),
            vias_in_one_line: false,
            extra_headers: Vec::new(),
        }
    }
}

/// A unique agent id for one test.
pub fn agent(test: &str) -> String {
    format!("{test}-{}", random_hex(6))
}

/// Build an INVITE as `opts.style` would; body None = delayed offer.
pub fn build_invite(
    ua: &SipUa,
    d_sip: std::net::SocketAddr,
    opts: &InviteOpts,
    body: Option<&str>,
) -> Request {
    let branch = new_branch();
    let tag = new_tag();
    let call_id = new_call_id();
    let cseq = ua.next_cseq();
    let ruri = format!("sip:survey@{d_sip}");
    let mut r = Request::new("INVITE", &ruri);
    let mut via = ua.via(&branch);
    if opts.vias_in_one_line && !opts.lower_vias.is_empty() {
        via = format!("{via}, {}", opts.lower_vias.join(", "));
        r.push("Via", via);
    } else {
        r.push("Via", via);
        for v in &opts.lower_vias {
            r.push("Via", v.clone());
        }
    }
    let transport_param = match ua.transport {
        "TCP" => ";transport=tcp",
        "TLS" => ";transport=tls",
        _ => "",
    };
    match opts.style {
        UaStyle::Baresip => {
            r.push(
                "Contact",
                format!(
                    "<sip:caller-0x{}@{}{transport_param}>",
                    random_hex(8),
                    ua.local
                ),
            );
            r.push("Max-Forwards", "70");
            r.push("To", format!("<sip:survey@{d_sip}>"));
            r.push("From", format!("<sip:{}@127.0.0.1>;tag={tag}", opts.caller));
            r.push("Call-ID", call_id);
            r.push("CSeq", format!("{cseq} INVITE"));
            r.push(
                "Allow",
                "INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER",
            );
            r.push("Supported", "");
            r.push("User-Agent", "baresip v1.0.0 (x86_64/linux)");
        }
        UaStyle::Linphone => {
            r.push(
                "From",
                format!("\"caller\" <sip:{}@127.0.0.1>;tag={tag}", opts.caller),
            );
            r.push("To", "sip:survey@127.0.0.1");
            r.push("CSeq", format!("{cseq} INVITE"));
            r.push("Call-ID", call_id);
            r.push("Max-Forwards", "70");
            r.push("Supported", "replaces, outbound, gruu");
            r.push(
                "Allow",
                "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE",
            );
            let t = ua.transport.to_ascii_lowercase();
            r.push(
                "Contact",
                format!(
                    "<sip:{};transport={t}>;+sip.instance=\"<urn:uuid:{}-{}-4{}-8{}-{}>\"",
                    ua.local,
                    random_hex(8),
                    random_hex(4),
                    random_hex(3),
                    random_hex(3),
                    random_hex(12)
                ),
            );
            r.push(
                "User-Agent",
                "Linphone Desktop/5.1.2 (Debian GNU/Linux 12 (bookworm)) LinphoneCore/5.2.0",
            );
        }
        UaStyle::Pbx => {
            r.push("Max-Forwards", "69");
            r.push(
                "From",
                format!("\"Caller\" <sip:{}@127.0.0.1>;tag={tag}", opts.caller),
            );
            r.push("To", format!("<sip:survey@{d_sip}>"));
            r.push(
                "Contact",
                format!("<sip:pbx@{}{transport_param}>", ua.local),
            );
            r.push("Call-ID", call_id);
            r.push("CSeq", format!("{cseq} INVITE"));
            r.push("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE");
            r.push("Supported", "replaces, timer");
            r.push("User-Agent", "Asterisk PBX 20.5.0");
        }
    }
    if let Some(a) = &opts.agent {
        r.push("X-Agent-Id", a.clone());
    }
    if let Some(q) = &opts.queue {
        r.push("X-Queue", q.clone());
    }
    if let Some(o) = &opts.original_call_id {
        r.push("X-Original-Call-Id", o.clone());
    }
    for (n, v) in &opts.extra_headers {
        r.push(n, v.clone());
    }
    if let Some(b) = body {
        r = r.with_body("application/sdp", b);
    }
    r.compact = opts.compact;
    r
}

/// Checks that every response must pass (RFC 3261 8.2.6.2 / 8.1.3.3):
/// Via list, From, Call-ID and CSeq echoed; To tag on non-100 responses.
pub fn response_problems(req: &Request, resp: &SipMessage) -> Vec<String> {
    let mut p = Vec::new();
    let what = resp.summary();
    let sent_vias: Vec<String> = req
        .headers
        .iter()
        .filter(|(n, _)| long_name(n).eq_ignore_ascii_case("Via"))
        .flat_map(|(_, v)| split_commas(v))
        .map(|v| norm(&v))
        .collect();
    let got_vias: Vec<String> = resp.vias().iter().map(|v| norm(v)).collect();
    // The top Via may gain received/rport values; compare branch/sent-by of
    // the top one and the rest verbatim.
    if got_vias.len() != sent_vias.len() {
        p.push(format!(
            "{what}: {} Via values, the request had {}",
            got_vias.len(),
            sent_vias.len()
        ));
    } else {
        if resp.branch().as_deref() != Some(req.branch().as_str()) {
            p.push(format!(
                "{what}: top Via branch {:?} != {:?}",
                resp.branch(),
                req.branch()
            ));
        }
        for (i, (a, b)) in got_vias.iter().zip(sent_vias.iter()).enumerate().skip(1) {
            if a != b {
                p.push(format!("{what}: Via #{i} changed: {a:?} != {b:?}"));
            }
        }
    }
    if resp.call_id() != Some(req.call_id().as_str()) {
        p.push(format!(
            "{what}: Call-ID {:?} != {:?}",
            resp.call_id(),
            req.call_id()
        ));
    }
    let (n, m) = req.cseq();
    match resp.cseq() {
        Some((rn, rm)) if rn == n && rm == m => {}
        other => p.push(format!("{what}: CSeq {other:?} != {n} {m}")),
    }
    let sent_from_tag = req.get("From").and_then(tag_of);
    if resp.tag_in_from() != sent_from_tag {
        p.push(format!(
            "{what}: From tag {:?} != {:?}",
            resp.tag_in_from(),
            sent_from_tag
        ));
    }
    let code = resp.code().unwrap_or(0);
    let req_to_tag = req.get("To").and_then(tag_of);
    match (&req_to_tag, resp.tag_in_to()) {
        (Some(a), Some(b)) if *a != b => p.push(format!("{what}: To tag changed {a} -> {b}")),
        (Some(_), None) => p.push(format!("{what}: To tag dropped")),
        (None, None) if code > 100 => p.push(format!("{what}: no To tag (RFC 3261 8.2.6.2)")),
        _ => {}
    }
    p
}

/// An established survey call.
pub struct Call {
    pub ua: SipUa,
    pub dialog: Dialog,
    pub invite: Request,
    pub offer: Option<Offer>,
    pub answer: Sdp,
    pub ok: SipMessage,
    pub responses: Vec<SipMessage>,
    pub rtp: RtpEndpoint,
    pub audio_pt: u8,
    pub event_pt: u8,
    pub answered_at: Instant,
    pub dtmf: DtmfStyle,
}

/// Which offer shape to send.
#[derive(Clone, Debug)]
pub enum OfferKind {
    Baresip,
    Linphone,
    /// Explicit payload types (see sdp::Offer::plain).
    Plain(Vec<super::sdp::Fmt>),
    /// No SDP in the INVITE: the 200 carries the offer, the ACK the answer.
    Delayed,
    /// baresip's offer as RTP/SAVP with one a=crypto (tag 1) carrying this
    /// key||salt; the call then runs SRTP (see srtp.rs).
    Srtp {
        suite: &'static str,
        key: [u8; 30],
    },
}

impl Call {
    /// INVITE → 100/200 → ACK → RTP flowing. Panics with the exchange on
    /// anything but a proper answer.
    pub async fn place(d: &Daemon, ua: &SipUa, opts: InviteOpts, kind: OfferKind) -> Call {
        let rtp = RtpEndpoint::bind().await;
        let offer = match &kind {
            OfferKind::Baresip => Some(Offer::baresip(rtp.local, rtp.ssrc())),
            OfferKind::Linphone => Some(Offer::linphone(rtp.local, rtp.ssrc())),
            OfferKind::Plain(f) => Some(Offer::plain(rtp.local, f.clone())),
            OfferKind::Delayed => None,
            OfferKind::Srtp { suite, key } => Some(Offer {
                crypto: vec![super::srtp::crypto_line(1, suite, key)],
                ..Offer::baresip(rtp.local, rtp.ssrc())
            }),
        };
        let body = offer.as_ref().map(|o| o.render());
        let invite = build_invite(ua, d.sip, &opts, body.as_deref());
        let responses = ua.transaction(&invite, Duration::from_secs(10)).await;
        let ok = responses.last().unwrap().clone();
        assert_eq!(
            ok.code(),
            Some(200),
            "INVITE answered {}, expected 200\n--- sent ---\n{}\n--- got ---\n{}",
            ok.summary(),
            String::from_utf8_lossy(&invite.to_bytes()),
            ok.text()
        );
        let mut problems = Vec::new();
        for r in &responses {
            problems.extend(response_problems(&invite, r));
        }
        if ok.header("Contact").is_none() {
            problems.push("200 OK without Contact".into());
        }
        match ok.contact_uri().as_deref().and_then(uri_host_port) {
            Some((h, p)) => {
                let port = p.unwrap_or(if ua.transport == "TLS" { 5061 } else { 5060 });
                if h != "127.0.0.1" || port != ua.daemon.port() {
                    problems.push(format!(
                        "200 OK Contact {:?} does not lead back to the daemon at {} (in-dialog requests would be lost)",
                        ok.header("Contact"),
                        d.sip
                    ));
                }
            }
            None => problems.push(format!(
                "200 OK Contact not a SIP URI: {:?}",
                ok.header("Contact")
            )),
        }
        if ok.content_type().as_deref() != Some("application/sdp") {
            problems.push(format!(
                "200 OK Content-Type {:?}, expected application/sdp",
                ok.content_type()
            ));
        }
        let sdp =
            Sdp::parse(&ok.body_str()).unwrap_or_else(|e| panic!("200 OK SDP: {e}\n{}", ok.text()));
        let dialog = Dialog::from_2xx(&invite, &ok);
        let (audio_pt, event_pt, ack_body) = match &offer {
            Some(o) => {
                problems.extend(check_answer(o, &sdp, Some(d.rtp_ports)));
                if sdp.direction != Direction::SendRecv {
                    problems.push(format!(
                        "answer direction {:?}; the survey needs sendrecv",
                        sdp.direction
                    ));
                }
                let apt = sdp.first_g711().unwrap_or(0);
                let ept = sdp.event_pt_8k().unwrap_or(101);
                (apt, ept, None)
            }
            None => {
                // Delayed offer: answer the daemon's offer in the ACK.
                let mut p = sdp.problems.clone();
                let apt = sdp.first_g711();
                if apt.is_none() {
                    p.push(format!("offer in 200 OK has no PCMU/PCMA: {:?}", sdp.pts));
                }
                let ept = sdp.event_pt_8k();
                if ept.is_none() {
                    p.push(format!(
                        "offer in 200 OK has no telephone-event/8000: {:?}",
                        sdp.rtpmaps
                    ));
                }
                if sdp.port < d.rtp_ports.0 || sdp.port > d.rtp_ports.1 {
                    p.push(format!(
                        "offer port {} outside --rtp-ports {:?}",
                        sdp.port, d.rtp_ports
                    ));
                }
                problems.extend(p);
                let apt = apt.unwrap_or(0);
                let ept = ept.unwrap_or(101);
                let enc = if apt == 8 { "PCMA/8000" } else { "PCMU/8000" };
                let mut answer = Offer::plain(
                    rtp.local,
                    vec![
                        super::sdp::fmt(apt, enc),
                        super::sdp::fmt_fmtp(ept, "telephone-event/8000", "0-15"),
                    ],
                );
                // An RTP/SAVP offer: answered with its first a=crypto's tag
                // and suite and a key of ours (RFC 4568 §7.1.2).
                if let Some(c) = sdp.crypto.first() {
                    let (tag, suite, theirs) = super::srtp::parse_crypto(c);
                    let ours: [u8; 30] = rand::random();
                    answer.crypto = vec![super::srtp::crypto_line(tag, &suite, &ours)];
                    let tag_len = super::srtp::tag_len(&suite);
                    rtp.set_srtp(
                        super::srtp::Srtp::new(&ours, tag_len),
                        super::srtp::Srtp::new(&theirs, tag_len),
                    );
                }
                (apt, ept, Some(answer.render()))
            }
        };
        assert!(
            problems.is_empty(),
            "INVITE exchange problems:\n  {}\n--- sent ---\n{}\n--- 200 OK ---\n{}",
            problems.join("\n  "),
            String::from_utf8_lossy(&invite.to_bytes()),
            ok.text()
        );
        // RFC 4568 §7.1.2: one a=crypto with our tag and suite, and the
        // daemon's own key, before any media flows.
        if let OfferKind::Srtp { suite, key } = &kind {
            assert_eq!(
                sdp.crypto.len(),
                1,
                "one a=crypto in the answer:\n{}",
                ok.text()
            );
            let (tag, answered, theirs) = super::srtp::parse_crypto(&sdp.crypto[0]);
            assert_eq!((tag, answered.as_str()), (1, *suite), "{}", ok.text());
            assert_ne!(&theirs, key, "the daemon answered with our own key");
            let tag_len = super::srtp::tag_len(suite);
            rtp.set_srtp(
                super::srtp::Srtp::new(key, tag_len),
                super::srtp::Srtp::new(&theirs, tag_len),
            );
        }
        let ack = dialog.ack(ua, ack_body.as_deref());
        ua.send_ack(&ack).await;
        let remote = sdp.media_addr().expect("media address in SDP");
        if let Some(b) = body.as_deref().or(ack_body.as_deref()) {
            ua.set_local_sdp(b);
        }
        rtp.start(remote, audio_pt, event_pt);
        let dtmf = match opts.style {
            UaStyle::Linphone => DtmfStyle::linphone(),
            _ => DtmfStyle::baresip(),
        };
        Call {
            ua: ua.clone(),
            dialog,
            invite,
            offer,
            answer: sdp,
            ok,
            responses,
            rtp,
            audio_pt,
            event_pt,
            answered_at: Instant::now(),
            dtmf,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.dialog.call_id
    }

    /// Waits for the first playing of `prompt`; fails the test with what
    /// was heard instead.
    pub async fn heard(&self, prompt: Prompt, timeout: Duration) {
        self.rtp.wait_heard(prompt, 1, timeout).await.unwrap();
    }

    /// Waits for the first playing of `prompt` to finish.
    pub async fn prompt_done(&self, prompt: Prompt, timeout: Duration) {
        self.rtp.wait_prompt_done(prompt, 1, timeout).await.unwrap();
    }

    /// Press a key as RFC 4733 events in this call's DTMF style.
    pub async fn press(&self, key: char) {
        self.rtp.press(key, self.dtmf.clone()).await;
    }

    /// Send an in-dialog request and wait for its final response.
    pub async fn request(
        &mut self,
        method: &str,
        body: Option<(&str, &str)>,
    ) -> (Request, SipMessage) {
        let mut r = self.dialog.request(&self.ua, method);
        if let Some((ct, b)) = body {
            r = r.with_body(ct, b);
        }
        let rs = self.ua.transaction(&r, Duration::from_secs(10)).await;
        let last = rs.last().unwrap().clone();
        let p = response_problems(&r, &last);
        assert!(
            p.is_empty(),
            "{method} response problems: {p:?}\n{}",
            last.text()
        );
        (r, last)
    }

    /// Our BYE; asserts 200.
    pub async fn hang_up(&mut self) {
        let (_, resp) = self.request("BYE", None).await;
        assert_eq!(resp.code(), Some(200), "BYE → {}", resp.text());
        self.rtp.stop();
    }

    /// INFO with a DTMF body; asserts 200.
    pub async fn info(&mut self, content_type: &str, body: &str) {
        let (_, resp) = self.request("INFO", Some((content_type, body))).await;
        assert_eq!(
            resp.code(),
            Some(200),
            "INFO ({content_type}) → {}",
            resp.text()
        );
    }

    /// Wait for the daemon's BYE (answered 200 by the UA) and check it
    /// belongs to our dialog (RFC 3261 12.2.1.1).
    pub async fn expect_daemon_bye(&self, timeout: Duration) -> Incoming {
        let bye = match self
            .ua
            .wait_request("BYE", Some(self.call_id()), timeout)
            .await
        {
            Some(b) => b,
            None => panic!(
                "no BYE from the daemon within {timeout:?}; heard: {}; SIP received: {:?}",
                self.rtp.describe_heard(),
                self.ua
                    .received()
                    .iter()
                    .map(|i| i.msg.summary())
                    .collect::<Vec<_>>()
            ),
        };
        let m = &bye.msg;
        let mut p = Vec::new();
        if m.tag_in_to().as_deref() != Some(self.dialog.local_tag.as_str()) {
            p.push(format!(
                "BYE To tag {:?} != our From tag {}",
                m.tag_in_to(),
                self.dialog.local_tag
            ));
        }
        if m.tag_in_from().as_deref() != Some(self.dialog.remote_tag.as_str()) {
            p.push(format!(
                "BYE From tag {:?} != the daemon's To tag {}",
                m.tag_in_from(),
                self.dialog.remote_tag
            ));
        }
        let our_contact = name_addr_uri(&self.dialog.contact);
        if m.uri() != Some(our_contact.as_str()) {
            p.push(format!(
                "BYE Request-URI {:?} is not our Contact {our_contact:?} (RFC 3261 12.2.1.1: remote target)",
                m.uri()
            ));
        }
        if let Some((n, _)) = m.cseq() {
            // Any number is fine for the daemon's first request; it must be a number.
            let _ = n;
        }
        if let Some(via) = m.top_via() {
            if !via.transport.eq_ignore_ascii_case(self.ua.transport) {
                p.push(format!(
                    "BYE Via transport {} on a {} dialog",
                    via.transport, self.ua.transport
                ));
            }
        }
        p.extend(self.ua.violations());
        assert!(
            p.is_empty(),
            "daemon BYE problems:\n  {}\n{}",
            p.join("\n  "),
            m.text()
        );
        bye
    }

    /// Assert the UA saw nothing a real phone would choke on.
    pub fn assert_clean(&self) {
        let v = self.ua.violations();
        assert!(
            v.is_empty(),
            "protocol problems seen by the UA:\n  {}",
            v.join("\n  ")
        );
        let u = self.ua.unparsable();
        assert!(u.is_empty(), "unparsable SIP from the daemon: {u:?}");
    }

    /// Assert the daemon's RTP stream was well formed and came from the
    /// port in its SDP (symmetric RTP, RFC 4961).
    pub fn assert_media_ok(&self) {
        let audio = self.rtp.audio();
        let mut p = self.rtp.stream_problems();
        if let Some(m) = self.answer.media_addr() {
            let wrong: Vec<_> = audio.iter().filter(|a| a.src != m).map(|a| a.src).collect();
            if !wrong.is_empty() {
                p.push(format!(
                    "{} RTP packets came from {:?}, not the SDP address {m} (symmetric RTP)",
                    wrong.len(),
                    wrong[0]
                ));
            }
        }
        let bad_pt: Vec<u8> = audio
            .iter()
            .map(|a| a.pt)
            .filter(|pt| *pt != self.audio_pt)
            .collect();
        if !bad_pt.is_empty() {
            p.push(format!(
                "daemon sent PT {:?}, negotiated {}",
                bad_pt[0], self.audio_pt
            ));
        }
        assert!(p.is_empty(), "RTP from the daemon:\n  {}", p.join("\n  "));
    }
}

/// The usual ending: wait until the survey prompt has played, press `key`
/// over RFC 4733, hear "thanks", get the daemon's BYE.
pub async fn survey_with_key(call: &Call, key: char) {
    call.rtp
        .wait_prompt_done(super::tones::Prompt::Survey, 1, Duration::from_secs(8))
        .await
        .unwrap();
    call.press(key).await;
    call.rtp
        .wait_heard(super::tones::Prompt::Thanks, 1, Duration::from_secs(8))
        .await
        .unwrap();
    call.expect_daemon_bye(Duration::from_secs(8)).await;
}

/// One measurement for the agent, matching the call.
pub async fn assert_rated(
    d: &Daemon,
    opts: &InviteOpts,
    call_id: &str,
    rating: &str,
    digit: &str,
    source: &str,
) -> serde_json::Value {
    let agent = opts.agent.as_deref().expect("agent");
    let items = d.api.wait_items(agent, 1, Duration::from_secs(5)).await;
    assert_eq!(items.len(), 1, "measurements for {agent}: {items:?}");
    let it = &items[0];
    let s = |k: &str| it[k].as_str().unwrap_or_default().to_string();
    let mut p = Vec::new();
    if it["id"].is_null() {
        p.push("id missing".to_string());
    }
    for (k, want) in [
        ("agent", agent),
        ("rating", rating),
        ("digit", digit),
        ("dtmf_source", source),
        ("call_id", call_id),
    ] {
        if s(k) != want {
            p.push(format!("{k} = {}, expected {want:?}", it[k]));
        }
    }
    if let Some(q) = &opts.queue {
        if s("queue") != *q {
            p.push(format!("queue = {}, expected {q:?}", it["queue"]));
        }
    }
    if let Some(o) = &opts.original_call_id {
        if s("original_call_id") != *o {
            p.push(format!(
                "original_call_id = {}, expected {o:?}",
                it["original_call_id"]
            ));
        }
    }
    if !s("caller").contains(&opts.caller) {
        p.push(format!(
            "caller = {}, expected it to name {}",
            it["caller"], opts.caller
        ));
    }
    if s("created_at").is_empty() {
        p.push(format!("created_at = {}", it["created_at"]));
    } else if chrono::DateTime::parse_from_rfc3339(&s("created_at")).is_err() {
        p.push(format!("created_at {} is not RFC 3339", it["created_at"]));
    }
    for k in ["survey", "comment_url"] {
        if it.get(k).is_none() {
            p.push(format!("field {k} missing"));
        }
    }
    assert!(
        p.is_empty(),
        "measurement for {agent}:\n  {}\n{it:#}",
        p.join("\n  ")
    );

    let sat = d.api.satisfaction(agent).await;
    let (h, sd) = if rating == "happy" {
        (1.0, 0.0)
    } else {
        (0.0, 1.0)
    };
    assert_eq!(super::num(&sat["happy"]), h, "satisfaction: {sat}");
    assert_eq!(super::num(&sat["sad"]), sd, "satisfaction: {sat}");
    assert_eq!(super::num(&sat["total"]), 1.0, "satisfaction: {sat}");
    assert!(
        (super::num(&sat["happy_pct"]) - 100.0 * h).abs() < 0.01,
        "satisfaction happy_pct: {sat}"
    );
    assert!(
        sat.get("group").map(|g| g.is_object()).unwrap_or(false),
        "satisfaction group: {sat}"
    );

    let r = d
        .api
        .wait_responses(agent, "rated", 1, Duration::from_secs(3))
        .await;
    assert_eq!(super::num(&r["offered"]), 1.0, "responses: {r}");
    assert_eq!(super::num(&r["rated"]), 1.0, "responses: {r}");
    for k in ["no_input", "hung_up", "failed", "media_timeout"] {
        assert_eq!(super::num(&r[k]), 0.0, "responses {k}: {r}");
    }
    assert!(
        (super::num(&r["response_rate"]) - 1.0).abs() < 1e-6
            || (super::num(&r["response_rate"]) - 100.0).abs() < 1e-6,
        "response_rate: {r}"
    );
    it.clone()
}
