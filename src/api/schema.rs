//! Schema-only twins of the domain enums, so the OpenAPI document can list
//! their values without the domain types depending on the documentation
//! crate.

use utoipa::ToSchema;

/// A smiley rating.
#[derive(ToSchema)]
#[schema(as = Rating)]
#[allow(dead_code)]
pub enum RatingName {
    #[schema(rename = "happy")]
    Happy,
    #[schema(rename = "sad")]
    Sad,
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
