//! smileyd: post-call satisfaction surveys over SIP.
//!
//! Data flows one way: SIP (`sip`) → the per-call task (`call`) → the survey
//! state machine (`survey`) → the store (`store`) → the HTTP API (`api`).

pub mod api;
pub mod call;
pub mod comment;
pub mod config;
pub mod current;
#[doc(hidden)]
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
pub mod journal;
pub mod media;
pub mod metrics;
pub mod model;
pub mod service;
pub mod sip;
pub mod sources;
pub mod store;
pub mod survey;
