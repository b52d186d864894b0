//! Which rows a question is about. One `Filter` serves every query so that the
//! API's figures (counts, per agent, responses, listings) always agree on what
//! "this agent, this queue, this window" means.

use chrono::{DateTime, Utc};

use super::sql::{Bind, Sql};
use super::time::to_ms;
use crate::model::ScaleKind;

/// Restricts a query; `None` fields do not restrict.
///
/// The window is half-open: `from` is included, `to` is not, so consecutive
/// windows (one day, the next day) never count a rating twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// One survey's answers (and, for call records, its calls).
    pub survey: Option<String>,
    /// Only answers on this scale; with `survey`, what keeps a survey whose
    /// kind was changed from mixing scales. Measurements only.
    pub kind: Option<ScaleKind>,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The stored label: happy/sad on the smiley scale, else the score
    /// ("0"–"10"). Only applies to measurements; call records have no rating.
    pub rating: Option<String>,
    /// Only measurement listings: with (true) or without (false) a comment
    /// whose audio is still there.
    pub has_comment: Option<bool>,
    /// Only measurement listings: with (true) or without (false) a
    /// follow-up.
    pub followed_up: Option<bool>,
    /// Only measurements with at most this score (smiley 0 is sad, CSAT 2
    /// and below dissatisfied, NPS 6 and below detractors).
    pub score_max: Option<u8>,
}

/// Which table the filter is applied to: measurements are placed in time by
/// when the rating was given, calls by when the call entered the survey.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Measurements,
    Calls,
}

impl Filter {
    /// Conditions (with their binds registered in `sql`) for this filter.
    pub(crate) fn conditions(&self, sql: &mut Sql, target: Target) -> Vec<String> {
        self.conditions_on(sql, target, "")
    }

    /// Like `conditions`, with columns qualified by `prefix` (e.g. "m.").
    pub(crate) fn conditions_on(&self, sql: &mut Sql, target: Target, prefix: &str) -> Vec<String> {
        let time_col = match target {
            Target::Measurements => format!("{prefix}created_at"),
            Target::Calls => format!("{prefix}started_at"),
        };
        let mut c = Vec::new();
        if let Some(survey) = &self.survey {
            c.push(format!(
                "{prefix}survey = {}",
                sql.bind(Bind::Text(survey.clone()))
            ));
        }
        if let (Target::Measurements, Some(kind)) = (target, self.kind) {
            c.push(format!(
                "{prefix}kind = {}",
                sql.bind(Bind::Text(kind.as_str().to_owned()))
            ));
        }
        if let Some(agent) = &self.agent {
            c.push(format!(
                "{prefix}agent = {}",
                sql.bind(Bind::Text(agent.clone()))
            ));
        }
        if let Some(queue) = &self.queue {
            c.push(format!(
                "{prefix}queue = {}",
                sql.bind(Bind::Text(queue.clone()))
            ));
        }
        if let Some(from) = self.from {
            c.push(format!(
                "{time_col} >= {}",
                sql.bind(Bind::Int(to_ms(from)))
            ));
        }
        if let Some(to) = self.to {
            c.push(format!("{time_col} < {}", sql.bind(Bind::Int(to_ms(to)))));
        }
        if let (Target::Measurements, Some(rating)) = (target, &self.rating) {
            c.push(format!(
                "{prefix}rating = {}",
                sql.bind(Bind::Text(rating.clone()))
            ));
        }
        // With a comment, over a whole survey or queue: a list of the
        // comments that still have audio, which the database may walk
        // instead of the answers, so the cost is bounded by the comments
        // kept (retention keeps them few), not by the answers: a survey
        // without comments no longer reads all of its answers to find none
        // (0.17 s → 0.03 s on 1,000,000 answers). One agent's answers are
        // few enough to check one by one, which finds the newest at once.
        match (target, self.has_comment) {
            (Target::Measurements, Some(true)) if self.agent.is_none() => c.push(format!(
                "{prefix}id IN (SELECT hc.measurement_id FROM comments hc \
                 WHERE hc.deleted_at IS NULL)"
            )),
            (Target::Measurements, Some(true)) => c.push(format!(
                "EXISTS (SELECT 1 FROM comments hc WHERE hc.measurement_id = {prefix}id \
                 AND hc.deleted_at IS NULL)"
            )),
            (Target::Measurements, Some(false)) => c.push(format!(
                "NOT EXISTS (SELECT 1 FROM comments hc WHERE hc.measurement_id = {prefix}id \
                 AND hc.deleted_at IS NULL)"
            )),
            _ => {}
        }
        if let (Target::Measurements, Some(done)) = (target, self.followed_up) {
            c.push(format!(
                "{}EXISTS (SELECT 1 FROM follow_ups fu WHERE fu.measurement_id = {prefix}id)",
                if done { "" } else { "NOT " }
            ));
        }
        if let (Target::Measurements, Some(max)) = (target, self.score_max) {
            c.push(format!(
                "{prefix}score <= {}",
                sql.bind(Bind::Int(i64::from(max)))
            ));
        }
        c
    }
}
