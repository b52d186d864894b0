//! One task per call: it owns the call's media session and survey state
//! machine, turns SIP and RTP events into survey inputs, commits the rating
//! and ends the call.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::comment::{self, PendingComment};
use crate::config::Config;
use crate::config::SurveyConfig;
use crate::current::Current;
use crate::journal::{Entry, Journal};
use crate::media::prompt::PromptLibrary;
use crate::media::{self, MediaCommand, MediaConfig, MediaEvent};
use crate::metrics::{CallMetrics, MediaMetrics};
use crate::model::CallOutcome;
use crate::sip::message::{self, Message};
use crate::sip::sdp::Direction;
use crate::sip::{CallEvent, Endpoint, IncomingCall};
use crate::sources::first_value;
use crate::store::{CallRecord, NewMeasurement, Store};
use crate::survey::{Action, Answer, Input, Survey, SurveySettings};

/// Added to a survey's longest path for the database (a commit that falls
/// back to the journal), the ACK and scheduling.
const SURVEY_SLACK: Duration = Duration::from_secs(5);

/// What every call shares.
pub struct CallContext {
    /// Swapped whole on SIGHUP; each call keeps the snapshot it started with.
    pub config: Current<Config>,
    pub store: Store,
    /// Shared with the API, which swaps in uploaded prompts for new calls.
    pub prompts: PromptLibrary,
    pub endpoint: Endpoint,
    pub journal: Journal,
    /// What calls record for /metrics.
    pub metrics: CallMetrics,
    /// Handed to each call's media task.
    pub media_metrics: MediaMetrics,
}

/// Who the call was about, read once when it arrives.
struct Parties {
    survey: SurveyConfig,
    language: String,
    agent: Option<String>,
    queue: Option<String>,
    original_call_id: Option<String>,
    caller: Option<String>,
}

impl Parties {
    fn of(invite: &Message, cfg: &Config) -> Parties {
        let caller = invite.header("From").map(|f| {
            let uri = message::uri_of(f);
            message::uri_user(uri)
                .unwrap_or(uri)
                .chars()
                .take(256)
                .collect()
        });
        let uri_user = invite.request_uri().and_then(message::uri_user);
        let survey = cfg
            .survey_for(uri_user, invite.header(&cfg.survey_header))
            .clone();
        let language = first_value(&cfg.language_sources, invite)
            .map(|l| l.to_ascii_lowercase())
            .filter(|l| {
                l.len() <= 16
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .unwrap_or_else(|| survey.language.clone());
        Parties {
            survey,
            language,
            agent: first_value(&cfg.agent_sources, invite),
            queue: first_value(&cfg.queue_sources, invite),
            original_call_id: first_value(&cfg.original_call_id_sources, invite),
            caller,
        }
    }
}

/// Runs one call to its end.
pub async fn run(ctx: Arc<CallContext>, call: IncomingCall) {
    let _active = ctx.metrics.call_started();
    let started = Utc::now();
    let config = ctx.config.get();
    let parties = Parties::of(&call.invite, &config);
    let key = call.key.clone();
    let (outcome, measurement) = drive(&ctx, call, &parties).await;
    let ended = Utc::now();
    ctx.metrics.call_ended(outcome);
    let record = CallRecord {
        id: Uuid::now_v7(),
        sip_call_id: key.call_id.clone(),
        started_at: started,
        ended_at: ended,
        survey: parties.survey.name.clone(),
        agent: parties.agent.clone(),
        queue: parties.queue.clone(),
        caller: parties.caller.clone(),
        outcome,
        measurement_id: measurement.as_ref().map(|(id, _)| *id),
    };
    ctx.journal
        .store_or_append(&ctx.store, Entry::Call(record))
        .await;
    tracing::info!(
        call_id = %key.call_id,
        agent = parties.agent.as_deref().unwrap_or("-"),
        queue = parties.queue.as_deref().unwrap_or("-"),
        outcome = outcome.as_str(),
        survey = %parties.survey.name,
        rating = measurement.as_ref().map(|(_, r)| r.as_str()).unwrap_or("-"),
        secs = (ended - started).num_milliseconds() as f64 / 1000.0,
        "call finished"
    );
}

/// Why the loop stopped.
enum End {
    /// We hang up, with this outcome.
    Local(CallOutcome),
    /// The caller is gone (BYE, CANCEL, vanished media).
    Remote,
}

async fn drive(
    ctx: &CallContext,
    mut call: IncomingCall,
    parties: &Parties,
) -> (CallOutcome, Option<(Uuid, String)>) {
    let cfg = &ctx.config.get();
    // The whole call plays from this snapshot, even if prompts are uploaded meanwhile.
    let prompts = ctx.prompts.snapshot();
    // No media goes out before the call is answered and acknowledged: the
    // remote is set on Confirmed (with the ACK's answer for a delayed offer).
    let mut negotiated = call.negotiated;
    let settings: SurveySettings = parties.survey.settings.clone();
    let language = parties.language.clone();
    // A silent caller (VAD, comfort noise only, on hold) may send nothing for
    // the whole survey: the media timeout never ends a call before the
    // survey itself would have, so such a call ends as no_input, not cut.
    let longest = settings.longest_path(
        |name| {
            prompts
                .get_for_scale(
                    &parties.survey.name,
                    settings.scale.kind.as_str(),
                    &language,
                    name.file_stem(),
                )
                .map(|p| p.duration())
                .unwrap_or_default()
        },
        cfg.recording.max,
    ) + SURVEY_SLACK;
    let media_cfg = MediaConfig {
        symmetric_rtp: cfg.symmetric_rtp,
        media_timeout: cfg.media_timeout.max(longest),
        inband: cfg.dtmf_inband,
        srtp: negotiated.and_then(|n| n.srtp).map(|s| s.keys),
    };
    let media_metrics = ctx.media_metrics.clone();
    let mut media = match media::spawn(call.socket, call.lease, None, media_cfg, media_metrics) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "could not start media");
            ctx.endpoint.hangup(&call.key).await;
            return (CallOutcome::Failed, None);
        }
    };
    let hard_stop = Instant::now() + cfg.max_call;
    let mut survey: Option<Survey> = None;
    let mut pending: Vec<Action> = Vec::new();
    let mut timer: Option<Instant> = None;
    // The comment being recorded, stored with the measurement when done.
    let mut recording: Option<PendingComment> = None;
    let mut measurement: Option<(Uuid, String)> = None;
    // When the call task got the last key, for the keypress→commit histogram.
    let mut key_at: Option<Instant> = None;
    // The survey starts when the 200 is acknowledged: audio sent before the
    // ACK may be dropped by the caller's side.
    let end = loop {
        // Carry out what the survey asked for.
        while let Some(action) = (!pending.is_empty()).then(|| pending.remove(0)) {
            let Some(s) = survey.as_mut() else { break };
            match action {
                Action::Play(name) => match prompts.get_for_scale(
                    &parties.survey.name,
                    settings.scale.kind.as_str(),
                    &language,
                    name.file_stem(),
                ) {
                    Some(p) => {
                        let _ = media.commands.send(MediaCommand::Play(p)).await;
                    }
                    None => {
                        tracing::error!(prompt = name.file_stem(), "prompt missing");
                        pending.extend(s.step(Input::PromptFinished));
                    }
                },
                Action::StopPrompt => {
                    let _ = media.commands.send(MediaCommand::StopPlayback).await;
                }
                Action::StartTimer(d) => timer = Some(Instant::now() + d),
                Action::CancelTimer => timer = None,
                Action::Commit(answer) => {
                    let result = commit(ctx, &call.key.call_id, parties, &answer).await;
                    let input = match result {
                        Some(id) => {
                            if let Some(at) = key_at {
                                ctx.metrics.keypress_commit(at.elapsed());
                            }
                            measurement = Some((id, answer.label()));
                            Input::Committed
                        }
                        None => Input::CommitFailed,
                    };
                    pending.extend(s.step(input));
                }
                Action::StartRecording => {
                    let started = match &measurement {
                        Some((id, _)) => {
                            PendingComment::start(
                                &cfg.recordings_dir,
                                cfg.recording,
                                &media.commands,
                                *id,
                            )
                            .await
                        }
                        None => None,
                    };
                    match started {
                        Some(c) => recording = Some(c),
                        None => pending.extend(s.step(Input::RecordingFinished)),
                    }
                }
                Action::StopRecording(status) => {
                    let _ = media
                        .commands
                        .send(MediaCommand::StopRecording(status))
                        .await;
                }
                Action::Hangup(outcome) => {
                    pending.clear();
                    pending.push(Action::Hangup(outcome));
                    break;
                }
            }
        }
        if let Some(Action::Hangup(outcome)) = pending.first().cloned() {
            break End::Local(outcome);
        }
        // The branches below are polled in order, events before timers, so
        // the hard stop is checked here: a stream of events cannot hold it off.
        if Instant::now() >= hard_stop {
            tracing::info!(call_id = %call.key.call_id, "maximum call length reached");
            break End::Local(CallOutcome::NoInput);
        }
        let timer_at = timer.unwrap_or(hard_stop);
        tokio::select! {
            // A key that has arrived beats a timeout that is also due: after a
            // stall (the machine busy, the runtime late) both are ready at once,
            // and an unbiased pick would call a caller who pressed 1 no_input.
            biased;
            ev = call.events.recv() => match ev {
                Some(CallEvent::Confirmed(answer)) => {
                    negotiated = answer.or(negotiated);
                    if let Some(n) = negotiated {
                        if let Some(addr) = n.remote {
                            let _ = media.commands.send(MediaCommand::SetRemote { addr, codec: n.codec, dtmf_pt: n.event_pt, srtp: n.srtp.map(|s| s.keys) }).await;
                        }
                    }
                    if survey.is_none() {
                        let (s, first) = Survey::start(settings.clone());
                        survey = Some(s);
                        pending.extend(first);
                    }
                }
                Some(CallEvent::MediaChanged(n)) => {
                    // Kept, so that nothing later sends to the old address.
                    negotiated = Some(n);
                    if let Some(addr) = n.remote {
                        let _ = media.commands.send(MediaCommand::SetRemote { addr, codec: n.codec, dtmf_pt: n.event_pt, srtp: n.srtp.map(|s| s.keys) }).await;
                    }
                    // Hold: the caller only sends (or nothing flows), so we must not.
                    let sending = matches!(n.direction, Direction::SendRecv | Direction::RecvOnly) && n.remote.is_some();
                    let _ = media.commands.send(MediaCommand::SetSending(sending)).await;
                }
                Some(CallEvent::Digit(d)) => {
                    key_at = Some(Instant::now());
                    feed(&mut survey, &mut pending, Input::Digit(d))
                }
                Some(CallEvent::AckTimeout) | Some(CallEvent::PrackTimeout) => {
                    break End::Local(CallOutcome::Failed)
                }
                // RFC 4028 §10: like a lost ACK, the dialog failed; BYE.
                Some(CallEvent::SessionExpired) => break End::Local(CallOutcome::Failed),
                Some(CallEvent::RemoteHangup) | Some(CallEvent::Cancelled) | None => break End::Remote,
            },
            ev = media.events.recv() => match ev {
                Some(MediaEvent::Digit(d)) => {
                    key_at = Some(Instant::now());
                    feed(&mut survey, &mut pending, Input::Digit(d))
                }
                Some(MediaEvent::PlaybackFinished) => feed(&mut survey, &mut pending, Input::PromptFinished),
                Some(MediaEvent::MediaTimeout) => {
                    tracing::info!(call_id = %call.key.call_id, "no RTP or RTCP from the caller; ending the call");
                    break End::Local(CallOutcome::MediaTimeout);
                }
                None => break End::Local(CallOutcome::Failed),
            },
            r = comment::next_result(&mut recording) => {
                if let Some(c) = recording.take() {
                    let kept = comment::keep(&ctx.store, &ctx.journal, &call.key.call_id, c, r);
                    if let Some(stored) = kept.await {
                        ctx.metrics.comment(stored);
                    }
                }
                feed(&mut survey, &mut pending, Input::RecordingFinished);
            }
            _ = tokio::time::sleep_until(timer_at) => {
                // Without a survey timer this was the hard stop, checked above.
                if timer.take().is_some() {
                    feed(&mut survey, &mut pending, Input::Timeout);
                }
            }
        }
    };
    let _ = media.commands.send(MediaCommand::Shutdown).await;
    let outcome = match end {
        End::Local(outcome) => {
            ctx.endpoint.hangup(&call.key).await;
            outcome
        }
        End::Remote => {
            ctx.endpoint.forget(&call.key);
            CallOutcome::HungUp
        }
    };
    // Hung up while speaking: the media task has finished the file (status
    // hangup); what was said is kept.
    if let Some(mut c) = recording.take() {
        match tokio::time::timeout(comment::FINISH_TIMEOUT, c.result()).await {
            Ok(r) => {
                let kept = comment::keep(&ctx.store, &ctx.journal, &call.key.call_id, c, r);
                if let Some(stored) = kept.await {
                    ctx.metrics.comment(stored);
                }
            }
            Err(_) => {
                ctx.metrics.comment(false);
                tracing::error!(call_id = %call.key.call_id, "comment dropped: the recorder did not finish in time");
            }
        }
    }
    // A stored rating makes the call rated, however it ended afterwards.
    let outcome = if measurement.is_some() {
        CallOutcome::Rated
    } else if outcome == CallOutcome::Rated {
        CallOutcome::Failed
    } else {
        outcome
    };
    (outcome, measurement)
}

fn feed(survey: &mut Option<Survey>, pending: &mut Vec<Action>, input: Input) {
    if let Some(s) = survey.as_mut() {
        pending.extend(s.step(input));
    }
}

/// Stores the answer, on whatever scale its survey uses; returns its id
/// only once it is durable.
async fn commit(
    ctx: &CallContext,
    call_id: &str,
    parties: &Parties,
    answer: &Answer,
) -> Option<Uuid> {
    let m = NewMeasurement {
        id: Uuid::now_v7(),
        created_at: Utc::now(),
        survey: parties.survey.name.clone(),
        kind: answer.kind,
        score: answer.score,
        digits: answer.digits.clone(),
        dtmf_source: answer.source,
        agent: parties.agent.clone(),
        queue: parties.queue.clone(),
        original_call_id: parties.original_call_id.clone(),
        sip_call_id: call_id.to_string(),
        caller: parties.caller.clone(),
    };
    if let Err(e) = m.check() {
        // The scale's own judge made the answer; this cannot happen.
        tracing::error!(call_id, error = %e, "answer not stored");
        return None;
    }
    let id = m.id;
    // Only ever waits in the isolation test (see `fault`).
    crate::fault::hold_commit(parties.agent.as_deref(), call_id).await;
    if !ctx
        .journal
        .store_or_append(&ctx.store, Entry::Measurement(m))
        .await
    {
        return None;
    }
    ctx.metrics
        .answer(&parties.survey.name, answer.kind, answer.score);
    Some(id)
}
