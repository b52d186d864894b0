//! A property of the jitter buffer (proptest): whatever the order (within
//! the reorder window), loss (runs the arrival times explain) or
//! duplication of a stream's packets, the recording it writes lasts exactly
//! the stream's timestamp span, from the first packet's timestamp to the
//! end of the last packet: lost time becomes silence, duplicates add
//! nothing, reordered packets are put back.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::jitter::{JitterBuffer, Piece, DEFAULT_WINDOW};

/// 20 ms of 8 kHz audio.
const FRAME: u32 = 160;

#[derive(Debug, Clone)]
struct Case {
    seq0: u16,
    ts0: u32,
    frames: u32,
    /// Frames never sent (never the first or the last).
    lost: Vec<bool>,
    /// Frames sent twice.
    duplicated: Vec<bool>,
    /// How far each frame is moved later in the sending order.
    delay: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (any::<u16>(), any::<u32>(), 2u32..150).prop_flat_map(|(seq0, ts0, frames)| {
        let n = frames as usize;
        (
            prop::collection::vec(prop::bool::weighted(0.15), n),
            prop::collection::vec(prop::bool::weighted(0.1), n),
            prop::collection::vec(0usize..DEFAULT_WINDOW / 2, n),
        )
            .prop_map(move |(mut lost, duplicated, delay)| {
                lost[0] = false;
                lost[n - 1] = false;
                // Runs of at most 5 lost frames: 100 ms, well inside
                // what the arrival times explain.
                let mut run = 0;
                for l in lost.iter_mut() {
                    run = if *l { run + 1 } else { 0 };
                    if run > 5 {
                        *l = false;
                        run = 0;
                    }
                }
                Case {
                    seq0,
                    ts0,
                    frames,
                    lost,
                    duplicated,
                    delay,
                }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn output_lasts_the_timestamp_span(c in case()) {
        // The sending order: frame k at slot k + delay[k] (stable), each
        // duplicate right after its original.
        let mut order: Vec<(usize, u32)> = Vec::new();
        for k in 0..c.frames {
            let ku = k as usize;
            if c.lost[ku] {
                continue;
            }
            order.push((ku + c.delay[ku], k));
            if c.duplicated[ku] {
                order.push((ku + c.delay[ku], k));
            }
        }
        order.sort_by_key(|&(slot, _)| slot);
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(DEFAULT_WINDOW);
        let mut out = Vec::new();
        for (i, &(_, k)) in order.iter().enumerate() {
            jb.push(
                0x5eed,
                c.seq0.wrapping_add(k as u16),
                c.ts0.wrapping_add(FRAME * k),
                vec![k as i16; FRAME as usize],
                // Arrivals in sending order, 20 ms apart.
                t0 + Duration::from_millis(20 * i as u64),
                &mut out,
            );
        }
        jb.drain(None, &mut out);
        let total: u64 = out.iter().map(Piece::samples).sum();
        prop_assert_eq!(total, u64::from(c.frames * FRAME), "stats {:?}", jb.stats());
        // Audio in frame order, each sent frame exactly once.
        let audio: Vec<i16> = out
            .iter()
            .filter_map(|p| match p {
                Piece::Audio(a) => Some(a[0]),
                Piece::Silence(_) => None,
            })
            .collect();
        let sent: Vec<i16> = (0..c.frames).filter(|&k| !c.lost[k as usize]).map(|k| k as i16).collect();
        prop_assert_eq!(audio, sent);
    }
}
