use std::time::Duration;

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

fn with(scale: Scale, comment: CommentPolicy) -> Survey {
    Survey::start(SurveySettings {
        scale,
        comment,
        ..SurveySettings::default()
    })
    .0
}

fn committed(actions: &[Action]) -> Option<(ScaleKind, u8)> {
    actions.iter().find_map(|a| match a {
        Action::Commit(ans) => Some((ans.kind, ans.score)),
        _ => None,
    })
}

#[test]
fn happy_after_prompt() {
    let mut s = survey();
    assert_eq!(
        s.step(Input::PromptFinished),
        vec![Action::StartTimer(Duration::from_secs(5))]
    );
    let a = s.step(key('1'));
    assert_eq!(a[0], Action::CancelTimer);
    assert_eq!(committed(&a), Some((ScaleKind::Smiley, 1)));
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
    assert_eq!(a[0], Action::StopPrompt);
    assert_eq!(committed(&a), Some((ScaleKind::Smiley, 0)));
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
    assert_eq!(committed(&s.step(key('1'))), Some((ScaleKind::Smiley, 1)));
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

#[test]
fn csat_takes_one_to_five() {
    let mut s = with(Scale::csat(), CommentPolicy::Never);
    assert_eq!(
        s.step(key('6')),
        vec![Action::StopPrompt, Action::Play(PromptName::Invalid)]
    );
    assert_eq!(committed(&s.step(key('4'))), Some((ScaleKind::Csat, 4)));
}

#[test]
fn nps_ten_is_one_then_zero_and_other_answers_are_immediate() {
    let mut s = with(Scale::nps(), CommentPolicy::Never);
    s.step(Input::PromptFinished);
    assert_eq!(committed(&s.step(key('9'))), Some((ScaleKind::Nps, 9)));

    let mut s = with(Scale::nps(), CommentPolicy::Never);
    s.step(Input::PromptFinished);
    let a = s.step(key('1'));
    assert_eq!(
        a,
        vec![
            Action::CancelTimer,
            Action::StartTimer(Duration::from_millis(1500))
        ]
    );
    assert_eq!(committed(&s.step(key('0'))), Some((ScaleKind::Nps, 10)));

    let mut s = with(Scale::nps(), CommentPolicy::Never);
    s.step(key('1'));
    assert_eq!(
        committed(&s.step(Input::Timeout)),
        Some((ScaleKind::Nps, 1))
    );

    let mut s = with(Scale::nps(), CommentPolicy::Never);
    s.step(key('1'));
    assert_eq!(committed(&s.step(key('#'))), Some((ScaleKind::Nps, 1)));

    let mut s = with(Scale::nps(), CommentPolicy::Never);
    assert_eq!(committed(&s.step(key('0'))), Some((ScaleKind::Nps, 0)));
}

#[test]
fn comment_flow_and_policy() {
    let mut s = with(
        Scale::smiley(vec!['1'], vec!['2']),
        CommentPolicy::OnUnhappy,
    );
    s.step(key('1'));
    assert_eq!(
        s.step(Input::Committed),
        vec![Action::Play(PromptName::Thanks)]
    );

    let mut s = with(
        Scale::smiley(vec!['1'], vec!['2']),
        CommentPolicy::OnUnhappy,
    );
    s.step(key('2'));
    assert_eq!(
        s.step(Input::Committed),
        vec![Action::Play(PromptName::Comment)]
    );
    assert_eq!(
        s.step(Input::PromptFinished),
        vec![Action::Play(PromptName::Beep)]
    );
    assert_eq!(s.step(Input::PromptFinished), vec![Action::StartRecording]);
    assert!(s.is_recording());
    assert_eq!(
        s.step(key('#')),
        vec![Action::StopRecording(CommentStatus::Dtmf)]
    );
    assert_eq!(
        s.step(Input::RecordingFinished),
        vec![Action::Play(PromptName::Thanks)]
    );
    assert_eq!(
        s.step(Input::PromptFinished),
        vec![Action::Hangup(CallOutcome::Rated)]
    );

    let mut s = with(Scale::csat(), CommentPolicy::Always);
    s.step(key('5'));
    s.step(Input::Committed);
    assert_eq!(
        s.step(key('#')),
        vec![Action::StopPrompt, Action::Play(PromptName::Thanks)]
    );
}

#[test]
fn longest_path_covers_every_attempt_and_the_comment() {
    let prompt = |name: PromptName| match name {
        PromptName::Survey => Duration::from_millis(7_500),
        PromptName::Beep => Duration::from_millis(200),
        _ => Duration::from_secs(2),
    };
    let quiet = SurveySettings::default();
    // The example: 3 × (7.5 s prompt + 5 s) and the goodbye is the
    // path of a caller who never presses a key.
    let no_input =
        3 * (Duration::from_millis(7_500) + Duration::from_secs(5)) + prompt(PromptName::Goodbye);
    let longest = quiet.longest_path(prompt, Duration::from_secs(60));
    assert!(longest >= no_input, "{longest:?} < {no_input:?}");
    // Each attempt: survey, key wait, NPS second-digit wait, "invalid".
    assert_eq!(
        longest,
        3 * Duration::from_millis(7_500 + 5_000 + 1_500 + 2_000) + Duration::from_secs(2)
    );
    let commenting = SurveySettings {
        comment: CommentPolicy::OnUnhappy,
        ..SurveySettings::default()
    };
    assert_eq!(
        commenting.longest_path(prompt, Duration::from_secs(60)),
        3 * Duration::from_millis(16_000) + Duration::from_millis(2_000 + 200 + 60_000 + 2_000)
    );
}
