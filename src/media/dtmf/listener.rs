//! The tone detector on one call's incoming RTP audio.

use std::time::Duration;

use super::inband::InbandDetector;
use crate::media::g711::Codec;

/// A key tone heard in the caller's audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeardKey {
    pub key: char,
    /// Where the tone began: the SSRC and RTP timestamp of its first sample.
    pub ssrc: u32,
    pub timestamp: u32,
    /// How long before the end of the packet that completed it the tone
    /// began.
    pub lead: Duration,
}

/// Feeds a call's audio packets to an [`InbandDetector`] in the order they
/// arrive, skipping duplicates and packets that arrive after a later one
/// (a late packet would put old audio into the middle of a tone).
#[derive(Debug, Default)]
pub struct ToneListener {
    detector: InbandDetector,
    /// SSRC and sequence number of the last packet fed.
    last: Option<(u32, u16)>,
    pcm: Vec<i16>,
}

impl ToneListener {
    pub fn new() -> ToneListener {
        ToneListener::default()
    }

    /// One audio packet; returns a key whose tone completed in it.
    pub fn audio(
        &mut self,
        codec: Codec,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> Option<HeardKey> {
        if let Some((last_ssrc, last_seq)) = self.last {
            // RFC 3550 §A.1: sequence numbers compare modulo 2^16.
            if last_ssrc == ssrc && sequence.wrapping_sub(last_seq) as i16 <= 0 {
                return None;
            }
        }
        self.last = Some((ssrc, sequence));
        self.pcm.clear();
        self.pcm.extend(payload.iter().map(|&b| codec.decode(b)));
        let mut found = None;
        self.detector.feed(&self.pcm, |k| found = Some(k));
        let key = found?;
        let back = self.detector.fed() - key.onset;
        // The packet's last sample has timestamp + len - 1; the onset lies
        // `back` samples before the end.
        let end = timestamp.wrapping_add(self.pcm.len() as u32);
        Some(HeardKey {
            key: key.key,
            ssrc,
            timestamp: end.wrapping_sub(back as u32),
            lead: Duration::from_micros(back * 125),
        })
    }

    /// The key whose tone is sounding now, once reported.
    pub fn held(&self) -> Option<char> {
        self.detector.held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of '5' (770 + 1336 Hz) at −10 dBm0 after `lead_ms` of silence,
    /// then silence, as μ-law packets of 160 samples.
    fn packets(lead_ms: usize, ms: usize) -> Vec<Vec<u8>> {
        let a = 22_400.0 * 10f64.powf(-10.0 / 20.0);
        let total = (lead_ms + ms + 300) * 8;
        let pcm: Vec<u8> = (0..total)
            .map(|i| {
                let t = (i as f64 - lead_ms as f64 * 8.0) / 8000.0;
                let s = if (0.0..ms as f64 / 1000.0).contains(&t) {
                    a * ((std::f64::consts::TAU * 770.0 * t).sin()
                        + (std::f64::consts::TAU * 1336.0 * t).sin())
                } else {
                    0.0
                };
                Codec::Pcmu.encode(s as i16)
            })
            .collect();
        pcm.chunks(160).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn finds_the_key_and_where_it_began() {
        let mut l = ToneListener::new();
        let mut heard = Vec::new();
        for (i, p) in packets(330, 100).iter().enumerate() {
            let ts = 90_000u32.wrapping_add(160 * i as u32);
            heard.extend(l.audio(Codec::Pcmu, 7, 100 + i as u16, ts, p));
        }
        assert_eq!(heard.len(), 1, "{heard:?}");
        let h = heard[0];
        assert_eq!((h.key, h.ssrc), ('5', 7));
        // The tone starts 330 ms in: timestamp 90 000 + 2 640.
        let off = h.timestamp.wrapping_sub(92_640) as i32;
        assert!(off.abs() <= 60, "onset {} samples off", off);
        assert!(h.lead >= Duration::from_millis(35) && h.lead <= Duration::from_millis(60));
    }

    #[test]
    fn duplicates_and_late_packets_are_skipped() {
        // Every packet twice and two swapped before the tone: fed as
        // received, the extra audio would move the onset off its timestamp.
        let ps = packets(330, 100);
        let mut l = ToneListener::new();
        let mut heard = Vec::new();
        let mut order: Vec<usize> = (0..ps.len()).collect();
        order.swap(5, 6);
        for i in order {
            for _ in 0..2 {
                let ts = 160 * i as u32;
                let seq = 65_530u16.wrapping_add(i as u16);
                heard.extend(l.audio(Codec::Pcmu, 1, seq, ts, &ps[i]));
            }
        }
        assert_eq!(heard.len(), 1, "{heard:?}");
        // Packet 5 came late and was skipped, so 160 samples are missing
        // before the tone: the onset is 160 samples later in the stream
        // but its timestamp is taken from the packet it ended in.
        let off = heard[0].timestamp.wrapping_sub(2_640) as i32;
        assert!(off.abs() <= 60, "onset {off} samples off");
    }
}
