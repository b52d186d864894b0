//! smiley-load: a SIP/RTP load generator for smileyd benchmarks.
//!
//! Places full survey calls over SIP/UDP (INVITE → 200 → ACK, then the
//! prompt's RTP is received, the caller presses a key as RFC 4733
//! telephone-events, the thanks prompt is received and smileyd's BYE is
//! answered), many thousands at once on one Tokio thread. Like sipp it
//! takes a concurrency limit (`-l`), a rate of new calls (`-r`) and a total
//! (`-m`).
//!
//! The RTP smileyd sends is read by dedicated threads with `recvmmsg` and
//! kernel receive timestamps (`SO_TIMESTAMPNS`), so the inter-packet gaps it
//! reports are what arrived on the socket, not when this program got around
//! to looking; drops in its own socket buffers are counted separately
//! (`SO_RXQ_OVFL`) so they are never blamed on smileyd.
//!
//! With `--srtp` every call offers RTP/SAVP with an SDES key (RFC 4568,
//! AES_CM_128_HMAC_SHA1_80): the key press is sent protected, and every
//! packet smileyd sends is authenticated and decrypted with the key from its
//! answer (webrtc-srtp, the crate smileyd uses); one that does not
//! authenticate is counted, not timed. smileyd must accept SDES keys over
//! UDP for this (its option for keys in cleartext, on loopback only).
//!
//! It shares no code with smileyd. Only for 127.0.0.1 benchmarks.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "smiley-load",
    about = "SIP/RTP load generator for smileyd (127.0.0.1 only)"
)]
struct Args {
    /// smileyd's SIP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    target: SocketAddrV4,
    /// Total calls to place.
    #[arg(short = 'm', long, default_value_t = 20)]
    calls: usize,
    /// Stop placing new calls after this many seconds, even short of `-m`
    /// (a soak: `-m` large, the duration decides); calls in progress finish.
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Most calls in progress at once.
    #[arg(short = 'l', long, default_value_t = 100)]
    concurrency: usize,
    /// New calls per second.
    #[arg(short = 'r', long, default_value_t = 10.0)]
    rate: f64,
    /// When to press the key, in ms after the ACK.
    #[arg(long, default_value_t = 2000)]
    press_after_ms: u64,
    /// The key pressed.
    #[arg(long, default_value = "1")]
    digit: char,
    /// How long to wait for smileyd's BYE after the key, in ms.
    #[arg(long, default_value_t = 30000)]
    bye_timeout_ms: u64,
    /// Local SIP port (0: any).
    #[arg(long, default_value_t = 0)]
    sip_port: u16,
    /// RTP sockets the calls are spread over (each read by its own thread).
    #[arg(long, default_value_t = 2)]
    media_sockets: usize,
    /// Request-URI user (the survey).
    #[arg(long, default_value = "survey")]
    user: String,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    progress_secs: u64,
    /// SRTP with SDES keys (RTP/SAVP, AES_CM_128_HMAC_SHA1_80) instead of
    /// plain RTP.
    #[arg(long)]
    srtp: bool,
}

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const DTMF_PT: u8 = 101;

// ---------------------------------------------------------------------------
// RTP receive side

/// Arrival gaps in 10 µs steps up to 1 s; beyond goes to the last bucket.
const GAP_STEP_NS: u64 = 10_000;
const GAP_BUCKETS: usize = 100_000;

struct GapHist {
    counts: Vec<u64>,
    max_ns: u64,
    n: u64,
}

impl GapHist {
    fn new() -> GapHist {
        GapHist {
            counts: vec![0; GAP_BUCKETS],
            max_ns: 0,
            n: 0,
        }
    }
    fn add(&mut self, ns: u64) {
        let i = ((ns / GAP_STEP_NS) as usize).min(GAP_BUCKETS - 1);
        self.counts[i] += 1;
        self.max_ns = self.max_ns.max(ns);
        self.n += 1;
    }
    fn merge(&mut self, o: &GapHist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.max_ns = self.max_ns.max(o.max_ns);
        self.n += o.n;
    }
    /// The q-quantile in ms (bucket midpoint).
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        let want = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return (i as f64 + 0.5) * GAP_STEP_NS as f64 / 1e6;
            }
        }
        self.max_ns as f64 / 1e6
    }
    /// Share of gaps outside 20 ± `tol_ms`.
    fn outside(&self, tol_ms: f64) -> u64 {
        let lo = ((20.0 - tol_ms) * 1e6 / GAP_STEP_NS as f64) as usize;
        let hi = ((20.0 + tol_ms) * 1e6 / GAP_STEP_NS as f64) as usize;
        self.counts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < lo || *i >= hi)
            .map(|(_, c)| c)
            .sum()
    }
}

/// What one call's incoming RTP looked like.
#[derive(Default, Clone, Copy, Debug)]
struct Track {
    active: bool,
    ssrc: u32,
    packets: u64,
    /// Extended highest and first sequence number.
    first_seq: u64,
    max_seq: u64,
    last_seq16: u16,
    cycles: u64,
    out_of_order: u64,
    last_arrival_ns: u64,
    max_gap_ns: u64,
    first_arrival_ns: u64,
}

/// One call's incoming stream: what arrived, and with SRTP the context
/// that checks and decrypts it (smileyd's key from the answer).
#[derive(Default)]
struct Slot {
    track: Track,
    srtp: Option<srtp::Context>,
}

/// One slot per smileyd RTP source port.
struct Table {
    slots: Vec<Mutex<Slot>>,
    stray: AtomicU64,
    rx_drops: AtomicU64,
    /// SRTP packets that did not authenticate (or decrypt) with the key
    /// smileyd announced.
    srtp_failed: AtomicU64,
}

impl Table {
    fn new() -> Table {
        Table {
            slots: (0..65536).map(|_| Mutex::new(Slot::default())).collect(),
            stray: AtomicU64::new(0),
            rx_drops: AtomicU64::new(0),
            srtp_failed: AtomicU64::new(0),
        }
    }
    fn open(&self, port: u16, srtp: Option<srtp::Context>) {
        let mut s = self.slots[port as usize].lock().unwrap();
        s.track = Track {
            active: true,
            ..Track::default()
        };
        s.srtp = srtp;
    }
    fn close(&self, port: u16) -> Track {
        let mut s = self.slots[port as usize].lock().unwrap();
        let out = s.track;
        s.track.active = false;
        s.srtp = None;
        out
    }
    fn peek(&self, port: u16) -> Track {
        self.slots[port as usize].lock().unwrap().track
    }
}

fn setsockopt_int(fd: i32, level: i32, name: i32, v: i32) -> io::Result<()> {
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn big_buffers(fd: i32, bytes: i32) {
    // SO_*BUFFORCE needs CAP_NET_ADMIN; fall back to the capped variant.
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes);
    }
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, bytes / 4).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, bytes / 4);
    }
}

const BATCH: usize = 64;
const POLL: Duration = Duration::from_millis(2);
const PKT: usize = 2048;
const CMSG: usize = 128;

/// Reads one media socket until `stop`, stamping each packet with the
/// kernel's receive time, and files it under the call that owns its source
/// port. It polls every `POLL` instead of sleeping in the kernel: a blocked
/// reader would be woken by every packet, and on loopback that wake-up is
/// work done (and CPU time charged) in smileyd's `sendto`, which a real
/// network would not add. The timestamps do not depend on when it reads.
fn rx_thread(sock: std::net::UdpSocket, table: Arc<Table>, stop: Arc<AtomicBool>) -> GapHist {
    let fd = sock.as_raw_fd();
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1);
    let mut hist = GapHist::new();
    let mut bufs = vec![[0u8; PKT]; BATCH];
    let mut cmsgs = vec![[0u8; CMSG]; BATCH];
    let mut addrs: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    for buf in bufs.iter_mut() {
        iovs.push(libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: PKT,
        });
    }
    for i in 0..BATCH {
        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
        h.msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        h.msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
        h.msg_hdr.msg_iovlen = 1;
        h.msg_hdr.msg_control = cmsgs[i].as_mut_ptr() as *mut libc::c_void;
        h.msg_hdr.msg_controllen = CMSG as _;
        hdrs.push(h);
    }
    let mut last_drops: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        for h in hdrs.iter_mut() {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_hdr.msg_controllen = CMSG as _;
        }
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            std::thread::sleep(POLL);
            continue;
        }
        for i in 0..n as usize {
            let len = hdrs[i].msg_len as usize;
            let mut ts_ns: u64 = 0;
            // Control messages: the timestamp and the drop counter.
            unsafe {
                let mh = &hdrs[i].msg_hdr;
                let mut c = libc::CMSG_FIRSTHDR(mh);
                while !c.is_null() {
                    let data = libc::CMSG_DATA(c);
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let t = std::ptr::read_unaligned(data as *const libc::timespec);
                        ts_ns = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
                    } else if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SO_RXQ_OVFL
                    {
                        let d = std::ptr::read_unaligned(data as *const u32);
                        if d != last_drops {
                            table
                                .rx_drops
                                .fetch_add(d.wrapping_sub(last_drops) as u64, Ordering::Relaxed);
                            last_drops = d;
                        }
                    }
                    c = libc::CMSG_NXTHDR(mh, c);
                }
            }
            let buf = &bufs[i][..len];
            if len < 12 || buf[0] >> 6 != 2 {
                table.stray.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let port = u16::from_be(addrs[i].sin_port);
            let seq = u16::from_be_bytes([buf[2], buf[3]]);
            let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            let mut slot = table.slots[port as usize].lock().unwrap();
            if !slot.track.active {
                drop(slot);
                table.stray.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // RFC 3711 §3.3: authenticate and decrypt before it counts.
            if let Some(ctx) = slot.srtp.as_mut() {
                if ctx.decrypt_rtp(buf).is_err() {
                    drop(slot);
                    table.srtp_failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            let t = &mut slot.track;
            if t.packets == 0 {
                t.ssrc = ssrc;
                t.first_seq = seq as u64;
                t.max_seq = seq as u64;
                t.last_seq16 = seq;
                t.first_arrival_ns = ts_ns;
            } else {
                // RFC 3550 A.1 style extension of the sequence number.
                let delta = seq.wrapping_sub(t.last_seq16);
                if delta < 0x8000 {
                    if seq < t.last_seq16 {
                        t.cycles += 1 << 16;
                    }
                    t.last_seq16 = seq;
                    let ext = t.cycles + seq as u64;
                    t.max_seq = t.max_seq.max(ext);
                } else {
                    t.out_of_order += 1;
                }
                let gap = ts_ns.saturating_sub(t.last_arrival_ns);
                hist.add(gap);
                t.max_gap_ns = t.max_gap_ns.max(gap);
            }
            t.last_arrival_ns = ts_ns;
            t.packets += 1;
        }
    }
    hist
}

// ---------------------------------------------------------------------------
// SIP

fn hex(n: usize) -> String {
    const H: &[u8] = b"0123456789abcdef";
    (0..n)
        .map(|_| H[rand::random::<usize>() % 16] as char)
        .collect()
}

/// A received SIP message, parsed just enough.
struct Sip {
    first: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Sip {
    fn parse(data: &[u8]) -> Option<Sip> {
        let text = std::str::from_utf8(data).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let first = lines.next()?.to_string();
        let mut headers = Vec::new();
        for l in lines {
            if let Some((n, v)) = l.split_once(':') {
                let n = match n.trim().to_ascii_lowercase().as_str() {
                    "i" => "call-id".to_string(),
                    "v" => "via".to_string(),
                    "f" => "from".to_string(),
                    "t" => "to".to_string(),
                    "m" => "contact".to_string(),
                    "l" => "content-length".to_string(),
                    other => other.to_string(),
                };
                headers.push((n, v.trim().to_string()));
            }
        }
        Some(Sip {
            first,
            headers,
            body: body.to_string(),
        })
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn status(&self) -> Option<u16> {
        self.first
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }
    fn method(&self) -> Option<&str> {
        if self.first.starts_with("SIP/") {
            None
        } else {
            self.first.split(' ').next()
        }
    }
    fn cseq_method(&self) -> Option<&str> {
        self.header("cseq")
            .and_then(|c| c.split_whitespace().nth(1))
    }
}

/// The URI inside a name-addr (or the bare value).
fn uri_of(v: &str) -> &str {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if b > a => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

/// Remote RTP port from an SDP answer (c= is assumed to be 127.0.0.1).
fn sdp_audio_port(body: &str) -> Option<u16> {
    body.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

/// SRTP with SDES keys (RFC 4568), AES_CM_128_HMAC_SHA1_80 only.
mod srtp {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    pub use webrtc_srtp::context::Context;
    use webrtc_srtp::protection_profile::ProtectionProfile;

    pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
    const KEY_LEN: usize = 16;
    /// RFC 4568 §6.1: the inline key is the master key and salt, 30 bytes.
    pub const MASTER_LEN: usize = 30;

    /// A fresh master key and salt.
    pub fn new_master() -> [u8; MASTER_LEN] {
        rand::random()
    }

    /// The offer's attribute for `master`.
    pub fn crypto_line(master: &[u8; MASTER_LEN]) -> String {
        format!("a=crypto:1 {SUITE} inline:{}", STANDARD.encode(master))
    }

    /// The context for one direction from a 30-byte master key and salt.
    pub fn context(master: &[u8]) -> Result<Context, String> {
        if master.len() != MASTER_LEN {
            return Err(format!(
                "SDES key of {} bytes, want {MASTER_LEN}",
                master.len()
            ));
        }
        Context::new(
            &master[..KEY_LEN],
            &master[KEY_LEN..],
            ProtectionProfile::Aes128CmHmacSha1_80,
            None,
            None,
        )
        .map_err(|e| format!("SRTP context: {e}"))
    }

    /// smileyd's key from its answer: the a=crypto line with our suite
    /// (RFC 4568 §9.1: "a=crypto:TAG SUITE inline:KEY[|LIFETIME][|MKI]").
    pub fn answer_master(sdp: &str) -> Result<Vec<u8>, String> {
        let line = sdp
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a=crypto:"))
            .find(|l| l.split_whitespace().nth(1) == Some(SUITE))
            .ok_or_else(|| format!("answer without a=crypto {SUITE}"))?;
        let key = line
            .split_whitespace()
            .nth(2)
            .and_then(|p| p.strip_prefix("inline:"))
            .ok_or("a=crypto without inline key")?;
        let key = key.split('|').next().unwrap_or(key);
        STANDARD
            .decode(key)
            .map_err(|_| "a=crypto key is not base64".to_string())
    }
}

enum SipEvent {
    Response(u16, Sip),
    Bye,
}

struct Shared {
    args: Args,
    sip: UdpSocket,
    local: SocketAddrV4,
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<SipEvent>>>,
    media: Vec<Arc<std::net::UdpSocket>>,
    table: Arc<Table>,
    active: AtomicUsize,
    slot_free: Notify,
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
}

async fn sip_reader(sh: Arc<Shared>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match sh.sip.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => continue,
        };
        let Some(msg) = Sip::parse(&buf[..n]) else {
            continue;
        };
        let Some(call_id) = msg.header("call-id").map(str::to_string) else {
            continue;
        };
        let tx = sh.calls.lock().unwrap().get(&call_id).cloned();
        if let Some(code) = msg.status() {
            if let Some(tx) = tx {
                let _ = tx.send(SipEvent::Response(code, msg));
            }
            continue;
        }
        let method = msg.method().unwrap_or("").to_string();
        if method == "ACK" {
            continue;
        }
        // Every request gets an answer; BYE ends the call.
        let code = match (method.as_str(), &tx) {
            ("BYE", Some(_)) | ("INFO", Some(_)) | ("OPTIONS", _) => "200 OK",
            ("BYE", None) | ("INFO", None) => "481 Call/Transaction Does Not Exist",
            ("INVITE", Some(_)) | ("UPDATE", Some(_)) => "488 Not Acceptable Here",
            _ => "501 Not Implemented",
        };
        let mut resp = format!("SIP/2.0 {code}\r\n");
        for (n, v) in &msg.headers {
            let name = match n.as_str() {
                "via" => "Via",
                "from" => "From",
                "to" => "To",
                "call-id" => "Call-ID",
                "cseq" => "CSeq",
                _ => continue,
            };
            resp.push_str(&format!("{name}: {v}\r\n"));
        }
        resp.push_str("Content-Length: 0\r\n\r\n");
        let _ = sh.sip.send_to(resp.as_bytes(), from).await;
        if method == "BYE" {
            if let Some(tx) = tx {
                let _ = tx.send(SipEvent::Bye);
            }
        }
    }
}

/// How one call went.
#[derive(Default, Debug, Clone)]
struct CallResult {
    setup_ms: Option<f64>,
    pressed: bool,
    completed: bool,
    failure: Option<String>,
    rtp: Track,
    /// From the key's first packet to the BYE (thanks prompt included).
    press_to_bye_ms: Option<f64>,
    /// First prompt packet arrived before the key was pressed.
    prompt_heard: bool,
}

fn invite(
    sh: &Shared,
    call_id: &str,
    tag: &str,
    branch: &str,
    media_port: u16,
    n: usize,
    srtp_master: Option<&[u8; srtp::MASTER_LEN]>,
) -> String {
    let a = &sh.args;
    let l = sh.local;
    let t = a.target;
    let (profile, crypto) = match srtp_master {
        Some(m) => ("RTP/SAVP", format!("{}\r\n", srtp::crypto_line(m))),
        None => ("RTP/AVP", String::new()),
    };
    let sdp = format!(
        "v=0\r\no=load {n} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {media_port} {profile} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n{crypto}",
        ip = l.ip()
    );
    format!(
        "INVITE sip:{user}@{t} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {l};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"load\" <sip:load@{l}>;tag={tag}\r\n\
         To: <sip:{user}@{t}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:load@{l}>\r\n\
         Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO\r\n\
         User-Agent: smiley-load\r\n\
         X-Agent-Id: load-agent-{agent}\r\n\
         X-Queue: load\r\n\
         X-Original-Call-Id: load-orig-{call_id}\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        user = a.user,
        agent = n % 50,
        len = sdp.len()
    )
}

fn ack(
    sh: &Shared,
    resp: &Sip,
    call_id: &str,
    tag: &str,
    invite_branch: &str,
) -> (String, SocketAddr) {
    let l = sh.local;
    let t = sh.args.target;
    let to = resp.header("to").unwrap_or("");
    let ok = resp.status().is_some_and(|c| (200..300).contains(&c));
    // RFC 3261 §13.2.2.4: the ACK for a 2xx is its own transaction to the
    // Contact; §17.1.1.3: the ACK for a non-2xx reuses the INVITE's branch.
    let (ruri, branch) = if ok {
        let c = resp.header("contact").map(uri_of).unwrap_or("");
        (
            if c.is_empty() {
                format!("sip:{}@{t}", sh.args.user)
            } else {
                c.to_string()
            },
            format!("z9hG4bK{}", hex(16)),
        )
    } else {
        (
            format!("sip:{}@{t}", sh.args.user),
            invite_branch.to_string(),
        )
    };
    let msg = format!(
        "ACK {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {l};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"load\" <sip:load@{l}>;tag={tag}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    (msg, SocketAddr::V4(t))
}

/// RFC 4733 key press as phones send it: updates every 20 ms with a growing
/// duration, then the end packet three times; with SRTP each one protected.
async fn press(
    sock: &std::net::UdpSocket,
    to: SocketAddr,
    key: char,
    mut srtp: Option<srtp::Context>,
) {
    let event: u8 = match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        _ => 1,
    };
    let ssrc: u32 = rand::random();
    let mut seq: u16 = rand::random();
    let ts: u32 = rand::random();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..10u16 {
        tick.tick().await;
        let end = i >= 7;
        let dur = 160 * (i.min(7) + 1);
        let mut p = [0u8; 16];
        p[0] = 0x80;
        p[1] = DTMF_PT | if i == 0 { 0x80 } else { 0 };
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p[12] = event;
        p[13] = if end { 0x80 | 10 } else { 10 };
        p[14..16].copy_from_slice(&dur.to_be_bytes());
        match srtp.as_mut() {
            Some(ctx) => {
                if let Ok(sp) = ctx.encrypt_rtp(&p) {
                    let _ = sock.send_to(&sp, to);
                }
            }
            None => {
                let _ = sock.send_to(&p, to);
            }
        }
        if !end {
            seq = seq.wrapping_add(1);
        }
    }
}

async fn run_call(sh: Arc<Shared>, n: usize) -> CallResult {
    let mut res = CallResult::default();
    let call_id = format!("{}@load", hex(20));
    let tag = hex(10);
    let branch = format!("z9hG4bK{}", hex(16));
    let msock = sh.media[n % sh.media.len()].clone();
    let mport = msock.local_addr().map(|a| a.port()).unwrap_or(0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    sh.calls.lock().unwrap().insert(call_id.clone(), tx);
    let target = SocketAddr::V4(sh.args.target);
    let our_master = sh.args.srtp.then(srtp::new_master);
    let inv = invite(&sh, &call_id, &tag, &branch, mport, n, our_master.as_ref());
    let mut our_srtp = None;
    let t0 = Instant::now();
    let _ = sh.sip.send_to(inv.as_bytes(), target).await;

    // INVITE client transaction: retransmit until a provisional or final.
    let mut interval = T1;
    let mut next_retx = Some(tokio::time::Instant::now() + interval);
    let deadline = tokio::time::Instant::now() + T1 * 64;
    let ok = loop {
        let wake = next_retx.unwrap_or(deadline).min(deadline);
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(SipEvent::Response(code, msg)) if msg.cseq_method() == Some("INVITE") => {
                    if code < 200 {
                        next_retx = None;
                    } else {
                        let (a, to) = ack(&sh, &msg, &call_id, &tag, &branch);
                        if (200..300).contains(&code) {
                            res.setup_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
                            // Listen before acknowledging: smileyd sends after the ACK.
                            let Some(rport) = sdp_audio_port(&msg.body) else {
                                res.failure = Some("200 without an audio port".into());
                                let _ = sh.sip.send_to(a.as_bytes(), to).await;
                                break None;
                            };
                            // With SRTP: smileyd's key checks what it sends,
                            // ours protects what we send.
                            let theirs = match &our_master {
                                Some(ours) => match srtp::answer_master(&msg.body)
                                    .and_then(|m| srtp::context(&m))
                                    .and_then(|c| Ok((c, srtp::context(ours)?)))
                                {
                                    Ok((theirs, mine)) => {
                                        our_srtp = Some(mine);
                                        Some(theirs)
                                    }
                                    Err(e) => {
                                        res.failure = Some(e);
                                        let _ = sh.sip.send_to(a.as_bytes(), to).await;
                                        break None;
                                    }
                                },
                                None => None,
                            };
                            sh.table.open(rport, theirs);
                            let _ = sh.sip.send_to(a.as_bytes(), to).await;
                            break Some((rport, a, to));
                        }
                        let _ = sh.sip.send_to(a.as_bytes(), to).await;
                        res.failure = Some(format!("INVITE answered {code}"));
                        break None;
                    }
                }
                Some(_) => {}
                None => break None,
            },
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    res.failure = Some("no final answer to INVITE".into());
                    break None;
                }
                let _ = sh.sip.send_to(inv.as_bytes(), target).await;
                interval = (interval * 2).min(T2);
                next_retx = Some(tokio::time::Instant::now() + interval);
            }
        }
    };
    let Some((rport, ack_msg, ack_to)) = ok else {
        sh.calls.lock().unwrap().remove(&call_id);
        return res;
    };
    let rtp_to = SocketAddr::V4(SocketAddrV4::new(*sh.args.target.ip(), rport));

    // Wait for the press time; answer 200 retransmissions with the ACK again.
    let press_at = tokio::time::Instant::now() + Duration::from_millis(sh.args.press_after_ms);
    let mut bye_early = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(SipEvent::Response(c, m)) if (200..300).contains(&c) && m.cseq_method() == Some("INVITE") => {
                    let _ = sh.sip.send_to(ack_msg.as_bytes(), ack_to).await;
                }
                Some(SipEvent::Bye) => { bye_early = true; break; }
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(press_at) => break,
        }
    }
    if bye_early {
        res.rtp = sh.table.close(rport);
        res.failure = Some("BYE before the key was pressed".into());
        sh.calls.lock().unwrap().remove(&call_id);
        return res;
    }
    res.prompt_heard = sh.table.peek(rport).packets > 0;
    let pressed_at = Instant::now();
    res.pressed = true;
    press(&msock, rtp_to, sh.args.digit, our_srtp).await;

    let bye_deadline = tokio::time::Instant::now() + Duration::from_millis(sh.args.bye_timeout_ms);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(SipEvent::Response(c, m)) if (200..300).contains(&c) && m.cseq_method() == Some("INVITE") => {
                    let _ = sh.sip.send_to(ack_msg.as_bytes(), ack_to).await;
                }
                Some(SipEvent::Bye) => {
                    res.press_to_bye_ms = Some(pressed_at.elapsed().as_secs_f64() * 1e3);
                    res.completed = true;
                    break;
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(bye_deadline) => {
                res.failure = Some("no BYE after the key".into());
                break;
            }
        }
    }
    res.rtp = sh.table.close(rport);
    if res.completed && !res.prompt_heard {
        res.failure = Some("no prompt RTP before the key".into());
        res.completed = false;
    }
    // Keep the dialog a little for retransmitted BYEs, then forget it.
    let sh2 = sh.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sh2.calls.lock().unwrap().remove(&call_id);
    });
    res
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let args = Args::parse();
    if !args.target.ip().is_loopback() {
        eprintln!("smiley-load: only loopback targets are allowed");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(args));
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let local_ip = *args.target.ip();
    let sip =
        std::net::UdpSocket::bind(SocketAddrV4::new(local_ip, args.sip_port)).expect("bind SIP");
    big_buffers(sip.as_raw_fd(), 8 << 20);
    sip.set_nonblocking(true).expect("nonblocking");
    let local = match sip.local_addr().expect("local addr") {
        SocketAddr::V4(a) => a,
        _ => unreachable!(),
    };
    let sip = UdpSocket::from_std(sip).expect("tokio socket");
    let table = Arc::new(Table::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut media = Vec::new();
    let mut rx_threads = Vec::new();
    for _ in 0..args.media_sockets.max(1) {
        let s = std::net::UdpSocket::bind(SocketAddrV4::new(local_ip, 0)).expect("bind RTP");
        big_buffers(s.as_raw_fd(), 32 << 20);
        let reader = s.try_clone().expect("clone socket");
        let (t, st) = (table.clone(), stop.clone());
        rx_threads.push(std::thread::spawn(move || rx_thread(reader, t, st)));
        media.push(Arc::new(s));
    }
    let sh = Arc::new(Shared {
        args: args.clone(),
        sip,
        local,
        calls: Mutex::new(HashMap::new()),
        media,
        table: table.clone(),
        active: AtomicUsize::new(0),
        slot_free: Notify::new(),
        started: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    tokio::spawn(sip_reader(sh.clone()));
    eprintln!(
        "smiley-load: {} calls to {} at {}/s, at most {} at once, key '{}' {} ms after the ACK; SIP from {}{}",
        args.calls,
        args.target,
        args.rate,
        args.concurrency,
        args.digit,
        args.press_after_ms,
        local,
        if args.srtp { "; SRTP (SDES)" } else { "" }
    );

    // A soak passes a huge -m and a duration: do not reserve for -m.
    let results = Arc::new(Mutex::new(Vec::with_capacity(args.calls.min(1 << 16))));
    let start = tokio::time::Instant::now();
    let wall_start = Instant::now();
    if args.progress_secs > 0 {
        let sh = sh.clone();
        let every = Duration::from_secs(args.progress_secs);
        tokio::spawn(async move {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                t.tick().await;
                eprintln!(
                    "  t={:>5.1}s started {} active {} completed {} failed {}",
                    wall_start.elapsed().as_secs_f64(),
                    sh.started.load(Ordering::Relaxed),
                    sh.active.load(Ordering::Relaxed),
                    sh.completed.load(Ordering::Relaxed),
                    sh.failed.load(Ordering::Relaxed)
                );
            }
        });
    }
    let mut handles = Vec::with_capacity(args.calls.min(1 << 16));
    let mut peak_active = 0usize;
    let launch_until = args.duration_secs.map(|s| start + Duration::from_secs(s));
    for n in 0..args.calls {
        let due = start + Duration::from_secs_f64(n as f64 / args.rate);
        if launch_until.is_some_and(|end| due >= end) {
            break;
        }
        tokio::time::sleep_until(due).await;
        loop {
            let notified = sh.slot_free.notified();
            if sh.active.load(Ordering::Relaxed) < args.concurrency {
                break;
            }
            notified.await;
        }
        if launch_until.is_some_and(|end| tokio::time::Instant::now() >= end) {
            break;
        }
        let a = sh.active.fetch_add(1, Ordering::Relaxed) + 1;
        peak_active = peak_active.max(a);
        sh.started.fetch_add(1, Ordering::Relaxed);
        let (sh2, results) = (sh.clone(), results.clone());
        handles.push(tokio::spawn(async move {
            let r = run_call(sh2.clone(), n).await;
            if r.completed {
                sh2.completed.fetch_add(1, Ordering::Relaxed);
            } else {
                sh2.failed.fetch_add(1, Ordering::Relaxed);
            }
            results.lock().unwrap().push(r);
            sh2.active.fetch_sub(1, Ordering::Relaxed);
            sh2.slot_free.notify_waiters();
        }));
    }
    let launch_secs = wall_start.elapsed().as_secs_f64();
    for h in handles {
        let _ = h.await;
    }
    let total_secs = wall_start.elapsed().as_secs_f64();
    // Let a last BYE retransmission be answered, then stop the readers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut hist = GapHist::new();
    for t in rx_threads {
        if let Ok(h) = t.join() {
            hist.merge(&h);
        }
    }

    let results = results.lock().unwrap().clone();
    let attempted = results.len();
    let completed = results.iter().filter(|r| r.completed).count();
    let pressed = results.iter().filter(|r| r.pressed).count();
    let mut failures: HashMap<String, usize> = HashMap::new();
    for r in &results {
        if let Some(f) = &r.failure {
            *failures.entry(f.clone()).or_default() += 1;
        }
    }
    let mut setup: Vec<f64> = results.iter().filter_map(|r| r.setup_ms).collect();
    setup.sort_by(f64::total_cmp);
    let mut p2b: Vec<f64> = results.iter().filter_map(|r| r.press_to_bye_ms).collect();
    p2b.sort_by(f64::total_cmp);
    let rtp_packets: u64 = results.iter().map(|r| r.rtp.packets).sum();
    let rtp_expected: u64 = results
        .iter()
        .filter(|r| r.rtp.packets > 0)
        .map(|r| r.rtp.max_seq - r.rtp.first_seq + 1)
        .sum();
    let out_of_order: u64 = results.iter().map(|r| r.rtp.out_of_order).sum();
    let lost = rtp_expected.saturating_sub(rtp_packets - out_of_order.min(rtp_packets));
    let calls_with_loss = results
        .iter()
        .filter(|r| r.rtp.packets > 0 && r.rtp.max_seq - r.rtp.first_seq + 1 > r.rtp.packets)
        .count();
    let rx_drops = table.rx_drops.load(Ordering::Relaxed);
    let srtp_failed = table.srtp_failed.load(Ordering::Relaxed);
    let stray = table.stray.load(Ordering::Relaxed);
    let gap = |q| hist.quantile_ms(q);
    let summary = serde_json::json!({
        "generator": "smiley-load",
        "target": args.target.to_string(),
        "calls": args.calls,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "press_after_ms": args.press_after_ms,
        "srtp": args.srtp.then_some(srtp::SUITE),
        "attempted": attempted,
        "completed": completed,
        "pressed": pressed,
        "failed": attempted - completed,
        "failures": failures,
        "peak_active": peak_active,
        "launch_secs": launch_secs,
        "total_secs": total_secs,
        "setup_ms": {"p50": quantile(&setup, 0.5), "p99": quantile(&setup, 0.99), "max": setup.last().copied().unwrap_or(f64::NAN), "n": setup.len()},
        "press_to_bye_ms": {"p50": quantile(&p2b, 0.5), "p99": quantile(&p2b, 0.99), "max": p2b.last().copied().unwrap_or(f64::NAN)},
        "rtp": {
            "packets": rtp_packets,
            "expected": rtp_expected,
            "lost": lost,
            "calls_with_loss": calls_with_loss,
            "out_of_order": out_of_order,
            "receiver_socket_drops": rx_drops,
            "stray": stray,
            "srtp_auth_failed": srtp_failed,
            "gap_ms": {"n": hist.n, "p50": gap(0.5), "p99": gap(0.99), "p999": gap(0.999), "max": hist.max_ns as f64 / 1e6,
                        "outside_20pm2": hist.outside(2.0)},
        },
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    println!("{text}");
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("smiley-load: cannot write {}: {e}", path.display());
        }
    }
    if completed == attempted {
        0
    } else {
        1
    }
}
