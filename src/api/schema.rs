//! Schema-only twins of the domain enums, so the OpenAPI document can list
//! their values without the domain types depending on the documentation
//! crate.

use utoipa::ToSchema;

/// A survey's scale: smiley (happy/sad), csat (1–5) or nps (0–10).
#[derive(ToSchema)]
#[schema(as = ScaleKind)]
#[allow(dead_code)]
pub enum ScaleKindName {
    #[schema(rename = "smiley")]
    Smiley,
    #[schema(rename = "csat")]
    Csat,
    #[schema(rename = "nps")]
    Nps,
}

/// How the digit reached smileyd.
#[derive(ToSchema)]
#[schema(as = DtmfSource)]
#[allow(dead_code)]
pub enum DtmfSourceName {
    #[schema(rename = "rfc4733")]
    Rfc4733,
    #[schema(rename = "info")]
    Info,
    #[schema(rename = "inband")]
    Inband,
}

/// How the recording of a comment ended.
#[derive(ToSchema)]
#[schema(as = CommentStatus)]
#[allow(dead_code)]
pub enum CommentStatusName {
    #[schema(rename = "dtmf")]
    Dtmf,
    #[schema(rename = "silence")]
    Silence,
    #[schema(rename = "max_length")]
    MaxLength,
    #[schema(rename = "hangup")]
    Hangup,
    #[schema(rename = "error")]
    Error,
}

/// Where a webhook delivery stands.
#[derive(ToSchema)]
#[schema(as = DeliveryStatus)]
#[allow(dead_code)]
pub enum DeliveryStatusName {
    #[schema(rename = "pending")]
    Pending,
    #[schema(rename = "delivered")]
    Delivered,
    #[schema(rename = "failed")]
    Failed,
}

/// The prompts a survey plays.
#[derive(ToSchema)]
#[schema(as = PromptName)]
#[allow(dead_code)]
pub enum PromptNameName {
    #[schema(rename = "survey")]
    Survey,
    #[schema(rename = "invalid")]
    Invalid,
    #[schema(rename = "thanks")]
    Thanks,
    #[schema(rename = "goodbye")]
    Goodbye,
    #[schema(rename = "comment")]
    Comment,
    #[schema(rename = "beep")]
    Beep,
}
