//! Properties of the survey machine over arbitrary input sequences
//! (proptest): whatever keys, timers, prompt ends and store results arrive,
//! in whatever order, a survey asks for at most one commit, thanks nobody
//! before the store confirmed the answer, and, once the call task plays it
//! out, ends with exactly one hang-up whose outcome matches what happened.

use proptest::prelude::*;

use super::*;
use crate::model::DtmfSource;

fn input() -> impl Strategy<Value = Input> {
    let key = prop::sample::select(vec![
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A',
    ]);
    prop_oneof![
        3 => key.prop_map(|k| Input::Digit(Digit { key: k, source: DtmfSource::Rfc4733 })),
        2 => Just(Input::PromptFinished),
        2 => Just(Input::Timeout),
        1 => Just(Input::Committed),
        1 => Just(Input::CommitFailed),
        1 => Just(Input::RecordingFinished),
    ]
}

fn settings() -> impl Strategy<Value = SurveySettings> {
    let scale = prop_oneof![
        Just(Scale::smiley(vec!['1'], vec!['2'])),
        Just(Scale::smiley(vec!['1', '4'], vec!['2', '5'])),
        Just(Scale::csat()),
        Just(Scale::nps()),
    ];
    let comment = prop::sample::select(vec![
        CommentPolicy::Always,
        CommentPolicy::OnUnhappy,
        CommentPolicy::Never,
    ]);
    (scale, comment, 1u32..4).prop_map(|(scale, comment, attempts)| SurveySettings {
        scale,
        comment,
        attempts,
        ..SurveySettings::default()
    })
}

/// What a run of the machine did, checked as it goes.
#[derive(Default)]
struct Run {
    commits: usize,
    /// A Commit was asked for and no store result has been fed since.
    commit_outstanding: bool,
    /// The store confirmed the answer (Committed fed while outstanding).
    stored: bool,
    /// The store failed it.
    store_failed: bool,
    hangups: Vec<CallOutcome>,
}

impl Run {
    fn feed(&mut self, s: &mut Survey, input: Input) -> Result<(), TestCaseError> {
        if matches!(input, Input::Committed | Input::CommitFailed) && self.commit_outstanding {
            self.commit_outstanding = false;
            self.stored = input == Input::Committed;
            self.store_failed = input == Input::CommitFailed;
        }
        let done_before = s.is_done();
        for action in s.step(input) {
            prop_assert!(!done_before, "an action after the end: {action:?}");
            match action {
                Action::Commit(_) => {
                    self.commits += 1;
                    self.commit_outstanding = true;
                }
                Action::Play(PromptName::Thanks) => {
                    prop_assert!(self.stored, "thanked before the answer was stored");
                }
                Action::Hangup(outcome) => self.hangups.push(outcome),
                _ => {}
            }
            prop_assert!(self.commits <= 1, "a second answer stored");
        }
        Ok(())
    }

    /// What the call task does once the caller stops: prompts end, timers
    /// run out, a commit is answered by the store (`store_ok`), recordings
    /// end. Bounded: the machine must be done well within it.
    fn play_out(&mut self, s: &mut Survey, store_ok: bool) -> Result<(), TestCaseError> {
        for _ in 0..64 {
            if s.is_done() {
                return Ok(());
            }
            let next = if self.commit_outstanding {
                if store_ok {
                    Input::Committed
                } else {
                    Input::CommitFailed
                }
            } else if s.is_recording() {
                Input::RecordingFinished
            } else {
                Input::PromptFinished
            };
            self.feed(s, next)?;
            if !s.is_done() {
                self.feed(s, Input::Timeout)?;
            }
        }
        prop_assert!(s.is_done(), "the survey never ended");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_sequence_ends_in_one_outcome(
        settings in settings(),
        inputs in prop::collection::vec(input(), 0..40),
        store_ok in any::<bool>(),
    ) {
        let (mut s, first) = Survey::start(settings);
        prop_assert_eq!(first, vec![Action::Play(PromptName::Survey)]);
        let mut run = Run::default();
        for i in inputs {
            run.feed(&mut s, i)?;
        }
        run.play_out(&mut s, store_ok)?;
        prop_assert_eq!(run.hangups.len(), 1, "hang-ups: {:?}", run.hangups);
        let outcome = run.hangups[0];
        match outcome {
            CallOutcome::Rated => prop_assert!(run.stored && run.commits == 1),
            CallOutcome::Failed => prop_assert!(run.store_failed && !run.stored),
            CallOutcome::NoInput => prop_assert_eq!(run.commits, 0),
            other => prop_assert!(false, "the machine never ends a call as {:?}", other),
        }
        // Nothing more, whatever comes after the end.
        for i in [Input::PromptFinished, Input::Timeout, Input::Committed] {
            run.feed(&mut s, i)?;
        }
        prop_assert_eq!(run.hangups.len(), 1);
    }
}
