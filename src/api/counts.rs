//! JSON shape of a survey's figures, shared by /satisfaction, /agents,
//! /queues and /timeseries: the number of answers, how they spread over the
//! scale, and the scale's own headline figure.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::store::{scores, Counts};
use crate::survey::ScaleKind;

/// `{"total","distribution", …}` plus the scale's figures: smiley `happy`,
/// `sad`, `happy_pct`; csat `csat_pct`, `dsat_pct`; nps `nps`, `promoters`,
/// `passives`, `detractors`. Percentages and NPS are null without answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FiguresJson {
    /// Answers counted.
    pub total: i64,
    /// Answers per score, every score of the scale listed in order (smiley:
    /// "0" sad, "1" happy; csat "1"–"5"; nps "0"–"10").
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub distribution: Distribution,
    /// Documented as one object with every scale's fields (each answer
    /// has its own scale's only): client generators cannot take the
    /// `oneOf` of the three shapes flattened into this one.
    #[serde(flatten)]
    #[schema(value_type = HeadlineFields)]
    pub headline: Headline,
}

/// The headline figures of every scale; an answer carries those of its
/// survey's scale only: smiley `happy`, `sad`, `happy_pct`; csat
/// `csat_pct`, `dsat_pct`; nps `nps`, `promoters`, `passives`,
/// `detractors`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the JSON of `Headline`; never built
pub struct HeadlineFields {
    /// Smiley: happy answers.
    happy: Option<i64>,
    /// Smiley: sad answers.
    sad: Option<i64>,
    /// Smiley: percent happy, 0–100; null without ratings.
    happy_pct: Option<f64>,
    /// CSAT: percent of answers that are 4 or 5, 0–100; null without answers.
    csat_pct: Option<f64>,
    /// CSAT: percent of answers that are 1 or 2, 0–100; null without answers.
    dsat_pct: Option<f64>,
    /// NPS: percent promoters minus percent detractors, −100 to +100; null
    /// without answers.
    #[schema(minimum = -100, maximum = 100)]
    nps: Option<f64>,
    /// NPS: answers 9–10.
    promoters: Option<i64>,
    /// NPS: answers 7–8.
    passives: Option<i64>,
    /// NPS: answers 0–6.
    detractors: Option<i64>,
}

/// The scale's headline figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Headline {
    Smiley(SmileyFigures),
    Csat(CsatFigures),
    Nps(NpsFigures),
}

/// Smiley: happy and sad answers and the happy share.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SmileyFigures {
    pub happy: i64,
    pub sad: i64,
    /// Percent happy, 0–100; null without ratings.
    #[schema(required = true)]
    pub happy_pct: Option<f64>,
}

/// CSAT (1–5): the share of satisfied and of dissatisfied callers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CsatFigures {
    /// Percent of answers that are 4 or 5, 0–100; null without answers.
    #[schema(required = true)]
    pub csat_pct: Option<f64>,
    /// Percent of answers that are 1 or 2, 0–100; null without answers.
    #[schema(required = true)]
    pub dsat_pct: Option<f64>,
}

/// NPS (0–10): promoters (9–10), passives (7–8), detractors (0–6) and the
/// score.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NpsFigures {
    /// Percent promoters minus percent detractors, −100 to +100; null
    /// without answers.
    #[schema(required = true, minimum = -100, maximum = 100)]
    pub nps: Option<f64>,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

/// Answers per score, serialised as an object keyed by score in scale order.
#[derive(Debug)]
pub struct Distribution {
    kind: ScaleKind,
    counts: Counts,
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let range = scores(self.kind);
        let mut map = s.serialize_map(Some(range.clone().count()))?;
        for score in range {
            map.serialize_entry(&score.to_string(), &self.counts.of(score))?;
        }
        map.end()
    }
}

impl FiguresJson {
    pub fn of(kind: ScaleKind, c: Counts) -> FiguresJson {
        let headline = match kind {
            ScaleKind::Smiley => Headline::Smiley(SmileyFigures {
                happy: c.happy(),
                sad: c.sad(),
                happy_pct: c.happy_pct(),
            }),
            ScaleKind::Csat => Headline::Csat(CsatFigures {
                csat_pct: c.csat_pct(),
                dsat_pct: c.dsat_pct(),
            }),
            ScaleKind::Nps => Headline::Nps(NpsFigures {
                nps: c.nps(),
                promoters: c.promoters(),
                passives: c.passives(),
                detractors: c.detractors(),
            }),
        };
        FiguresJson {
            total: c.total(),
            distribution: Distribution { kind, counts: c },
            headline,
        }
    }
}
