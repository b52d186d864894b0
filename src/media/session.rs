//! The RTP endpoint of one call: a task that sends a steady 20 ms stream
//! (prompt audio or silence), listens for the caller's DTMF, records the
//! caller's comment when asked, and reports to the call task over channels.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::dtmf::{
    event_char, parse_event, DtmfDetector, HeardKey, InbandMode, KeyMerge, KeyPath, ToneListener,
};
use super::g711::Codec;
use super::latch::SourceLatch;
use super::pacer::{Playback, Stream};
use super::ports::PortLease;
use super::prompt::Prompt;
use super::recorder::{RecordRequest, Recording};
use super::rtp;
#[cfg(test)]
use super::rtp::RtpSender;
use super::srtp::{Protector, SrtpKeys, Unprotector};
use super::stats::MediaStats;
use crate::metrics::MediaMetrics;
use crate::model::{CommentStatus, Digit, DtmfSource};
#[cfg(test)]
use tokio::net::UdpSocket;

/// RFC 3551 §4.5: G.711 default packetisation, 20 ms.
pub const PTIME: Duration = Duration::from_millis(20);
/// Samples (= G.711 bytes) per packet at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Large enough for any UDP datagram a peer sends on a usual MTU.
const RECV_BUFFER: usize = 2048;

/// Per-call media settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// Send to the address the caller's RTP arrives from, learned early in the
    /// call, rather than to the SDP address.
    pub symmetric_rtp: bool,
    /// Report [`MediaEvent::MediaTimeout`] after this long without a sign of
    /// life from the caller: RTP of any payload type (comfort noise
    /// included) or RTCP, on either port. Zero disables the check.
    pub media_timeout: Duration,
    /// When the caller's audio is searched for key tones.
    pub inband: InbandMode,
    /// SRTP keys agreed in the INVITE's offer: from the first packet on,
    /// only what authenticates is heard (later keys come with `SetRemote`).
    pub srtp: Option<SrtpKeys>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            symmetric_rtp: true,
            media_timeout: Duration::from_secs(30),
            inband: InbandMode::Auto,
            srtp: None,
        }
    }
}

/// RFC 4733 §3.2: event code of the '#' key, which ends a comment.
const EVENT_POUND: u8 = 11;

/// What the call task tells the media task.
#[derive(Debug)]
pub enum MediaCommand {
    /// The negotiated remote media: address from SDP, audio codec, the
    /// telephone-event payload type if DTMF events were negotiated, and the
    /// SRTP keys if the stream is RTP/SAVP. Sending starts with the first
    /// one; later ones (re-INVITE) replace it.
    SetRemote {
        addr: SocketAddr,
        codec: Codec,
        dtmf_pt: Option<u8>,
        srtp: Option<SrtpKeys>,
    },
    /// Plays a prompt from its start, replacing any prompt still playing.
    Play(Arc<Prompt>),
    /// Barge-in: silence from the next frame on, without `PlaybackFinished`.
    StopPlayback,
    /// RFC 3264 §6.1: on hold (we answered recvonly or inactive) nothing is
    /// sent; the timeline keeps running so playback and timestamps stay true.
    SetSending(bool),
    /// Records the caller into a WAV file; silence keeps flowing to the
    /// caller meanwhile. Ends by itself ('#', silence, maximum length), on
    /// `StopRecording`, or on `Shutdown` (status hangup, audio kept); the
    /// result goes to the request's `done` channel.
    Record(RecordRequest),
    StopRecording(CommentStatus),
    /// Ends the session; a recording in progress is finished as hangup.
    Shutdown,
}

/// What the media task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Digit(Digit),
    /// The last frame of the current prompt has been sent.
    PlaybackFinished,
    /// Nothing from the caller for `media_timeout`; reported once per call.
    MediaTimeout,
}

/// The call task's side of a media session. Dropping it (or every clone of
/// `commands`) ends the session and frees its ports.
#[derive(Debug)]
pub struct MediaHandle {
    pub local_port: u16,
    pub commands: mpsc::Sender<MediaCommand>,
    pub events: mpsc::Receiver<MediaEvent>,
    pub stats: Arc<MediaStats>,
    task: JoinHandle<()>,
}

impl MediaHandle {
    /// Stops the session and waits until its socket and ports are released.
    pub async fn shutdown(self) {
        let _ = self.commands.send(MediaCommand::Shutdown).await;
        drop(self.commands);
        let _ = self.task.await;
    }

    /// Whether the media task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts the media task for one call on an already bound socket (see
/// [`PortAllocator`](super::PortAllocator)). Must be called inside a Tokio
/// runtime.
pub fn spawn(
    socket: std::net::UdpSocket,
    mut lease: PortLease,
    remote: Option<(SocketAddr, Codec, Option<u8>)>,
    cfg: MediaConfig,
    metrics: MediaMetrics,
) -> io::Result<MediaHandle> {
    let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    socket.set_nonblocking(true)?;
    let local_port = socket.local_addr()?.port();
    // Registered for reading only: the pacing threads send on it directly,
    // and a writable interest would wake the reactor after every packet.
    let socket = {
        let _guard = runtime.enter();
        // SAFETY: the AsyncFd owns the socket, so its descriptor stays open
        // and the same for as long as the registration lives.
        Arc::new(unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?)
    };
    // RFC 3550 §11: the caller's RTCP arrives on the odd port; a phone that
    // sends no RTP while its user is silent (VAD) still reports there.
    let rtcp = match lease.take_rtcp_socket() {
        Some(s) => {
            let _guard = runtime.enter();
            // SAFETY: as above, the AsyncFd owns the socket.
            Some(unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }?)
        }
        None => None,
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (ev_tx, ev_rx) = mpsc::channel(64);
    let stats = Arc::new(MediaStats::new(metrics));
    // Outgoing RTP is paced by the shared pacing threads (see `pacer`).
    let out = Stream::new(Arc::clone(&socket), ev_tx.clone(), Arc::clone(&stats));
    let mut session = Session::new(socket, out, lease, cfg, ev_tx, Arc::clone(&stats));
    session.rtcp = rtcp;
    session.set_keys(cfg.srtp);
    if let Some((addr, codec, dtmf_pt)) = remote {
        session.set_remote(addr, codec, dtmf_pt);
    }
    let task = runtime.spawn(session.run(cmd_rx));
    Ok(MediaHandle {
        local_port,
        commands: cmd_tx,
        events: ev_rx,
        stats,
        task,
    })
}

#[derive(Debug, Clone, Copy)]
struct Remote {
    addr: SocketAddr,
    codec: Codec,
    dtmf_pt: Option<u8>,
}

struct Session {
    socket: Arc<AsyncFd<std::net::UdpSocket>>,
    /// The RTCP port's socket; only read, as a sign of life.
    rtcp: Option<AsyncFd<std::net::UdpSocket>>,
    /// What the pacing threads send: prompt position, sequence, target.
    out: Arc<Stream>,
    /// Held for the life of the task; dropping it returns the ports.
    _lease: PortLease,
    cfg: MediaConfig,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<MediaStats>,
    remote: Option<Remote>,
    latch: SourceLatch,
    detector: DtmfDetector,
    /// Key tones in the caller's audio, while `cfg.inband` asks for them.
    tones: Option<ToneListener>,
    /// One count per press that comes both as events and as a tone.
    keys: KeyMerge,
    /// Last sign of life from the caller (RTP or RTCP), or the start of the
    /// session.
    last_rx: Instant,
    timed_out: bool,
    recording: Option<Recording>,
    /// The SRTP keys in use, and the caller's stream's context; None:
    /// plain RTP.
    srtp_keys: Option<SrtpKeys>,
    unprotect: Option<Unprotector>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // However the task ends, the pacer lets go of the socket first.
        self.out.stop();
    }
}

impl Session {
    fn new(
        socket: Arc<AsyncFd<std::net::UdpSocket>>,
        out: Arc<Stream>,
        lease: PortLease,
        cfg: MediaConfig,
        events: mpsc::Sender<MediaEvent>,
        stats: Arc<MediaStats>,
    ) -> Session {
        Session {
            socket,
            rtcp: None,
            out,
            _lease: lease,
            cfg,
            events,
            stats,
            remote: None,
            latch: SourceLatch::new(),
            detector: DtmfDetector::new(),
            tones: None,
            keys: KeyMerge::new(),
            last_rx: Instant::now(),
            timed_out: false,
            recording: None,
            srtp_keys: None,
            unprotect: None,
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<MediaCommand>) {
        let mut rx_buf = [0u8; RECV_BUFFER];
        let mut rtcp_buf = [0u8; RECV_BUFFER];
        loop {
            let dtmf_deadline = self.detector.deadline().map(Instant::from_std);
            let timeout_deadline = (!self.timed_out && !self.cfg.media_timeout.is_zero())
                .then(|| self.last_rx + self.cfg.media_timeout);
            let recording_deadline = self.recording.as_ref().map(Recording::deadline);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(MediaCommand::Shutdown) => break,
                    Some(cmd) => self.command(cmd),
                },
                res = recv_from(&self.socket, &mut rx_buf) => match res {
                    Ok((n, from)) => self.receive(&rx_buf[..n], from),
                    // ICMP errors surface here on some systems; the socket
                    // itself is fine.
                    Err(e) => tracing::trace!(error = %e, "RTP receive error"),
                },
                res = recv_from_opt(self.rtcp.as_ref(), &mut rtcp_buf) => match res {
                    Ok((n, from)) => self.receive_rtcp(&rtcp_buf[..n], from),
                    Err(e) => tracing::trace!(error = %e, "RTCP receive error"),
                },
                _ = sleep_until(dtmf_deadline) => self.poll_dtmf(),
                _ = sleep_until(timeout_deadline) => self.media_timeout(),
                _ = sleep_until(recording_deadline) => {
                    let status = self.recording.as_ref().map(|r| r.deadline_status(Instant::now()));
                    if let Some(status) = status {
                        self.stop_recording(status, None);
                    }
                }
            }
        }
        // The caller hung up (or the call ended) while speaking: keep what
        // was said.
        self.stop_recording(CommentStatus::Hangup, None);
        tracing::debug!(
            packets_in = self.stats.packets_in(),
            packets_out = self.stats.packets_out(),
            "media session ended"
        );
    }

    fn command(&mut self, cmd: MediaCommand) {
        match cmd {
            MediaCommand::SetRemote {
                addr,
                codec,
                dtmf_pt,
                srtp,
            } => {
                self.set_keys(srtp);
                self.set_remote(addr, codec, dtmf_pt);
            }
            MediaCommand::Play(prompt) => {
                self.out.lock().playback = Some(Playback { prompt, pos: 0 })
            }
            MediaCommand::StopPlayback => self.out.lock().playback = None,
            MediaCommand::SetSending(on) => self.out.lock().sending = on,
            MediaCommand::Record(req) => {
                // One recording at a time; a second request ends the first.
                self.stop_recording(CommentStatus::Error, None);
                self.recording = Some(Recording::start(req, Instant::now()));
            }
            MediaCommand::StopRecording(status) => self.stop_recording(status, None),
            // Handled by the loop.
            MediaCommand::Shutdown => {}
        }
    }

    /// New SRTP keys start new contexts, each direction only when its own
    /// key changed: a context kept keeps its rollover counter and replay
    /// list (RFC 3711 §3.3.1, §3.3.2).
    fn set_keys(&mut self, keys: Option<SrtpKeys>) {
        let theirs = |k: &Option<SrtpKeys>| k.map(|k| (k.suite, k.theirs, k.their_mki));
        let ours = |k: &Option<SrtpKeys>| k.map(|k| (k.suite, k.ours));
        if theirs(&keys) != theirs(&self.srtp_keys) {
            self.unprotect = keys.as_ref().map(Unprotector::new);
        }
        if ours(&keys) != ours(&self.srtp_keys) {
            self.out.lock().srtp = keys.as_ref().map(Protector::new);
        }
        self.srtp_keys = keys;
    }

    fn set_remote(&mut self, addr: SocketAddr, codec: Codec, dtmf_pt: Option<u8>) {
        if self.remote.is_some_and(|r| r.addr != addr) {
            // The peer moved its media; learn its source again.
            self.latch.reset();
        }
        self.remote = Some(Remote {
            addr,
            codec,
            dtmf_pt,
        });
        // Only the caller's stream is listened to, never our own prompt.
        if !self.cfg.inband.listens(dtmf_pt.is_some()) {
            self.tones = None;
        } else if self.tones.is_none() {
            self.tones = Some(ToneListener::new());
        }
        self.sync_out();
        // Packet n goes out at start + n·20 ms from the next pacing tick.
        self.out.start();
    }

    /// Tells the pacer where to send, and in which codec.
    fn sync_out(&self) {
        let target = self.target();
        let mut out = self.out.lock();
        out.target = target;
        if let Some(r) = self.remote {
            out.codec = r.codec;
        }
    }

    /// Where our RTP goes.
    fn target(&self) -> Option<SocketAddr> {
        let remote = self.remote?;
        if self.cfg.symmetric_rtp {
            if let Some(source) = self.latch.source() {
                return Some(source);
            }
        }
        Some(remote.addr)
    }

    fn receive(&mut self, datagram: &[u8], from: SocketAddr) {
        let now = Instant::now();
        // RFC 3711 §3.3: SRTP is checked and decrypted before anything reads
        // the packet; what does not authenticate is counted and dropped, so
        // it is never heard, recorded or latched on.
        let plain;
        let datagram = match self.unprotect.as_mut() {
            None => datagram,
            Some(_) if !self.latch.allows(from, now.into_std()) => {
                self.stats.count_ignored();
                return;
            }
            // RFC 5761: SRTCP on the RTP port is a sign of life when it
            // authenticates.
            Some(u) if rtp::is_rtcp(datagram) => {
                match u.check_rtcp(datagram) {
                    Ok(()) => self.last_rx = now,
                    Err(why) => self.stats.count_srtp_dropped(why),
                }
                return;
            }
            Some(u) => match u.unprotect_rtp(datagram) {
                Ok(p) => {
                    plain = p;
                    &plain[..]
                }
                Err(why) => {
                    self.stats.count_srtp_dropped(why);
                    return;
                }
            },
        };
        let Some(packet) = rtp::parse(datagram) else {
            // RFC 5761: RTCP multiplexed on the RTP port is a sign of life too.
            if rtp::is_rtcp(datagram) && self.latch.allows(from, now.into_std()) {
                self.last_rx = now;
            }
            self.stats.count_ignored();
            return;
        };
        if !self.latch.allows(from, now.into_std()) {
            self.stats.count_ignored();
            return;
        }
        // Any RTP from the caller, of any payload type (comfort noise, RFC
        // 3389, included), proves the media path is alive.
        self.last_rx = now;

        let Some(remote) = self.remote else {
            // Early media before the answer is known: learn the source only.
            self.latch.learn(from, now.into_std());
            self.stats.count_in();
            return;
        };
        let is_dtmf = remote.dtmf_pt == Some(packet.payload_type);
        if !is_dtmf && packet.payload_type != remote.codec.payload_type() {
            self.stats.count_ignored();
            return;
        }
        let before = self.latch.source();
        self.latch.learn(from, now.into_std());
        if before != self.latch.source() {
            self.sync_out();
        }
        if self.cfg.symmetric_rtp && before != self.latch.source() && from != remote.addr {
            tracing::debug!(%from, sdp = %remote.addr, "symmetric RTP: sending to source address");
        }
        self.stats.count_in();

        if !is_dtmf {
            let heard = self.tones.as_mut().and_then(|t| {
                t.audio(
                    remote.codec,
                    packet.ssrc,
                    packet.sequence,
                    packet.timestamp,
                    packet.payload,
                )
            });
            if let Some(key) = self.tones.as_ref().and_then(ToneListener::held) {
                self.keys.activity(KeyPath::Tones, key, now.into_std());
            }
            if let Some(rec) = self.recording.as_mut() {
                let pcm = packet
                    .payload
                    .iter()
                    .map(|&b| remote.codec.decode(b))
                    .collect();
                let ended = rec.audio(packet.ssrc, packet.sequence, packet.timestamp, pcm, now);
                if let Some(status) = ended {
                    self.stop_recording(status, None);
                }
            }
            if let Some(heard) = heard {
                self.tone_key(heard, now);
            }
        }
        if is_dtmf {
            let Some(event) = parse_event(packet.payload) else {
                return;
            };
            if event.event == EVENT_POUND && self.recording.is_some() {
                // The first packet of '#' ends the comment where the key went
                // down (RFC 4733 §2.5.1.1: the event timestamp is its start),
                // before the end packets make it a digit; neither the key's
                // tone nor anything after it is kept.
                self.stop_recording(CommentStatus::Dtmf, Some((packet.ssrc, packet.timestamp)));
            }
            if let Some(key) = event_char(event.event) {
                self.keys.activity(KeyPath::Events, key, now.into_std());
            }
            if let Some(key) =
                self.detector
                    .on_packet(packet.ssrc, packet.timestamp, &event, now.into_std())
            {
                self.event_key(key);
            }
        }
    }

    /// RTCP on the odd port: from the caller's host (where its RTP comes
    /// from, or its SDP address), it keeps the call alive; nothing else is
    /// read from it.
    fn receive_rtcp(&mut self, datagram: &[u8], from: SocketAddr) {
        let caller_ip = |a: Option<SocketAddr>| a.is_some_and(|a| a.ip() == from.ip());
        let known = caller_ip(self.latch.source()) || caller_ip(self.remote.map(|r| r.addr));
        if !known || !rtp::is_rtcp(datagram) {
            self.stats.count_ignored();
            return;
        }
        // RFC 3711 §3.4: with SRTP, only authentic SRTCP counts.
        match self.unprotect.as_mut().map(|u| u.check_rtcp(datagram)) {
            None | Some(Ok(())) => self.last_rx = Instant::now(),
            Some(Err(why)) => self.stats.count_srtp_dropped(why),
        }
    }

    /// Ends the recording in progress, if any.
    fn stop_recording(&mut self, status: CommentStatus, cut: Option<(u32, u32)>) {
        if let Some(rec) = self.recording.take() {
            let sum = rec.finish(status, cut);
            let stats = sum.jitter;
            tracing::debug!(
                status = status.as_str(),
                written_ms = sum.written / 8,
                speech = sum.speech,
                duplicates = stats.duplicates,
                late = stats.late,
                reordered = stats.reordered,
                filled_ms = stats.filled / 8,
                restarts = stats.restarts,
                "recording ended"
            );
        }
    }

    fn poll_dtmf(&mut self) {
        while let Some(key) = self.detector.poll(Instant::now().into_std()) {
            self.event_key(key);
        }
    }

    /// A press the RFC 4733 events completed.
    fn event_key(&mut self, key: char) {
        let now = std::time::Instant::now();
        if self.keys.admit(KeyPath::Events, key, now, now) {
            self.digit(key, DtmfSource::Rfc4733);
        }
    }

    /// A key tone in the caller's audio.
    fn tone_key(&mut self, heard: HeardKey, now: Instant) {
        if heard.key == '#' && self.recording.is_some() {
            // As for the event: the comment ends where the tone began.
            self.stop_recording(CommentStatus::Dtmf, Some((heard.ssrc, heard.timestamp)));
        }
        let now = now.into_std();
        let began = now.checked_sub(heard.lead).unwrap_or(now);
        if self.keys.admit(KeyPath::Tones, heard.key, began, now) {
            self.digit(heard.key, DtmfSource::Inband);
        }
    }

    fn digit(&mut self, key: char, source: DtmfSource) {
        match source {
            DtmfSource::Inband => self.stats.all.inband_digits.inc(),
            _ => self.stats.all.rfc4733_digits.inc(),
        };
        self.emit(MediaEvent::Digit(Digit { key, source }));
    }

    fn media_timeout(&mut self) {
        self.timed_out = true;
        self.stats.all.media_timeouts.inc();
        tracing::info!(timeout = ?self.cfg.media_timeout, "no RTP or RTCP from caller");
        self.emit(MediaEvent::MediaTimeout);
    }

    fn emit(&self, event: MediaEvent) {
        // Never block the media clock on a slow consumer; the channel is
        // sized far beyond what one call produces between reads.
        if let Err(mpsc::error::TrySendError::Full(ev)) = self.events.try_send(event) {
            tracing::warn!(?ev, "media event dropped: call task not reading");
        }
    }
}

async fn recv_from(
    socket: &AsyncFd<std::net::UdpSocket>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    loop {
        let mut ready = socket.readable().await?;
        if let Ok(result) = ready.try_io(|s| s.get_ref().recv_from(buf)) {
            return result;
        }
    }
}

async fn recv_from_opt(
    socket: Option<&AsyncFd<std::net::UdpSocket>>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => recv_from(s, buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod recording_tests;

#[cfg(test)]
mod inband_tests;
