//! SDP offers shaped like the ones real phones send (see
//! shared/field-notes.md), and a small parser for the daemon's answers and
//! offers (RFC 4566 / RFC 3264).

use std::fmt::Write;
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// One payload type in an offer.
#[derive(Clone, Debug)]
pub struct Fmt {
    pub pt: u8,
    /// e.g. "PCMU/8000", "telephone-event/8000", "opus/48000/2"; None for
    /// a static PT offered without rtpmap.
    pub rtpmap: Option<String>,
    pub fmtp: Option<String>,
}

pub fn fmt(pt: u8, rtpmap: &str) -> Fmt {
    Fmt {
        pt,
        rtpmap: Some(rtpmap.to_string()),
        fmtp: None,
    }
}

pub fn fmt_fmtp(pt: u8, rtpmap: &str, fmtp: &str) -> Fmt {
    Fmt {
        pt,
        rtpmap: Some(rtpmap.to_string()),
        fmtp: Some(fmtp.to_string()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpStyle {
    /// baresip 1.0: a=rtcp-rsize, a=ssrc, a=ptime/minptime, a=label, a=tool.
    Baresip,
    /// linphone 5.1: s=Talk, rtcp-xr, rtcp-fb.
    Linphone,
    /// Bare minimum RFC 4566.
    Plain,
}

#[derive(Clone, Debug)]
pub struct Offer {
    pub style: SdpStyle,
    pub addr: SocketAddr,
    pub fmts: Vec<Fmt>,
    pub direction: Direction,
    pub session_id: u64,
    pub version: u64,
    pub ssrc: u32,
    /// a=crypto values (RFC 4568); with any, the stream is RTP/SAVP.
    pub crypto: Vec<String>,
}

impl Offer {
    /// baresip's default: PCMU, PCMA, telephone-event/8000 at PT 101.
    pub fn baresip(addr: SocketAddr, ssrc: u32) -> Offer {
        Offer {
            style: SdpStyle::Baresip,
            addr,
            fmts: vec![
                fmt(0, "PCMU/8000"),
                fmt(8, "PCMA/8000"),
                fmt_fmtp(101, "telephone-event/8000", "0-15"),
            ],
            direction: Direction::SendRecv,
            session_id: rand::random::<u32>() as u64,
            version: rand::random::<u16>() as u64,
            ssrc,
            crypto: Vec::new(),
        }
    }

    /// linphone 5.1 in RFC 4733 mode: opus and speex first, G.711 after,
    /// telephone-event at 48000 (99), 16000 (100) and 8000 (101).
    pub fn linphone(addr: SocketAddr, ssrc: u32) -> Offer {
        Offer {
            style: SdpStyle::Linphone,
            addr,
            fmts: vec![
                fmt_fmtp(96, "opus/48000/2", "useinbandfec=1"),
                fmt_fmtp(97, "speex/16000", "vbr=on"),
                fmt_fmtp(98, "speex/8000", "vbr=on"),
                fmt(0, "PCMU/8000"),
                fmt(8, "PCMA/8000"),
                fmt_fmtp(18, "G729/8000", "annexb=yes"),
                fmt(99, "telephone-event/48000"),
                fmt(100, "telephone-event/16000"),
                fmt_fmtp(101, "telephone-event/8000", "0-15"),
            ],
            direction: Direction::SendRecv,
            session_id: rand::random::<u32>() as u64,
            version: rand::random::<u16>() as u64,
            ssrc,
            crypto: Vec::new(),
        }
    }

    pub fn plain(addr: SocketAddr, fmts: Vec<Fmt>) -> Offer {
        Offer {
            style: SdpStyle::Plain,
            addr,
            fmts,
            direction: Direction::SendRecv,
            session_id: rand::random::<u32>() as u64,
            version: 1,
            ssrc: rand::random(),
            crypto: Vec::new(),
        }
    }

    /// The stream's profile: RTP/SAVP when keys are offered.
    pub fn proto(&self) -> &'static str {
        if self.crypto.is_empty() {
            "RTP/AVP"
        } else {
            "RTP/SAVP"
        }
    }

    pub fn render(&self) -> String {
        let ip = self.addr.ip();
        let port = self.addr.port();
        let pts: Vec<String> = self.fmts.iter().map(|f| f.pt.to_string()).collect();
        let mut s = String::new();
        let user = match self.style {
            SdpStyle::Linphone => "caller",
            _ => "-",
        };
        let _ = write!(
            s,
            "v=0\r\no={user} {} {} IN IP4 {ip}\r\n",
            self.session_id, self.version
        );
        match self.style {
            SdpStyle::Linphone => s.push_str("s=Talk\r\n"),
            _ => s.push_str("s=-\r\n"),
        }
        let _ = write!(s, "c=IN IP4 {ip}\r\nt=0 0\r\n");
        match self.style {
            SdpStyle::Baresip => s.push_str("a=tool:baresip 1.0.0\r\n"),
            SdpStyle::Linphone => s.push_str(
                "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n",
            ),
            SdpStyle::Plain => {}
        }
        let _ = write!(s, "m=audio {port} {} {}\r\n", self.proto(), pts.join(" "));
        for c in &self.crypto {
            let _ = write!(s, "a=crypto:{c}\r\n");
        }
        if self.style == SdpStyle::Baresip {
            s.push_str("b=AS:64\r\n");
        }
        for f in &self.fmts {
            if let Some(m) = &f.rtpmap {
                let _ = write!(s, "a=rtpmap:{} {m}\r\n", f.pt);
            }
            if let Some(p) = &f.fmtp {
                let _ = write!(s, "a=fmtp:{} {p}\r\n", f.pt);
            }
        }
        match self.style {
            SdpStyle::Baresip => {
                s.push_str("a=rtcp-rsize\r\n");
                let _ = write!(
                    s,
                    "a=ssrc:{} cname:caller-{:08x}@baresip\r\n",
                    self.ssrc, self.ssrc
                );
                let _ = write!(s, "a={}\r\n", self.direction.attr());
                s.push_str("a=label:1\r\na=ptime:20\r\na=minptime:20\r\n");
            }
            SdpStyle::Linphone => {
                let _ = write!(s, "a=rtcp:{}\r\n", port + 1);
                s.push_str("a=rtcp-fb:* trr-int 1000\r\na=rtcp-fb:* ccm tmmbr\r\n");
                if self.direction != Direction::SendRecv {
                    let _ = write!(s, "a={}\r\n", self.direction.attr());
                }
            }
            SdpStyle::Plain => {
                let _ = write!(s, "a={}\r\n", self.direction.attr());
            }
        }
        s
    }
}

/// A parsed SDP with one audio stream (the first m=audio).
#[derive(Clone, Debug)]
pub struct Sdp {
    pub raw: String,
    pub origin: Option<String>,
    pub addr: Option<String>,
    pub port: u16,
    pub proto: String,
    pub pts: Vec<u8>,
    /// (pt, "encoding/rate[/ch]") from a=rtpmap in the audio section.
    pub rtpmaps: Vec<(u8, String)>,
    pub fmtps: Vec<(u8, String)>,
    pub direction: Direction,
    pub ptime: Option<u32>,
    /// a=crypto values of the audio stream.
    pub crypto: Vec<String>,
    /// Lines that RFC 4566 requires but were missing, or other problems.
    pub problems: Vec<String>,
}

impl Sdp {
    pub fn parse(text: &str) -> Result<Sdp, String> {
        let mut sdp = Sdp {
            raw: text.to_string(),
            origin: None,
            addr: None,
            port: 0,
            proto: String::new(),
            pts: Vec::new(),
            rtpmaps: Vec::new(),
            fmtps: Vec::new(),
            direction: Direction::SendRecv,
            ptime: None,
            crypto: Vec::new(),
            problems: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        let mut in_audio = false;
        let mut audio_seen = false;
        let mut session_dir = None;
        let mut media_dir = None;
        let mut session_c = None;
        let mut media_c = None;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                sdp.problems.push(format!("line without '=': {line:?}"));
                continue;
            };
            seen.insert(k.to_string());
            match k {
                "o" => sdp.origin = Some(v.to_string()),
                "c" => {
                    let addr = v
                        .split_whitespace()
                        .nth(2)
                        .map(|a| a.split('/').next().unwrap().to_string());
                    if in_audio {
                        media_c = addr;
                    } else if !audio_seen {
                        session_c = addr;
                    }
                }
                "m" => {
                    if in_audio {
                        in_audio = false;
                        continue;
                    }
                    let parts: Vec<&str> = v.split_whitespace().collect();
                    if parts.first() == Some(&"audio") && !audio_seen {
                        audio_seen = true;
                        in_audio = true;
                        sdp.port = parts
                            .get(1)
                            .and_then(|p| p.split('/').next()?.parse().ok())
                            .unwrap_or(0);
                        sdp.proto = parts.get(2).unwrap_or(&"").to_string();
                        for p in parts.iter().skip(3) {
                            match p.parse() {
                                Ok(pt) => sdp.pts.push(pt),
                                Err(_) => sdp.problems.push(format!("bad payload type {p:?}")),
                            }
                        }
                    }
                }
                "a" => {
                    let (name, val) = match v.split_once(':') {
                        Some((n, x)) => (n, Some(x)),
                        None => (v, None),
                    };
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    if let Some(d) = dir {
                        if in_audio {
                            media_dir = Some(d);
                        } else if !audio_seen {
                            session_dir = Some(d);
                        }
                        continue;
                    }
                    if !in_audio {
                        continue;
                    }
                    match (name, val) {
                        ("rtpmap", Some(x)) => {
                            if let Some((pt, enc)) = x.split_once(' ') {
                                if let Ok(pt) = pt.trim().parse() {
                                    sdp.rtpmaps.push((pt, enc.trim().to_string()));
                                }
                            }
                        }
                        ("fmtp", Some(x)) => {
                            if let Some((pt, f)) = x.split_once(' ') {
                                if let Ok(pt) = pt.trim().parse() {
                                    sdp.fmtps.push((pt, f.trim().to_string()));
                                }
                            }
                        }
                        ("ptime", Some(x)) => sdp.ptime = x.trim().parse().ok(),
                        ("crypto", Some(x)) => sdp.crypto.push(x.trim().to_string()),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        for k in ["v", "o", "s", "t", "m"] {
            if !seen.contains(k) {
                sdp.problems.push(format!("missing mandatory {k}= line"));
            }
        }
        if !audio_seen {
            return Err(format!("no m=audio line in SDP:\n{text}"));
        }
        sdp.addr = media_c.or(session_c);
        if sdp.addr.is_none() {
            sdp.problems.push("no c= line for the audio stream".into());
        }
        sdp.direction = media_dir.or(session_dir).unwrap_or(Direction::SendRecv);
        Ok(sdp)
    }

    /// Encoding name (upper-cased, e.g. "PCMU", "TELEPHONE-EVENT") and clock
    /// rate of a payload type, with the RFC 3551 static ones filled in.
    pub fn encoding(&self, pt: u8) -> Option<(String, u32)> {
        if let Some((_, m)) = self.rtpmaps.iter().find(|(p, _)| *p == pt) {
            let mut it = m.split('/');
            let name = it.next()?.to_ascii_uppercase();
            let rate = it.next().and_then(|r| r.parse().ok()).unwrap_or(0);
            return Some((name, rate));
        }
        match pt {
            0 => Some(("PCMU".into(), 8000)),
            8 => Some(("PCMA".into(), 8000)),
            18 => Some(("G729".into(), 8000)),
            _ => None,
        }
    }

    /// Audio payload types (not telephone-event / CN), in m-line order.
    pub fn audio_pts(&self) -> Vec<u8> {
        self.pts
            .iter()
            .copied()
            .filter(|pt| {
                !matches!(
                    self.encoding(*pt).map(|e| e.0).as_deref(),
                    Some("TELEPHONE-EVENT") | Some("CN")
                )
            })
            .collect()
    }

    /// First G.711 payload type in m-line order.
    pub fn first_g711(&self) -> Option<u8> {
        self.pts.iter().copied().find(|pt| {
            matches!(
                self.encoding(*pt).map(|e| e.0).as_deref(),
                Some("PCMU") | Some("PCMA")
            )
        })
    }

    /// Payload types of telephone-event, with their clock rates.
    pub fn event_pts(&self) -> Vec<(u8, u32)> {
        self.pts
            .iter()
            .filter_map(|pt| match self.encoding(*pt) {
                Some((n, r)) if n == "TELEPHONE-EVENT" => Some((*pt, r)),
                _ => None,
            })
            .collect()
    }

    pub fn event_pt_8k(&self) -> Option<u8> {
        self.event_pts()
            .into_iter()
            .find(|(_, r)| *r == 8000)
            .map(|(p, _)| p)
    }

    pub fn media_addr(&self) -> Option<SocketAddr> {
        let ip = self.addr.as_deref()?.parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }

    pub fn session_version(&self) -> Option<u64> {
        self.origin
            .as_deref()?
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    }

    pub fn session_id(&self) -> Option<String> {
        Some(
            self.origin
                .as_deref()?
                .split_whitespace()
                .nth(1)?
                .to_string(),
        )
    }
}

/// Check an SDP answer against our offer (RFC 3264 section 6 and the
/// survey's needs). Returns a list of problems; empty when fine.
pub fn check_answer(offer: &Offer, answer: &Sdp, rtp_range: Option<(u16, u16)>) -> Vec<String> {
    let mut p = answer.problems.clone();
    if answer.proto != offer.proto() {
        p.push(format!(
            "answer proto {:?} is not the offer's {}",
            answer.proto,
            offer.proto()
        ));
    }
    if answer.port == 0 {
        p.push("answer rejected the audio stream (port 0)".into());
    }
    if let Some((lo, hi)) = rtp_range {
        if answer.port != 0 && (answer.port < lo || answer.port > hi) {
            p.push(format!(
                "answer port {} outside --rtp-ports {lo}-{hi}",
                answer.port
            ));
        }
    }
    let offered: Vec<u8> = offer.fmts.iter().map(|f| f.pt).collect();
    for pt in &answer.pts {
        if !offered.contains(pt) {
            p.push(format!("answer has payload type {pt} that was not offered"));
        }
    }
    // The codec: the first G.711 in the caller's order.
    let offer_enc = |pt: u8| -> Option<String> {
        offer
            .fmts
            .iter()
            .find(|f| f.pt == pt)
            .and_then(|f| f.rtpmap.clone())
            .or(match pt {
                0 => Some("PCMU/8000".into()),
                8 => Some("PCMA/8000".into()),
                _ => None,
            })
    };
    let want = offer
        .fmts
        .iter()
        .find(|f| {
            let e = offer_enc(f.pt).unwrap_or_default().to_ascii_uppercase();
            e.starts_with("PCMU/") || e.starts_with("PCMA/")
        })
        .map(|f| f.pt);
    let answer_audio = answer.audio_pts();
    match (want, answer_audio.first()) {
        (Some(w), Some(a)) if w == *a => {}
        (w, a) => p.push(format!(
            "answer's first audio codec is {a:?}, expected the caller's first G.711 {w:?} (m= pts {:?})",
            answer.pts
        )),
    }
    for pt in &answer_audio {
        match answer.encoding(*pt).map(|e| e.0) {
            Some(e) if e == "PCMU" || e == "PCMA" => {}
            other => p.push(format!(
                "answer offers audio codec {other:?} (pt {pt}); the daemon only speaks G.711"
            )),
        }
    }
    // telephone-event: the offer's 8 kHz PT, nothing else.
    let offered_te8 = offer
        .fmts
        .iter()
        .find(|f| {
            f.rtpmap
                .as_deref()
                .map(|m| m.eq_ignore_ascii_case("telephone-event/8000"))
                .unwrap_or(false)
        })
        .map(|f| f.pt);
    let ev = answer.event_pts();
    match offered_te8 {
        Some(te) => {
            if !ev.iter().any(|(pt, r)| *pt == te && *r == 8000) {
                p.push(format!(
                    "answer lacks telephone-event/8000 with the caller's PT {te}; has {ev:?}"
                ));
            }
            for (pt, r) in &ev {
                if *r != 8000 {
                    p.push(format!("answer kept telephone-event/{r} (pt {pt}); only the 8 kHz one matches G.711"));
                }
            }
        }
        None => {
            if !ev.is_empty() {
                p.push(format!(
                    "answer has telephone-event {ev:?} though none at 8000 was offered"
                ));
            }
        }
    }
    // Direction (RFC 3264 6.1).
    let ok_dirs: &[Direction] = match offer.direction {
        Direction::SendRecv => &[
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ],
        Direction::SendOnly => &[Direction::RecvOnly, Direction::Inactive],
        Direction::RecvOnly => &[Direction::SendOnly, Direction::Inactive],
        Direction::Inactive => &[Direction::Inactive],
    };
    if !ok_dirs.contains(&answer.direction) {
        p.push(format!(
            "answer direction {:?} is not allowed for an offer marked {:?} (RFC 3264 6.1)",
            answer.direction, offer.direction
        ));
    }
    p
}
