//! Answer scales: which keys make an answer, and what it scores.
//!
//! - smiley: two sets of keys, happy (score 1) and sad (score 0);
//! - csat: 1-5;
//! - nps: 0-10, where ten is "1" then "0" within the inter-digit timeout;
//!   "1" alone is taken when the timeout passes or '#' follows, so only
//!   callers answering 1 or 10 wait, and all other answers are immediate.

pub use crate::model::ScaleKind;
use crate::model::{Digit, DtmfSource};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    pub kind: ScaleKind,
    /// smiley only: the keys for each face.
    pub happy_keys: Vec<char>,
    pub sad_keys: Vec<char>,
}

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub kind: ScaleKind,
    pub score: u8,
    /// The keys as pressed, e.g. "10".
    pub digits: String,
    pub source: DtmfSource,
}

impl Answer {
    /// The word stored and shown for the answer: happy/sad, or the score.
    pub fn label(&self) -> String {
        self.kind.label(self.score)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyResult {
    Answer(Answer),
    /// A prefix of a longer answer: wait for more keys.
    NeedMore,
    Invalid,
}

impl Scale {
    pub fn smiley(happy_keys: Vec<char>, sad_keys: Vec<char>) -> Scale {
        Scale {
            kind: ScaleKind::Smiley,
            happy_keys,
            sad_keys,
        }
    }

    pub fn csat() -> Scale {
        Scale {
            kind: ScaleKind::Csat,
            happy_keys: Vec::new(),
            sad_keys: Vec::new(),
        }
    }

    pub fn nps() -> Scale {
        Scale {
            kind: ScaleKind::Nps,
            happy_keys: Vec::new(),
            sad_keys: Vec::new(),
        }
    }

    /// The unhappy end: sad, CSAT 1-2 (DSAT), NPS detractors 0-6.
    pub fn is_unhappy(&self, score: u8) -> bool {
        match self.kind {
            ScaleKind::Smiley => score == 0,
            ScaleKind::Csat => score <= 2,
            ScaleKind::Nps => score <= 6,
        }
    }

    /// Judges the keys pressed so far; `ended` when no more will come
    /// (timeout or '#').
    pub fn judge(&self, keys: &[Digit], ended: bool) -> KeyResult {
        let Some(first) = keys.first() else {
            return KeyResult::Invalid;
        };
        let digits: String = keys.iter().map(|d| d.key).collect();
        let answer = |score: u8| {
            KeyResult::Answer(Answer {
                kind: self.kind,
                score,
                digits: digits.clone(),
                source: first.source,
            })
        };
        match self.kind {
            ScaleKind::Smiley if keys.len() == 1 => {
                if self.happy_keys.contains(&first.key) {
                    answer(1)
                } else if self.sad_keys.contains(&first.key) {
                    answer(0)
                } else {
                    KeyResult::Invalid
                }
            }
            ScaleKind::Csat if keys.len() == 1 => match first.key {
                '1'..='5' => answer(first.key as u8 - b'0'),
                _ => KeyResult::Invalid,
            },
            ScaleKind::Nps => match digits.as_str() {
                "1" if !ended => KeyResult::NeedMore,
                "1" => answer(1),
                "10" => answer(10),
                d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => {
                    answer(d.as_bytes()[0] - b'0')
                }
                _ => KeyResult::Invalid,
            },
            _ => KeyResult::Invalid,
        }
    }
}
