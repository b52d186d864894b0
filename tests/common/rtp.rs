//! An RTP endpoint on 127.0.0.1 (RFC 3550): sends a 20 ms G.711 frame every
//! 20 ms, sends key presses as RFC 4733 telephone-events in the shapes real
//! phones use, and records everything it receives for later checks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::g711;
use super::tones::{classify, Prompt, Sound};

#[derive(Clone, Debug)]
pub struct RtpPacket {
    pub at: Instant,
    pub src: SocketAddr,
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl RtpPacket {
    pub fn parse(buf: &[u8], src: SocketAddr, at: Instant) -> Option<RtpPacket> {
        if buf.len() < 12 || buf[0] >> 6 != 2 {
            return None;
        }
        let cc = (buf[0] & 0x0f) as usize;
        let ext = buf[0] & 0x10 != 0;
        let padding = buf[0] & 0x20 != 0;
        let mut off = 12 + 4 * cc;
        if buf.len() < off {
            return None;
        }
        if ext {
            if buf.len() < off + 4 {
                return None;
            }
            let words = u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize;
            off += 4 + 4 * words;
        }
        let mut end = buf.len();
        if padding {
            end = end.checked_sub(*buf.last()? as usize)?;
        }
        if end < off {
            return None;
        }
        Some(RtpPacket {
            at,
            src,
            marker: buf[1] & 0x80 != 0,
            pt: buf[1] & 0x7f,
            seq: u16::from_be_bytes([buf[2], buf[3]]),
            ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: buf[off..end].to_vec(),
        })
    }
}

pub fn rtp_header(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(12 + 160);
    h.push(0x80);
    h.push(if marker { 0x80 } else { 0 } | (pt & 0x7f));
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&ts.to_be_bytes());
    h.extend_from_slice(&ssrc.to_be_bytes());
    h
}

/// RFC 4733 2.3: event, E|R|volume, duration.
pub fn event_payload(event: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [
        event,
        if end { 0x80 } else { 0 } | (volume & 0x3f),
        d[0],
        d[1],
    ]
}

pub fn event_code(key: char) -> u8 {
    match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => 12 + (key as u8 - b'A'),
        _ => panic!("no DTMF event for {key:?}"),
    }
}

/// How key presses go on the wire.
#[derive(Clone, Debug)]
pub struct DtmfStyle {
    /// Update packets before the end packets (one every 20 ms).
    pub updates: usize,
    /// End packets (RFC 4733 recommends three).
    pub end_packets: usize,
    /// End packets share one sequence number (linphone) instead of each
    /// taking the next one (baresip).
    pub end_same_seq: bool,
    /// Marker bit on the first packet of the event.
    pub marker: bool,
    /// Keep sending audio frames during the event (baresip), so event
    /// sequence numbers jump by two.
    pub interleave_audio: bool,
    /// A pause (no event packets) before the end packets, as a long press
    /// through a lossy path looks.
    pub gap_before_end: Duration,
    pub volume: u8,
    /// How the RTP timestamp behaves across the packets of one event.
    pub ts_quirk: TsQuirk,
}

/// Timestamp shapes seen in the field for one key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsQuirk {
    /// RFC 4733: one timestamp (the event start) for every packet.
    None,
    /// The sender advances the timestamp on every packet of the press.
    PerPacket,
    /// An intermediary rewrites the timestamp from packet N on.
    RewriteAfter(usize),
}

impl TsQuirk {
    fn ts(self, start: u32, k: usize) -> u32 {
        match self {
            TsQuirk::None => start,
            TsQuirk::PerPacket => start.wrapping_add(160 * k as u32),
            TsQuirk::RewriteAfter(n) if k >= n => start.wrapping_add(8000),
            TsQuirk::RewriteAfter(_) => start,
        }
    }
}

impl DtmfStyle {
    pub fn baresip() -> DtmfStyle {
        DtmfStyle {
            updates: 9,
            end_packets: 3,
            end_same_seq: false,
            marker: true,
            interleave_audio: true,
            gap_before_end: Duration::ZERO,
            volume: 10,
            ts_quirk: TsQuirk::None,
        }
    }

    pub fn linphone() -> DtmfStyle {
        DtmfStyle {
            updates: 7,
            end_packets: 3,
            end_same_seq: true,
            marker: true,
            interleave_audio: false,
            gap_before_end: Duration::ZERO,
            volume: 10,
            ts_quirk: TsQuirk::None,
        }
    }
}

/// What the phone sends while its user is silent (no tone set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilentAs {
    /// Frames of silence every 20 ms (no voice activity detection).
    Audio,
    /// Nothing at all (VAD without comfort noise).
    Nothing,
    /// RFC 3389 comfort noise: payload type 13, one packet every 200 ms.
    ComfortNoise,
    /// No RTP; RTCP receiver reports on the RTCP port every 500 ms.
    RtcpOnly,
}

struct Press {
    event: u8,
    style: DtmfStyle,
    done: Option<oneshot::Sender<()>>,
}

struct Active {
    press: Press,
    start_ts: u32,
    sent_updates: usize,
    gap_until: Option<Instant>,
}

struct TxState {
    remote: Option<SocketAddr>,
    sending: bool,
    audio_pt: u8,
    event_pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    /// Tone to send as our own audio (Hz), or silence.
    tone: Option<f64>,
    /// Audio to send before anything else (the caller speaking, or key
    /// tones in the audio), 160 samples a packet.
    speech: VecDeque<i16>,
    silent_as: SilentAs,
    ticks: u64,
    phase: f64,
    queue: VecDeque<Press>,
    active: Option<Active>,
    sent: usize,
    sent_events: usize,
    /// SRTP for what we send (see `set_srtp`).
    srtp: Option<super::srtp::Srtp>,
    /// The last RTP packets sent, as they went on the wire.
    wire: VecDeque<Vec<u8>>,
}

#[derive(Default)]
struct RxState {
    packets: Vec<RtpPacket>,
    not_rtp: usize,
    rtcp: usize,
    /// SRTP for what the daemon sends; packets that do not authenticate
    /// are counted, not kept.
    srtp: Option<super::srtp::Srtp>,
    srtp_failed: usize,
    /// The first datagrams from the daemon, as they came on the wire.
    wire: Vec<Vec<u8>>,
}

pub struct RtpEndpoint {
    sock: Arc<UdpSocket>,
    _rtcp: Arc<UdpSocket>,
    pub local: SocketAddr,
    tx: Arc<Mutex<TxState>>,
    rx: Arc<Mutex<RxState>>,
    tasks: Vec<JoinHandle<()>>,
    pub created: Instant,
}

impl Drop for RtpEndpoint {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RtpEndpoint {
    /// Bind an even RTP port on 127.0.0.1 with its RTCP port (+1) beside it.
    pub async fn bind() -> RtpEndpoint {
        let (sock, rtcp) = loop {
            let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind RTP");
            let p = s.local_addr().unwrap().port();
            if p % 2 != 0 || p == u16::MAX {
                continue;
            }
            if let Ok(r) = UdpSocket::bind(("127.0.0.1", p + 1)).await {
                break (Arc::new(s), Arc::new(r));
            }
        };
        let local = sock.local_addr().unwrap();
        let tx = Arc::new(Mutex::new(TxState {
            remote: None,
            sending: false,
            audio_pt: 0,
            event_pt: 101,
            seq: rand::random(),
            ts: rand::random(),
            ssrc: rand::random(),
            tone: None,
            speech: VecDeque::new(),
            silent_as: SilentAs::Audio,
            ticks: 0,
            phase: 0.0,
            queue: VecDeque::new(),
            active: None,
            sent: 0,
            sent_events: 0,
            srtp: None,
            wire: VecDeque::new(),
        }));
        let rx = Arc::new(Mutex::new(RxState::default()));
        let mut tasks = Vec::new();
        {
            let (sock, rx) = (sock.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    let Ok((n, src)) = sock.recv_from(&mut buf).await else {
                        continue;
                    };
                    let at = Instant::now();
                    let mut r = rx.lock().unwrap();
                    if r.wire.len() < 16 {
                        r.wire.push(buf[..n].to_vec());
                    }
                    let plain = match r.srtp.as_mut() {
                        None => Some(buf[..n].to_vec()),
                        Some(s) => s.unprotect(&buf[..n]),
                    };
                    let Some(plain) = plain else {
                        r.srtp_failed += 1;
                        continue;
                    };
                    match RtpPacket::parse(&plain, src, at) {
                        // RTCP multiplexed on the RTP port (RFC 5761) has PT 72-76 with the marker bit.
                        Some(p) if p.marker && (72..=76).contains(&p.pt) => r.rtcp += 1,
                        Some(p) => r.packets.push(p),
                        None => r.not_rtp += 1,
                    }
                }
            }));
        }
        {
            let (rtcp, rx) = (rtcp.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    if rtcp.recv_from(&mut buf).await.is_ok() {
                        rx.lock().unwrap().rtcp += 1;
                    }
                }
            }));
        }
        {
            let (sock, rtcp, tx) = (sock.clone(), rtcp.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let out = {
                        let mut t = tx.lock().unwrap();
                        let out = t.tick();
                        out.into_iter()
                            .map(|(dest, pkt)| {
                                // RTCP (odd port) stays plain: only sent in
                                // SilentAs::RtcpOnly, never with SRTP.
                                let pkt = match t.srtp.as_mut() {
                                    Some(s) if dest.port() % 2 == 0 => s.protect(&pkt),
                                    _ => pkt,
                                };
                                if dest.port() % 2 == 0 {
                                    t.wire.push_back(pkt.clone());
                                    if t.wire.len() > 64 {
                                        t.wire.pop_front();
                                    }
                                }
                                (dest, pkt)
                            })
                            .collect::<Vec<_>>()
                    };
                    for (dest, pkt) in out {
                        // RTCP goes from and to the odd port (RFC 3550 §11).
                        let from = if dest.port() % 2 == 1 { &rtcp } else { &sock };
                        let _ = from.send_to(&pkt, dest).await;
                    }
                }
            }));
        }
        RtpEndpoint {
            sock,
            _rtcp: rtcp,
            local,
            tx,
            rx,
            tasks,
            created: Instant::now(),
        }
    }

    /// Start sending to `remote` with the negotiated payload types.
    pub fn start(&self, remote: SocketAddr, audio_pt: u8, event_pt: u8) {
        let mut t = self.tx.lock().unwrap();
        t.remote = Some(remote);
        t.audio_pt = audio_pt;
        t.event_pt = event_pt;
        t.sending = true;
    }

    /// SRTP from now on: `send` protects what we send, `recv` checks and
    /// decrypts what the daemon sends.
    pub fn set_srtp(&self, send: super::srtp::Srtp, recv: super::srtp::Srtp) {
        self.tx.lock().unwrap().srtp = Some(send);
        self.rx.lock().unwrap().srtp = Some(recv);
    }

    /// Protects a packet built by hand with our sending context.
    pub fn protect(&self, packet: &[u8]) -> Vec<u8> {
        let mut t = self.tx.lock().unwrap();
        t.srtp.as_mut().expect("SRTP set").protect(packet)
    }

    /// Datagrams from the daemon that did not authenticate.
    pub fn srtp_failed(&self) -> usize {
        self.rx.lock().unwrap().srtp_failed
    }

    /// The first datagrams from the daemon, as they came on the wire.
    pub fn wire_in(&self) -> Vec<Vec<u8>> {
        self.rx.lock().unwrap().wire.clone()
    }

    /// The last RTP packets we sent, as they went on the wire.
    pub fn wire_out(&self) -> Vec<Vec<u8>> {
        self.tx.lock().unwrap().wire.iter().cloned().collect()
    }

    pub fn set_remote(&self, remote: SocketAddr) {
        self.tx.lock().unwrap().remote = Some(remote);
    }

    pub fn stop(&self) {
        self.tx.lock().unwrap().sending = false;
    }

    /// What to send while no tone is set (a phone's VAD and comfort noise).
    pub fn silent_as(&self, how: SilentAs) {
        self.tx.lock().unwrap().silent_as = how;
    }

    pub fn ssrc(&self) -> u32 {
        self.tx.lock().unwrap().ssrc
    }

    /// Start sequence numbers at `seq` (linphone may start at 0).
    pub fn set_seq(&self, seq: u16) {
        self.tx.lock().unwrap().seq = seq;
    }

    /// Send a tone as our audio instead of silence (None = silence).
    pub fn set_tone(&self, hz: Option<f64>) {
        self.tx.lock().unwrap().tone = hz;
    }

    /// Sends `samples` (8 kHz) as our audio, then goes back to the tone or
    /// silence; resolves when the last of them has been sent.
    pub async fn play(&self, samples: &[i16]) {
        self.tx.lock().unwrap().speech.extend(samples);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.tx.lock().unwrap().speech.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn sent(&self) -> (usize, usize) {
        let t = self.tx.lock().unwrap();
        (t.sent, t.sent_events)
    }

    /// Queue a key press; resolves when its last end packet has been sent.
    pub async fn press(&self, key: char, style: DtmfStyle) {
        let (s, r) = oneshot::channel();
        {
            let mut t = self.tx.lock().unwrap();
            assert!(t.sending, "RTP not started");
            t.queue.push_back(Press {
                event: event_code(key),
                style,
                done: Some(s),
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), r).await;
    }

    /// Send raw bytes from the RTP socket (for odd-packet tests).
    pub async fn send_raw(&self, dest: SocketAddr, bytes: &[u8]) {
        let _ = self.sock.send_to(bytes, dest).await;
    }

    pub fn packets(&self) -> Vec<RtpPacket> {
        self.rx.lock().unwrap().packets.clone()
    }

    pub fn packet_count(&self) -> usize {
        self.rx.lock().unwrap().packets.len()
    }

    pub fn non_rtp_count(&self) -> usize {
        self.rx.lock().unwrap().not_rtp
    }

    /// G.711 packets (PT 0 / 8) received so far.
    pub fn audio(&self) -> Vec<RtpPacket> {
        self.packets()
            .into_iter()
            .filter(|p| p.pt == 0 || p.pt == 8)
            .collect()
    }

    /// What we have heard, as runs of frames of the same sound.
    pub fn segments(&self) -> Vec<Segment> {
        segments(&self.audio())
    }

    /// The prompts heard so far, in order (runs of at least 4 frames).
    pub fn prompts_heard(&self) -> Vec<Prompt> {
        self.segments()
            .into_iter()
            .filter_map(|s| match s.sound {
                Sound::Prompt(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// Wait until `prompt` has been heard at least `nth` (1-based) times.
    pub async fn wait_heard(
        &self,
        prompt: Prompt,
        nth: usize,
        timeout: Duration,
    ) -> Result<Segment, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let segs = self.segments();
            let hits: Vec<&Segment> = segs
                .iter()
                .filter(|s| s.sound == Sound::Prompt(prompt))
                .collect();
            if hits.len() >= nth {
                return Ok(hits[nth - 1].clone());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "did not hear prompt {prompt:?} (#{nth}) within {timeout:?}; heard {}",
                    describe(&segs)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until the `nth` playing of `prompt` has finished: other frames
    /// followed it, or the daemon stopped sending for 200 ms.
    pub async fn wait_prompt_done(
        &self,
        prompt: Prompt,
        nth: usize,
        timeout: Duration,
    ) -> Result<Segment, String> {
        let deadline = Instant::now() + timeout;
        self.wait_heard(prompt, nth, timeout).await?;
        loop {
            let audio = self.audio();
            let segs = segments(&audio);
            let hits: Vec<(usize, &Segment)> = segs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.sound == Sound::Prompt(prompt))
                .collect();
            if let Some((i, seg)) = hits.get(nth - 1) {
                let followed = segs[i + 1..].iter().map(|s| s.frames).sum::<usize>() >= 3;
                let quiet = audio
                    .last()
                    .map(|p| p.at.elapsed() > Duration::from_millis(200))
                    .unwrap_or(false);
                if followed || quiet {
                    return Ok((*seg).clone());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "prompt {prompt:?} did not finish within {timeout:?}; heard {}",
                    describe(&segs)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until the daemon has sent at least `n` audio packets.
    pub async fn wait_audio(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.audio().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    pub fn describe_heard(&self) -> String {
        describe(&self.segments())
    }

    /// RFC 3550 sanity of the daemon's audio stream: one SSRC, sequence
    /// numbers +1, timestamps +160 per packet (unless a marked talkspurt
    /// starts), 160-byte payloads, one payload type, real-time pacing.
    pub fn stream_problems(&self) -> Vec<String> {
        stream_problems(&self.audio())
    }
}

impl TxState {
    fn tick(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        let Some(dest) = self.remote else { return out };
        if !self.sending {
            return out;
        }
        let now_ts = self.ts;
        self.ts = self.ts.wrapping_add(160);
        if self.active.is_none() {
            if let Some(p) = self.queue.pop_front() {
                self.active = Some(Active {
                    press: p,
                    start_ts: now_ts,
                    sent_updates: 0,
                    gap_until: None,
                });
            }
        }
        let mut send_audio = true;
        let mut finished = false;
        if let Some(a) = self.active.as_mut() {
            let st = a.press.style.clone();
            send_audio = st.interleave_audio;
            let pt = self.event_pt;
            if a.sent_updates < st.updates {
                let first = a.sent_updates == 0;
                let dur = (160 * (a.sent_updates + 1)).min(u16::MAX as usize) as u16;
                let ts = st.ts_quirk.ts(a.start_ts, a.sent_updates);
                let mut pkt = rtp_header(first && st.marker, pt, self.seq, ts, self.ssrc);
                pkt.extend_from_slice(&event_payload(a.press.event, false, st.volume, dur));
                self.seq = self.seq.wrapping_add(1);
                a.sent_updates += 1;
                self.sent_events += 1;
                out.push((dest, pkt));
            } else {
                let in_gap = if st.gap_before_end > Duration::ZERO {
                    let until = *a
                        .gap_until
                        .get_or_insert(Instant::now() + st.gap_before_end);
                    Instant::now() < until
                } else {
                    false
                };
                if !in_gap {
                    let elapsed = now_ts.wrapping_sub(a.start_ts).wrapping_add(160);
                    let dur = elapsed.min(u16::MAX as u32) as u16;
                    let seq0 = self.seq;
                    for i in 0..st.end_packets {
                        let seq = if st.end_same_seq {
                            seq0
                        } else {
                            seq0.wrapping_add(i as u16)
                        };
                        let ts = st.ts_quirk.ts(a.start_ts, st.updates);
                        let mut pkt = rtp_header(false, pt, seq, ts, self.ssrc);
                        pkt.extend_from_slice(&event_payload(a.press.event, true, st.volume, dur));
                        out.push((dest, pkt));
                        self.sent_events += 1;
                    }
                    self.seq = if st.end_same_seq {
                        seq0.wrapping_add(1)
                    } else {
                        seq0.wrapping_add(st.end_packets as u16)
                    };
                    finished = true;
                }
            }
        }
        if finished {
            if let Some(mut a) = self.active.take() {
                if let Some(d) = a.press.done.take() {
                    let _ = d.send(());
                }
            }
        }
        self.ticks += 1;
        if send_audio
            && self.tone.is_none()
            && self.speech.is_empty()
            && self.silent_as != SilentAs::Audio
        {
            send_audio = false;
            match self.silent_as {
                SilentAs::ComfortNoise if self.ticks.is_multiple_of(10) => {
                    let mut pkt = rtp_header(false, 13, self.seq, now_ts, self.ssrc);
                    // RFC 3389 §3.1: the noise level in -dBov.
                    pkt.push(70);
                    self.seq = self.seq.wrapping_add(1);
                    out.push((dest, pkt));
                }
                SilentAs::RtcpOnly if self.ticks.is_multiple_of(25) => {
                    // RFC 3550 §6.4.2: an empty receiver report.
                    let mut pkt = vec![0x80, 201, 0, 1];
                    pkt.extend_from_slice(&self.ssrc.to_be_bytes());
                    out.push((SocketAddr::new(dest.ip(), dest.port() + 1), pkt));
                }
                _ => {}
            }
        }
        if send_audio && !self.speech.is_empty() {
            send_audio = false;
            let n = self.speech.len().min(160);
            let mut samples: Vec<i16> = self.speech.drain(..n).collect();
            samples.resize(160, 0);
            let mut pkt = rtp_header(false, self.audio_pt, self.seq, now_ts, self.ssrc);
            pkt.extend_from_slice(&g711::encode(self.audio_pt, &samples));
            self.seq = self.seq.wrapping_add(1);
            self.sent += 1;
            out.push((dest, pkt));
        }
        if send_audio {
            let samples: Vec<i16> = match self.tone {
                Some(f) => (0..160)
                    .map(|_| {
                        self.phase += 2.0 * std::f64::consts::PI * f / 8000.0;
                        (self.phase.sin() * 4000.0) as i16
                    })
                    .collect(),
                None => vec![0; 160],
            };
            let payload = match self.tone {
                Some(_) => g711::encode(self.audio_pt, &samples),
                None => vec![g711::silence(self.audio_pt); 160],
            };
            let mut pkt = rtp_header(false, self.audio_pt, self.seq, now_ts, self.ssrc);
            pkt.extend_from_slice(&payload);
            self.seq = self.seq.wrapping_add(1);
            self.sent += 1;
            out.push((dest, pkt));
        }
        out
    }
}

/// A run of consecutive frames that sound alike.
#[derive(Clone, Debug)]
pub struct Segment {
    pub sound: Sound,
    pub frames: usize,
    pub start: Instant,
    pub end: Instant,
    /// Index of the first packet in the audio packet list.
    pub first: usize,
}

impl Segment {
    pub fn duration_ms(&self) -> u64 {
        self.frames as u64 * 20
    }
}

/// Group frames into runs; runs shorter than 4 frames (edges, transitions)
/// are folded into their neighbours.
pub fn segments(audio: &[RtpPacket]) -> Vec<Segment> {
    let mut raw: Vec<Segment> = Vec::new();
    for (i, p) in audio.iter().enumerate() {
        let s = classify(&g711::decode(p.pt, &p.payload));
        match raw.last_mut() {
            Some(last) if last.sound == s => {
                last.frames += 1;
                last.end = p.at;
            }
            _ => raw.push(Segment {
                sound: s,
                frames: 1,
                start: p.at,
                end: p.at,
                first: i,
            }),
        }
    }
    let mut out: Vec<Segment> = Vec::new();
    for s in raw {
        if s.frames < 4 {
            if let Some(last) = out.last_mut() {
                last.frames += s.frames;
                last.end = s.end;
            }
            continue;
        }
        match out.last_mut() {
            Some(last) if last.sound == s.sound => {
                last.frames += s.frames;
                last.end = s.end;
            }
            _ => out.push(s),
        }
    }
    out
}

pub fn describe(segs: &[Segment]) -> String {
    if segs.is_empty() {
        return "nothing".into();
    }
    segs.iter()
        .map(|s| match s.sound {
            Sound::Silence => format!("silence×{}", s.frames),
            Sound::Other => format!("other-audio×{}", s.frames),
            Sound::Prompt(p) => format!("{}×{}", p.file(), s.frames),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn stream_problems(audio: &[RtpPacket]) -> Vec<String> {
    let mut p = Vec::new();
    if audio.is_empty() {
        p.push("no audio received".into());
        return p;
    }
    let ssrcs: std::collections::BTreeSet<u32> = audio.iter().map(|a| a.ssrc).collect();
    if ssrcs.len() > 1 {
        p.push(format!("{} SSRCs in one call: {:08x?}", ssrcs.len(), ssrcs));
    }
    let pts: std::collections::BTreeSet<u8> = audio.iter().map(|a| a.pt).collect();
    if pts.len() > 1 {
        p.push(format!("payload type changes mid-call: {pts:?}"));
    }
    let bad_len = audio.iter().filter(|a| a.payload.len() != 160).count();
    if bad_len > 0 {
        let lens: std::collections::BTreeSet<usize> =
            audio.iter().map(|a| a.payload.len()).collect();
        p.push(format!(
            "{bad_len} packets with payload length other than 160 (seen {lens:?})"
        ));
    }
    let mut seq_err = 0;
    let mut ts_err = 0;
    let mut first_err = None;
    for w in audio.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.ssrc != b.ssrc {
            continue;
        }
        let ds = b.seq.wrapping_sub(a.seq);
        if ds != 1 {
            seq_err += 1;
            first_err.get_or_insert(format!("seq {} -> {}", a.seq, b.seq));
        }
        let dt = b.ts.wrapping_sub(a.ts);
        // After a stall (a loaded machine) a sender may skip the lost time:
        // the timestamp then jumps by whole frames, matching the real gap.
        let stall_skip = dt % 160 == 0
            && dt > 160 * ds as u32
            && dt < 160 * 500
            && b.at.duration_since(a.at) >= Duration::from_millis(80);
        if dt != 160 * ds as u32 && !b.marker && !stall_skip {
            ts_err += 1;
            first_err.get_or_insert(format!(
                "seq {} ts {} -> seq {} ts {} (no marker)",
                a.seq, a.ts, b.seq, b.ts
            ));
        }
    }
    if seq_err > 0 {
        p.push(format!(
            "{seq_err} sequence number discontinuities (first: {})",
            first_err.clone().unwrap()
        ));
    }
    if ts_err > 0 {
        p.push(format!(
            "{ts_err} timestamp steps not 160 per packet (first: {})",
            first_err.unwrap()
        ));
    }
    // Pacing: never a burst of more than 15 packets (300 ms of audio) within 100 ms.
    let mut worst = 0;
    let mut j = 0;
    for i in 0..audio.len() {
        while audio[i].at.duration_since(audio[j].at) > Duration::from_millis(100) {
            j += 1;
        }
        worst = worst.max(i - j + 1);
    }
    if worst > 15 {
        p.push(format!(
            "bursty sending: {worst} packets within 100 ms (expected ~5)"
        ));
    }
    p
}
