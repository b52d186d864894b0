//! The detector against generated key tones: the Q.24 limits it claims,
//! through both G.711 laws, and one key per press.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::media::g711::Codec;

const ALL_KEYS: &str = "123A456B789C*0#D";
const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

fn freqs(key: char) -> (f64, f64) {
    for (r, row) in KEYS.iter().enumerate() {
        if let Some(c) = row.iter().position(|k| *k == key) {
            return (ROWS[r] as f64, COLS[c] as f64);
        }
    }
    panic!("no key {key:?}");
}

fn amplitude(dbm0: f64) -> f64 {
    DBM0_AMPLITUDE as f64 * 10f64.powf(dbm0 / 20.0)
}

/// One key tone as the tests vary it.
#[derive(Clone, Copy, Debug)]
struct Tone {
    key: char,
    ms: f64,
    low_dbm0: f64,
    high_dbm0: f64,
    /// Relative frequency errors, e.g. 0.015 for +1.5 %.
    low_dev: f64,
    high_dev: f64,
}

impl Tone {
    fn new(key: char) -> Tone {
        Tone {
            key,
            ms: 100.0,
            low_dbm0: -10.0,
            high_dbm0: -10.0,
            low_dev: 0.0,
            high_dev: 0.0,
        }
    }
    fn ms(self, ms: f64) -> Tone {
        Tone { ms, ..self }
    }
    fn level(self, dbm0: f64) -> Tone {
        Tone {
            low_dbm0: dbm0,
            high_dbm0: dbm0,
            ..self
        }
    }
    fn levels(self, low_dbm0: f64, high_dbm0: f64) -> Tone {
        Tone {
            low_dbm0,
            high_dbm0,
            ..self
        }
    }
    fn dev(self, low_dev: f64, high_dev: f64) -> Tone {
        Tone {
            low_dev,
            high_dev,
            ..self
        }
    }
}

/// Audio built from silences and tones, as linear samples.
struct Signal {
    samples: Vec<f64>,
    rng: StdRng,
}

impl Signal {
    fn new(seed: u64) -> Signal {
        Signal {
            samples: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn silence(&mut self, ms: f64) -> &mut Self {
        let n = (ms * 8.0).round() as usize;
        self.samples.extend(std::iter::repeat_n(0.0, n));
        self
    }

    fn tone(&mut self, t: Tone) -> &mut Self {
        let (lo, hi) = freqs(t.key);
        let (lo, hi) = (lo * (1.0 + t.low_dev), hi * (1.0 + t.high_dev));
        let (a_lo, a_hi) = (amplitude(t.low_dbm0), amplitude(t.high_dbm0));
        let (p_lo, p_hi) = (
            self.rng.gen_range(0.0..std::f64::consts::TAU),
            self.rng.gen_range(0.0..std::f64::consts::TAU),
        );
        let n = (t.ms * 8.0).round() as usize;
        let w = std::f64::consts::TAU / 8000.0;
        self.samples.extend((0..n).map(|i| {
            let i = i as f64;
            a_lo * (w * lo * i + p_lo).sin() + a_hi * (w * hi * i + p_hi).sin()
        }));
        self
    }

    /// White Gaussian noise at `dbm0` (its power in the whole band) over
    /// everything so far.
    fn noise(&mut self, dbm0: f64) -> &mut Self {
        let sigma = amplitude(dbm0) / 2f64.sqrt();
        for s in self.samples.iter_mut() {
            let (u1, u2): (f64, f64) = (self.rng.gen_range(1e-12..1.0), self.rng.gen());
            *s += sigma * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        }
        self
    }

    /// Through a G.711 codec and back, as the caller's audio arrives.
    fn line(&self, codec: Codec) -> Vec<i16> {
        self.samples
            .iter()
            .map(|&s| codec.decode(codec.encode(s.round().clamp(-32768.0, 32767.0) as i16)))
            .collect()
    }
}

/// The keys found in `samples`, fed in 20 ms packets.
fn detect(samples: &[i16]) -> String {
    let mut det = InbandDetector::new();
    let mut keys = String::new();
    for frame in samples.chunks(160) {
        det.feed(frame, |k| keys.push(k.key));
    }
    keys
}

/// The keys `build` gives through each codec, which must be `want` in all.
fn expect(want: &str, what: &str, build: impl Fn(&mut Signal)) {
    for codec in CODECS {
        let mut s = Signal::new(0x5EED ^ what.len() as u64);
        s.silence(60.0);
        build(&mut s);
        s.silence(200.0);
        let got = detect(&s.line(codec));
        assert_eq!(got, want, "{what} over {codec:?}");
    }
}

#[test]
fn every_key_at_every_level_from_loud_to_minus_30_dbm0() {
    for key in ALL_KEYS.chars() {
        for dbm0 in [-3.0, -10.0, -20.0, -25.0, -30.0] {
            expect(&key.to_string(), &format!("{key} at {dbm0} dBm0"), |s| {
                s.tone(Tone::new(key).level(dbm0));
            });
        }
    }
}

#[test]
fn too_quiet_is_rejected() {
    for key in ALL_KEYS.chars() {
        for dbm0 in [-40.0, -45.0, -55.0] {
            expect("", &format!("{key} at {dbm0} dBm0"), |s| {
                s.tone(Tone::new(key).level(dbm0));
            });
        }
    }
}

#[test]
fn within_one_and_a_half_percent_accepted() {
    for key in ALL_KEYS.chars() {
        for (lo, hi) in [
            (0.015, 0.015),
            (-0.015, -0.015),
            (0.015, -0.015),
            (-0.015, 0.015),
            (0.01, -0.005),
        ] {
            expect(&key.to_string(), &format!("{key} off by {lo}/{hi}"), |s| {
                s.tone(Tone::new(key).dev(lo, hi));
            });
        }
    }
}

#[test]
fn beyond_three_and_a_half_percent_rejected() {
    for key in ALL_KEYS.chars() {
        for (lo, hi) in [
            (0.035, 0.0),
            (-0.035, 0.0),
            (0.0, 0.035),
            (0.0, -0.035),
            (0.045, 0.045),
            (-0.045, -0.045),
            (0.035, -0.035),
        ] {
            expect("", &format!("{key} off by {lo}/{hi}"), |s| {
                s.tone(Tone::new(key).dev(lo, hi));
            });
        }
    }
}

#[test]
fn twist_within_limits_accepted_beyond_rejected() {
    for key in ALL_KEYS.chars() {
        let k = key.to_string();
        // Low group 8 dB above the high group; high group 4 dB above low.
        expect(&k, &format!("{key} low +8 dB"), |s| {
            s.tone(Tone::new(key).levels(-8.0, -16.0));
        });
        expect(&k, &format!("{key} high +4 dB"), |s| {
            s.tone(Tone::new(key).levels(-14.0, -10.0));
        });
        expect(&k, &format!("{key} low +8 dB, quiet"), |s| {
            s.tone(Tone::new(key).levels(-22.0, -30.0));
        });
        expect("", &format!("{key} low +10 dB"), |s| {
            s.tone(Tone::new(key).levels(-8.0, -18.0));
        });
        expect("", &format!("{key} high +6 dB"), |s| {
            s.tone(Tone::new(key).levels(-16.0, -10.0));
        });
        // One tone alone is no key.
        expect("", &format!("{key} low tone only"), |s| {
            s.tone(Tone::new(key).levels(-10.0, -90.0));
        });
    }
}

#[test]
fn forty_ms_accepted_and_twenty_three_ms_rejected_at_every_alignment() {
    for key in ALL_KEYS.chars() {
        // Every position of the tone against the 5 ms analysis grid.
        for lead in 0..40 {
            let lead_ms = 60.0 + lead as f64 / 8.0;
            expect(
                &key.to_string(),
                &format!("{key} 40 ms after {lead_ms} ms"),
                |s| {
                    s.silence(lead_ms).tone(Tone::new(key).ms(40.0));
                },
            );
            expect("", &format!("{key} 23 ms after {lead_ms} ms"), |s| {
                s.silence(lead_ms).tone(Tone::new(key).ms(23.0));
            });
        }
    }
}

#[test]
fn short_tones_rejected() {
    for key in ALL_KEYS.chars() {
        for ms in [5.0, 10.0, 15.0, 20.0] {
            expect("", &format!("{key} for {ms} ms"), |s| {
                s.tone(Tone::new(key).ms(ms));
            });
        }
    }
}

#[test]
fn held_key_counts_once() {
    expect("5", "5 held for 3 s", |s| {
        s.tone(Tone::new('5').ms(3_000.0));
    });
}

#[test]
fn forty_ms_pause_separates_two_presses() {
    for key in ALL_KEYS.chars() {
        for lead in [0.0, 1.25, 2.5, 3.75] {
            let k2: String = [key, key].iter().collect();
            expect(
                &k2,
                &format!("{key} twice, 40 ms apart, after {lead} ms"),
                |s| {
                    s.silence(lead)
                        .tone(Tone::new(key).ms(40.0))
                        .silence(40.0)
                        .tone(Tone::new(key).ms(40.0));
                },
            );
        }
    }
}

#[test]
fn ten_ms_interruption_is_not_a_pause() {
    for key in ALL_KEYS.chars() {
        for lead in [0.0, 1.25, 2.5, 3.75] {
            expect(
                &key.to_string(),
                &format!("{key} with a 10 ms gap after {lead} ms"),
                |s| {
                    s.silence(lead)
                        .tone(Tone::new(key).ms(80.0))
                        .silence(10.0)
                        .tone(Tone::new(key).ms(80.0));
                },
            );
        }
    }
}

#[test]
fn dialled_sequence() {
    expect(
        "1234567890*#ABCD",
        "a dialled string, 50 ms on, 50 ms off",
        |s| {
            for key in "1234567890*#ABCD".chars() {
                s.tone(Tone::new(key).ms(50.0)).silence(50.0);
            }
        },
    );
}

#[test]
fn one_key_straight_after_another() {
    expect("19", "1 then 9 with no pause", |s| {
        s.tone(Tone::new('1').ms(100.0))
            .tone(Tone::new('9').ms(100.0));
    });
}

#[test]
fn line_noise_fifteen_db_below_the_tones() {
    for key in ALL_KEYS.chars() {
        for dbm0 in [-10.0, -20.0, -30.0] {
            expect(
                &key.to_string(),
                &format!("{key} at {dbm0} dBm0 in noise"),
                |s| {
                    s.tone(Tone::new(key).level(dbm0)).noise(dbm0 - 15.0);
                },
            );
        }
        expect(
            &key.to_string(),
            &format!("{key} off 1.5 %, twisted, in noise"),
            |s| {
                s.tone(Tone::new(key).levels(-14.0, -20.0).dev(-0.015, 0.015))
                    .noise(-35.0);
            },
        );
    }
}

#[test]
fn noise_alone_is_no_key() {
    for dbm0 in [-10.0, -20.0, -30.0, -40.0] {
        expect("", &format!("noise at {dbm0} dBm0"), |s| {
            s.silence(5_000.0).noise(dbm0);
        });
    }
}

#[test]
fn onset_points_at_the_start_of_the_tone() {
    let mut s = Signal::new(1);
    s.silence(300.0)
        .tone(Tone::new('#').ms(100.0))
        .silence(100.0);
    let mut det = InbandDetector::new();
    let mut found = Vec::new();
    for frame in s.line(Codec::Pcmu).chunks(160) {
        det.feed(frame, |k| found.push(k));
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let onset = found[0].onset as i64;
    // The tone starts at sample 2400; the onset may be a few ms either side.
    assert!((onset - 2400).abs() <= 60, "onset {onset}");
}
