//! One pacing loop for every call's outgoing RTP, instead of a timer per
//! call: a few threads (one per core) wake every 5 ms and send the 20 ms
//! frame of each stream whose turn it is. Each stream is put in one of 4
//! five-millisecond slots when it starts and stays there, so its packets
//! leave exactly 20 ms apart; the streams of one tick go out back to back.
//! A wake-up costs more than a dozen sends on a virtual machine, which is
//! why the tick is not finer. Per packet this costs a mutex and a `sendto`, not a task wake-up,
//! a timer-wheel entry and a `select!` over the session's channels.
//!
//! The threads sleep to absolute deadlines and are not Tokio workers, so a
//! busy runtime (SIP, database, the API) does not delay the audio. After a
//! stall they send the missed frames at once, up to `MAX_CATCH_UP`; beyond
//! that the lost time is skipped (RTP timestamps jump, as for lost packets)
//! rather than flooding the caller's jitter buffer.
//!
//! A thread with no stream does not tick: it waits on a condition variable
//! until a stream is placed on it, so an idle daemon costs no wake-ups. New
//! streams fill the first thread up to `FILL` before the next one gets any,
//! so a few hundred calls keep one thread awake, not all of them.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::g711::Codec;
use super::prompt::Prompt;
use super::rtp::{RtpSender, HEADER_LEN};
use super::session::{MediaEvent, FRAME_SAMPLES, PTIME};
use super::srtp::Protector;
use super::stats::MediaStats;

/// How often a pacing thread wakes.
const TICK: Duration = Duration::from_millis(5);
/// Slots per packet interval (PTIME / TICK).
const SLOTS: u64 = 4;
/// Behind by more than this, a stream skips the lost frames.
const MAX_CATCH_UP: Duration = Duration::from_millis(100);
/// Streams a pacing thread takes before the next thread gets any (about
/// 100 a tick, some 300 µs of sending every 5 ms).
const FILL: usize = 400;

/// A prompt being played.
pub(super) struct Playback {
    pub prompt: Arc<Prompt>,
    /// Next sample to send.
    pub pos: usize,
}

/// What the session decides and the pacer sends.
pub(super) struct Outgoing {
    /// Where packets go; None: nowhere yet.
    pub target: Option<SocketAddr>,
    pub codec: Codec,
    /// Off while the caller holds the call; the timeline keeps running.
    pub sending: bool,
    pub playback: Option<Playback>,
    /// SRTP: every packet is protected before it is sent.
    pub srtp: Option<Protector>,
    sender: RtpSender,
    /// Tick at which the next frame is due (see `Pacer`).
    next_due: u64,
}

/// One call's outgoing stream, shared by its session and a pacing thread.
pub(super) struct Stream {
    state: Mutex<Outgoing>,
    /// The session's socket (non-blocking; the reactor watches it for reading only).
    socket: Arc<AsyncFd<UdpSocket>>,
    events: mpsc::Sender<MediaEvent>,
    stats: Arc<MediaStats>,
    /// The pacing thread and slot serving the stream, once started.
    place: Mutex<Option<Place>>,
}

struct Place {
    pacer: Arc<Pacer>,
    slot: usize,
}

impl Stream {
    pub fn new(
        socket: Arc<AsyncFd<UdpSocket>>,
        events: mpsc::Sender<MediaEvent>,
        stats: Arc<MediaStats>,
    ) -> Arc<Stream> {
        Arc::new(Stream {
            state: Mutex::new(Outgoing {
                target: None,
                codec: Codec::Pcmu,
                sending: true,
                playback: None,
                srtp: None,
                sender: RtpSender::new(),
                next_due: 0,
            }),
            socket,
            events,
            stats,
            place: Mutex::new(None),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Outgoing> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts sending: the first frame goes out on the next tick.
    pub fn start(self: &Arc<Stream>) {
        self.start_on(choose(pacers()));
    }

    fn start_on(self: &Arc<Stream>, p: &Arc<Pacer>) {
        let mut place = lock(&self.place);
        if place.is_some() {
            return;
        }
        // The next tick by the clock, not by the thread's counter: a thread
        // that has been waiting for work last counted when it went to sleep,
        // and a stream due at that old tick would look hundreds of
        // milliseconds late on its first turn and skip that much audio.
        let next = p.clock_tick() + 1;
        self.lock().next_due = next;
        let slot = (next % SLOTS) as usize;
        lock(&p.slots[slot]).push(Arc::clone(self));
        *place = Some(Place {
            pacer: Arc::clone(p),
            slot,
        });
        p.added(next);
    }

    /// Stops sending; when this returns no pacing thread holds the stream.
    pub fn stop(self: &Arc<Stream>) {
        let Some(Place { pacer, slot }) = lock(&self.place).take() else {
            return;
        };
        let mut v = lock(&pacer.slots[slot]);
        if let Some(i) = v.iter().position(|s| Arc::ptr_eq(s, self)) {
            v.swap_remove(i);
        }
        drop(v);
        pacer.streams.fetch_sub(1, Ordering::AcqRel);
    }

    /// Writes (and, unless on hold, sends) the frames due at `tick`.
    fn send_due(&self, tick: u64, max_catch_up: Duration) {
        let mut finished = false;
        {
            let mut st = self.lock();
            if tick < st.next_due {
                return;
            }
            // Normally one; more when this thread was held up.
            let due = (tick - st.next_due) / SLOTS + 1;
            st.next_due += due * SLOTS;
            let Some(target) = st.target else {
                return;
            };
            // Up to `max_catch_up` of missed frames go out now; beyond that
            // the lost time is skipped.
            let burst = max_catch_up.as_millis() as u64 / PTIME.as_millis() as u64;
            let frames = if due > burst {
                let missed = (due - 1) as u32;
                st.sender.skip_samples(missed * FRAME_SAMPLES as u32);
                tracing::debug!(missed, "media pacing stalled; skipping lost frames");
                1
            } else {
                due
            };
            for _ in 0..frames {
                finished |= self.write_frame(&mut st, target);
            }
        }
        if finished {
            // Never block the media clock on a slow consumer.
            if let Err(mpsc::error::TrySendError::Full(ev)) =
                self.events.try_send(MediaEvent::PlaybackFinished)
            {
                tracing::warn!(?ev, "media event dropped: call task not reading");
            }
        }
    }

    /// One frame of prompt audio or silence; true when the prompt ended.
    fn write_frame(&self, st: &mut Outgoing, target: SocketAddr) -> bool {
        let codec = st.codec;
        let mut frame = [codec.silence(); FRAME_SAMPLES];
        let mut finished = false;
        if let Some(pb) = st.playback.as_mut() {
            let audio = pb.prompt.encoded(codec);
            let end = (pb.pos + FRAME_SAMPLES).min(audio.len());
            if let Some(chunk) = audio.get(pb.pos..end) {
                // A short last frame keeps the silence it was filled with.
                frame[..chunk.len()].copy_from_slice(chunk);
            }
            pb.pos = end;
            finished = pb.pos >= audio.len();
        }
        if finished {
            st.playback = None;
        }
        // RFC 3551 §4.1: marker on the first packet of a talkspurt; we never
        // suppress silence, so that is only the first packet of the stream.
        let marker = st.sender.packets() == 0;
        let mut packet = [0u8; HEADER_LEN + FRAME_SAMPLES];
        let n = st
            .sender
            .write(&mut packet, codec.payload_type(), &frame, marker);
        if st.sending {
            // RFC 3711 §3.3: protected right after it is built, before the
            // send; one that cannot be protected is not sent at all.
            let sealed;
            let datagram = match st.srtp.as_mut() {
                None => &packet[..n],
                Some(p) => match p.protect(&packet[..n]) {
                    Some(s) => {
                        sealed = s;
                        &sealed[..]
                    }
                    None => {
                        tracing::warn!("SRTP: packet could not be protected; not sent");
                        return finished;
                    }
                },
            };
            // Counted first: the caller may read it the moment it arrives.
            self.stats.count_out();
            if let Err(e) = self.socket.get_ref().send_to(datagram, target) {
                tracing::trace!(error = %e, %target, "RTP send error");
            }
        }
        finished
    }
}

struct Pacer {
    /// Streams by slot: slot `t % SLOTS` is served at tick `t`.
    slots: Vec<Mutex<Vec<Arc<Stream>>>>,
    /// Streams in the slots.
    streams: AtomicUsize,
    /// Where a thread that waited for work resumes (see `added`).
    resume: Mutex<Option<u64>>,
    wake: Condvar,
    /// Tick 0 of this thread (threads are out of phase, see `pacers`).
    epoch: Instant,
    /// Behind by more than this, the thread jumps ahead and its streams skip
    /// what they lost (`MAX_CATCH_UP`; tests set their own).
    max_catch_up: Duration,
}

impl Pacer {
    /// A pacing thread whose tick 0 is at `epoch`.
    fn spawn(name: String, epoch: Instant, max_catch_up: Duration) -> Arc<Pacer> {
        let p = Arc::new(Pacer {
            slots: (0..SLOTS).map(|_| Mutex::new(Vec::new())).collect(),
            streams: AtomicUsize::new(0),
            resume: Mutex::new(None),
            wake: Condvar::new(),
            epoch,
            max_catch_up,
        });
        let p2 = Arc::clone(&p);
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                realtime_priority();
                run(&p2)
            })
            .expect("spawn RTP pacing thread");
        p
    }

    /// The tick the clock is in now.
    fn clock_tick(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() / TICK.as_nanos()) as u64
    }

    /// A stream due at `next` was placed on this thread: wakes it if it
    /// was waiting. It resumes at the first such tick, so that stream's
    /// first frame is on time, not a turn of the slots later.
    fn added(&self, next: u64) {
        let mut resume = lock(&self.resume);
        if self.streams.fetch_add(1, Ordering::AcqRel) == 0 {
            // The streams of an earlier wake-up are all gone: this one is
            // the first the thread will serve.
            *resume = Some(next);
            self.wake.notify_one();
        }
    }

    /// Waits while the thread has no stream; returns the tick to go on
    /// from, if it waited.
    fn wait_for_work(&self) -> Option<u64> {
        if self.streams.load(Ordering::Acquire) > 0 {
            return None;
        }
        let mut resume = lock(&self.resume);
        if self.streams.load(Ordering::Acquire) > 0 {
            // A stream came between the check and the lock: the thread has
            // been ticking all along, and its own count is current.
            return None;
        }
        while self.streams.load(Ordering::Acquire) == 0 {
            resume = self.wake.wait(resume).unwrap_or_else(|p| p.into_inner());
        }
        // Written, under this lock, by the `added` that ended the wait.
        resume.take()
    }
}

/// The pacing thread a new stream goes to: the first one with fewer than
/// `FILL` streams, or when all have that many, the least loaded.
fn choose(pacers: &[Arc<Pacer>]) -> &Arc<Pacer> {
    let load = |p: &Arc<Pacer>| p.streams.load(Ordering::Relaxed);
    pacers
        .iter()
        .find(|p| load(p) < FILL)
        .or_else(|| pacers.iter().min_by_key(|p| load(p)))
        .expect("at least one pacing thread")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pacing threads, started on first use: one per core.
fn pacers() -> &'static [Arc<Pacer>] {
    static PACERS: OnceLock<Vec<Arc<Pacer>>> = OnceLock::new();
    PACERS.get_or_init(|| {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        let epoch = Instant::now();
        (0..n)
            .map(|i| {
                // Threads tick out of phase so their bursts do not coincide.
                let offset = TICK * i as u32 / n as u32;
                Pacer::spawn(format!("rtp-pacer-{i}"), epoch + offset, MAX_CATCH_UP)
            })
            .collect()
    })
}

/// `SMILEYD_RTP_SCHED_FIFO=N` (1-99) puts the pacing threads, and only
/// them, under SCHED_FIFO priority N, so that other processes on a busy host
/// cannot delay the audio; they sleep between ticks, so they cannot starve
/// the host. Needs CAP_SYS_NICE (or root); without it a warning is logged
/// and they keep the normal priority.
fn realtime_priority() {
    let Some(prio) = std::env::var("SMILEYD_RTP_SCHED_FIFO")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|p| (1..=99).contains(p))
    else {
        return;
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: plain syscall on the calling thread with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "SMILEYD_RTP_SCHED_FIFO: cannot use SCHED_FIFO for RTP pacing"
        );
    }
}

fn run(p: &Pacer) {
    let mut tick: u64 = 0;
    loop {
        if let Some(resume) = p.wait_for_work() {
            tick = resume;
        }
        let due = p.epoch + Duration::from_nanos(tick * TICK.as_nanos() as u64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > p.max_catch_up {
            // Far behind (the machine stalled us): jump to now; each stream
            // notices the gap from its own last tick and skips what it lost.
            tick = ((now - p.epoch).as_nanos() / TICK.as_nanos()) as u64;
        }
        let slot = lock(&p.slots[(tick % SLOTS) as usize]);
        for s in slot.iter() {
            s.send_due(tick, p.max_catch_up);
        }
        drop(slot);
        tick += 1;
    }
}

#[cfg(test)]
mod tests;
