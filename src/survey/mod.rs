//! The survey as a small explicit state machine, free of I/O so that every
//! path can be tested on its own. The call task feeds it inputs and carries
//! out the actions it returns.
//!
//! ```text
//! prompt → wait for a key → (invalid → prompt)… → commit → [comment prompt → beep → record] → thanks → hang up
//!                        ↘ no valid key after the attempts → goodbye → hang up
//! ```

pub mod scale;

use std::time::Duration;

use crate::model::{CallOutcome, CommentStatus, Digit};

pub use scale::{Answer, KeyResult, Scale, ScaleKind};

/// The prompts the machine asks for, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptName {
    Survey,
    Invalid,
    Thanks,
    Goodbye,
    Comment,
    Beep,
}

impl PromptName {
    pub fn file_stem(self) -> &'static str {
        match self {
            PromptName::Survey => "survey",
            PromptName::Invalid => "invalid",
            PromptName::Thanks => "thanks",
            PromptName::Goodbye => "goodbye",
            PromptName::Comment => "comment",
            PromptName::Beep => "beep",
        }
    }
}

/// When a caller is offered to leave a spoken comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentPolicy {
    Always,
    /// Only after an answer at the unhappy end of the scale.
    OnUnhappy,
    Never,
}

/// What the survey is configured to do.
#[derive(Clone, Debug)]
pub struct SurveySettings {
    pub scale: Scale,
    pub digit_timeout: Duration,
    /// For multi-digit answers (NPS "10"): how long to wait for the next key.
    pub inter_digit_timeout: Duration,
    pub attempts: u32,
    pub comment: CommentPolicy,
}

impl Default for SurveySettings {
    fn default() -> Self {
        SurveySettings {
            scale: Scale::smiley(vec!['1'], vec!['2']),
            digit_timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_millis(1500),
            attempts: 3,
            comment: CommentPolicy::Never,
        }
    }
}

impl SurveySettings {
    /// The longest the survey can take when the caller does nothing but what
    /// it asks (or nothing at all): every attempt with its prompt, the key
    /// wait, a multi-digit answer's wait (an NPS "1" waits for a "0") and the
    /// "invalid" prompt, then the longer of the
    /// goodbye and the thanks (with the comment, when one may be asked for).
    /// `prompt` gives each prompt's length; `recording` the longest comment.
    /// Waiting for the database is not included.
    pub fn longest_path(
        &self,
        prompt: impl Fn(PromptName) -> Duration,
        recording: Duration,
    ) -> Duration {
        let attempt = prompt(PromptName::Survey)
            + self.digit_timeout
            + self.inter_digit_timeout
            + prompt(PromptName::Invalid);
        let comment = match self.comment {
            CommentPolicy::Never => Duration::ZERO,
            _ => prompt(PromptName::Comment) + prompt(PromptName::Beep) + recording,
        };
        let rated = comment + prompt(PromptName::Thanks);
        attempt * self.attempts + rated.max(prompt(PromptName::Goodbye))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    PromptFinished,
    Digit(Digit),
    /// The wait for a key ran out.
    Timeout,
    /// The answer is on disk (in the database or the local journal).
    Committed,
    /// The answer could not be stored anywhere.
    CommitFailed,
    /// The comment recording ended (or never started).
    RecordingFinished,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Play(PromptName),
    /// Barge-in: stop the prompt now.
    StopPrompt,
    /// Start waiting for a key; the call task answers with `Input::Timeout`.
    StartTimer(Duration),
    CancelTimer,
    /// Store the answer, then answer with `Committed` or `CommitFailed`.
    Commit(Answer),
    /// Record the caller's comment; answer with `RecordingFinished`.
    StartRecording,
    /// The caller pressed '#': end the recording.
    StopRecording(CommentStatus),
    Hangup(CallOutcome),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Playing the survey prompt (attempt n, from 1).
    Asking(u32),
    /// Prompt over, waiting for a key.
    Waiting(u32),
    /// The first key(s) of a longer answer are in; waiting for more.
    Collecting(u32, Vec<Digit>),
    /// Playing "invalid" before asking again.
    Correcting(u32),
    Committing(bool),
    CommentPrompt,
    Beep,
    Recording,
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

    pub fn is_recording(&self) -> bool {
        self.state == State::Recording
    }

    /// One wrong attempt used: ask again, or give up.
    fn wrong(&mut self, attempt: u32, mut actions: Vec<Action>) -> Vec<Action> {
        if attempt >= self.settings.attempts {
            self.state = State::SayingGoodbye(CallOutcome::NoInput);
            actions.push(Action::Play(PromptName::Goodbye));
        } else {
            self.state = State::Correcting(attempt + 1);
            actions.push(Action::Play(PromptName::Invalid));
        }
        actions
    }

    /// Keys so far, judged by the scale.
    fn judge(
        &mut self,
        attempt: u32,
        keys: Vec<Digit>,
        ended: bool,
        mut actions: Vec<Action>,
    ) -> Vec<Action> {
        match self.settings.scale.judge(&keys, ended) {
            KeyResult::Answer(answer) => {
                let wants_comment = match self.settings.comment {
                    CommentPolicy::Always => true,
                    CommentPolicy::OnUnhappy => self.settings.scale.is_unhappy(answer.score),
                    CommentPolicy::Never => false,
                };
                self.state = State::Committing(wants_comment);
                actions.push(Action::Commit(answer));
                actions
            }
            KeyResult::NeedMore => {
                self.state = State::Collecting(attempt, keys);
                actions.push(Action::StartTimer(self.settings.inter_digit_timeout));
                actions
            }
            KeyResult::Invalid => self.wrong(attempt, actions),
        }
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = state.clone();
        match (state, input) {
            (State::Asking(n), Input::Digit(d)) => {
                self.judge(n, vec![d], false, vec![Action::StopPrompt])
            }
            (State::Asking(n), Input::PromptFinished) => {
                self.state = State::Waiting(n);
                vec![Action::StartTimer(self.settings.digit_timeout)]
            }
            (State::Waiting(n), Input::Digit(d)) => {
                self.judge(n, vec![d], false, vec![Action::CancelTimer])
            }
            (State::Waiting(n), Input::Timeout) if n >= self.settings.attempts => {
                self.state = State::SayingGoodbye(CallOutcome::NoInput);
                vec![Action::Play(PromptName::Goodbye)]
            }
            (State::Waiting(n), Input::Timeout) => {
                self.state = State::Asking(n + 1);
                vec![Action::Play(PromptName::Survey)]
            }
            (State::Collecting(n, mut keys), Input::Digit(d)) => {
                // '#' ends a multi-digit answer early.
                if d.key == '#' {
                    return self.judge(n, keys, true, vec![Action::CancelTimer]);
                }
                keys.push(d);
                self.judge(n, keys, false, vec![Action::CancelTimer])
            }
            (State::Collecting(n, keys), Input::Timeout) => self.judge(n, keys, true, Vec::new()),
            // A key during "invalid" is taken as the next answer (barge-in).
            (State::Correcting(n), Input::Digit(d)) => {
                self.judge(n, vec![d], false, vec![Action::StopPrompt])
            }
            (State::Correcting(n), Input::PromptFinished) => {
                self.state = State::Asking(n);
                vec![Action::Play(PromptName::Survey)]
            }
            (State::Committing(true), Input::Committed) => {
                self.state = State::CommentPrompt;
                vec![Action::Play(PromptName::Comment)]
            }
            (State::Committing(false), Input::Committed) => {
                self.state = State::Thanking;
                vec![Action::Play(PromptName::Thanks)]
            }
            (State::Committing(_), Input::CommitFailed) => {
                // Nobody is thanked for an answer that is not stored.
                self.state = State::SayingGoodbye(CallOutcome::Failed);
                vec![Action::Play(PromptName::Goodbye)]
            }
            // '#' during the comment prompt: no comment, thanks.
            (State::CommentPrompt, Input::Digit(d)) if d.key == '#' => {
                self.state = State::Thanking;
                vec![Action::StopPrompt, Action::Play(PromptName::Thanks)]
            }
            (State::CommentPrompt, Input::PromptFinished) => {
                self.state = State::Beep;
                vec![Action::Play(PromptName::Beep)]
            }
            (State::Beep, Input::PromptFinished) => {
                self.state = State::Recording;
                vec![Action::StartRecording]
            }
            (State::Recording, Input::Digit(d)) if d.key == '#' => {
                vec![Action::StopRecording(CommentStatus::Dtmf)]
            }
            (State::Recording, Input::RecordingFinished) => {
                self.state = State::Thanking;
                vec![Action::Play(PromptName::Thanks)]
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
mod props;
#[cfg(test)]
mod tests;
