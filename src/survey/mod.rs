//! The survey as a small explicit state machine, free of I/O so that every
//! path can be tested on its own. The call task feeds it inputs and carries
//! out the actions it returns.
//!
//! prompt → wait for a key → (invalid → prompt)… → commit → thanks → hang up
//!                         ↘ no key after the attempts → goodbye → hang up

use std::time::Duration;

use crate::model::{CallOutcome, Digit, Rating};

/// The prompts the machine asks for, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptName {
    Survey,
    Invalid,
    Thanks,
    Goodbye,
}

impl PromptName {
    pub fn file_stem(self) -> &'static str {
        match self {
            PromptName::Survey => "survey",
            PromptName::Invalid => "invalid",
            PromptName::Thanks => "thanks",
            PromptName::Goodbye => "goodbye",
        }
    }
}

/// What the survey is configured to accept.
#[derive(Clone, Debug)]
pub struct SurveySettings {
    pub digit_timeout: Duration,
    pub attempts: u32,
    pub happy_keys: Vec<char>,
    pub sad_keys: Vec<char>,
}

impl Default for SurveySettings {
    fn default() -> Self {
        SurveySettings {
            digit_timeout: Duration::from_secs(5),
            attempts: 3,
            happy_keys: vec!['1'],
            sad_keys: vec!['2'],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    PromptFinished,
    Digit(Digit),
    /// The wait for a key ran out.
    Timeout,
    /// The rating is on disk.
    Committed,
    /// The rating could not be stored.
    CommitFailed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Play(PromptName),
    /// Barge-in: stop the prompt now.
    StopPrompt,
    /// Start waiting for a key; the call task answers with `Input::Timeout`.
    StartTimer(Duration),
    CancelTimer,
    /// Store the rating, then answer with `Committed` or `CommitFailed`.
    Commit(Rating, Digit),
    Hangup(CallOutcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Playing the survey prompt (attempt n, from 1).
    Asking(u32),
    /// Prompt over, waiting for a key.
    Waiting(u32),
    /// Playing "invalid" before asking again.
    Correcting(u32),
    Committing,
    Thanking,
    SayingGoodbye(CallOutcome),
    Done,
}

pub struct Survey {
    settings: SurveySettings,
    state: State,
}

impl Survey {
    /// A new survey and its first actions.
    pub fn start(settings: SurveySettings) -> (Survey, Vec<Action>) {
        let s = Survey {
            settings,
            state: State::Asking(1),
        };
        (s, vec![Action::Play(PromptName::Survey)])
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn classify(&self, key: char) -> Option<Rating> {
        if self.settings.happy_keys.contains(&key) {
            Some(Rating::Happy)
        } else if self.settings.sad_keys.contains(&key) {
            Some(Rating::Sad)
        } else {
            None
        }
    }

    /// A key while asking or waiting: a rating, or one wrong attempt used.
    fn on_key(&mut self, attempt: u32, digit: Digit, mut actions: Vec<Action>) -> Vec<Action> {
        match self.classify(digit.key) {
            Some(rating) => {
                self.state = State::Committing;
                actions.push(Action::Commit(rating, digit));
            }
            None if attempt >= self.settings.attempts => {
                self.state = State::SayingGoodbye(CallOutcome::NoInput);
                actions.push(Action::Play(PromptName::Goodbye));
            }
            None => {
                self.state = State::Correcting(attempt + 1);
                actions.push(Action::Play(PromptName::Invalid));
            }
        }
        actions
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        match (self.state, input) {
            (State::Asking(n), Input::Digit(d)) => self.on_key(n, d, vec![Action::StopPrompt]),
            (State::Asking(n), Input::PromptFinished) => {
                self.state = State::Waiting(n);
                vec![Action::StartTimer(self.settings.digit_timeout)]
            }
            (State::Waiting(n), Input::Digit(d)) => self.on_key(n, d, vec![Action::CancelTimer]),
            (State::Waiting(n), Input::Timeout) if n >= self.settings.attempts => {
                self.state = State::SayingGoodbye(CallOutcome::NoInput);
                vec![Action::Play(PromptName::Goodbye)]
            }
            (State::Waiting(n), Input::Timeout) => {
                self.state = State::Asking(n + 1);
                vec![Action::Play(PromptName::Survey)]
            }
            // A key during "invalid" is taken as the next answer (barge-in).
            (State::Correcting(n), Input::Digit(d)) => self.on_key(n, d, vec![Action::StopPrompt]),
            (State::Correcting(n), Input::PromptFinished) => {
                self.state = State::Asking(n);
                vec![Action::Play(PromptName::Survey)]
            }
            (State::Committing, Input::Committed) => {
                self.state = State::Thanking;
                vec![Action::Play(PromptName::Thanks)]
            }
            (State::Committing, Input::CommitFailed) => {
                // Nobody is thanked for a rating that is not stored.
                self.state = State::SayingGoodbye(CallOutcome::Failed);
                vec![Action::Play(PromptName::Goodbye)]
            }
            (State::Thanking, Input::PromptFinished) => {
                self.state = State::Done;
                vec![Action::Hangup(CallOutcome::Rated)]
            }
            (State::SayingGoodbye(outcome), Input::PromptFinished) => {
                self.state = State::Done;
                vec![Action::Hangup(outcome)]
            }
            // Keys after the answer, stray timers: nothing to do.
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DtmfSource;

    fn key(c: char) -> Input {
        Input::Digit(Digit {
            key: c,
            source: DtmfSource::Rfc4733,
        })
    }

    fn survey() -> Survey {
        Survey::start(SurveySettings::default()).0
    }

    #[test]
    fn happy_after_prompt() {
        let mut s = survey();
        assert_eq!(
            s.step(Input::PromptFinished),
            vec![Action::StartTimer(Duration::from_secs(5))]
        );
        let a = s.step(key('1'));
        assert!(matches!(
            a[..],
            [Action::CancelTimer, Action::Commit(Rating::Happy, _)]
        ));
        assert_eq!(s.step(key('2')), vec![]);
        assert_eq!(
            s.step(Input::Committed),
            vec![Action::Play(PromptName::Thanks)]
        );
        assert_eq!(
            s.step(Input::PromptFinished),
            vec![Action::Hangup(CallOutcome::Rated)]
        );
        assert!(s.is_done());
    }

    #[test]
    fn barge_in_sad() {
        let mut s = survey();
        let a = s.step(key('2'));
        assert!(matches!(
            a[..],
            [Action::StopPrompt, Action::Commit(Rating::Sad, _)]
        ));
    }

    #[test]
    fn wrong_key_then_right() {
        let mut s = survey();
        s.step(Input::PromptFinished);
        assert_eq!(
            s.step(key('7')),
            vec![Action::CancelTimer, Action::Play(PromptName::Invalid)]
        );
        assert_eq!(
            s.step(Input::PromptFinished),
            vec![Action::Play(PromptName::Survey)]
        );
        s.step(Input::PromptFinished);
        assert!(matches!(
            s.step(key('1'))[..],
            [_, Action::Commit(Rating::Happy, _)]
        ));
    }

    #[test]
    fn no_input_after_three_attempts() {
        let mut s = survey();
        for _ in 0..2 {
            s.step(Input::PromptFinished);
            assert_eq!(
                s.step(Input::Timeout),
                vec![Action::Play(PromptName::Survey)]
            );
        }
        s.step(Input::PromptFinished);
        assert_eq!(
            s.step(Input::Timeout),
            vec![Action::Play(PromptName::Goodbye)]
        );
        assert_eq!(
            s.step(Input::PromptFinished),
            vec![Action::Hangup(CallOutcome::NoInput)]
        );
    }

    #[test]
    fn three_wrong_keys_end_without_rating() {
        let mut s = survey();
        s.step(key('5'));
        s.step(key('6'));
        assert_eq!(
            s.step(key('7')),
            vec![Action::StopPrompt, Action::Play(PromptName::Goodbye)]
        );
    }

    #[test]
    fn failed_commit_never_thanks() {
        let mut s = survey();
        s.step(key('1'));
        assert_eq!(
            s.step(Input::CommitFailed),
            vec![Action::Play(PromptName::Goodbye)]
        );
        assert_eq!(
            s.step(Input::PromptFinished),
            vec![Action::Hangup(CallOutcome::Failed)]
        );
    }
}
