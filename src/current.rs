//! A value replaced whole while its readers keep the snapshot they took: the
//! configuration on SIGHUP (a call keeps the one it started with), the
//! surveys the API reports, the prompt set after an upload.

use std::sync::{Arc, PoisonError, RwLock};

/// Shared by its clones; `get` is a read lock and an `Arc` clone.
#[derive(Debug, Default)]
pub struct Current<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Current(Arc::clone(&self.0))
    }
}

impl<T> Current<T> {
    pub fn new(value: impl Into<Arc<T>>) -> Self {
        Current(Arc::new(RwLock::new(value.into())))
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        // A writer cannot leave a half-made value behind: it swaps an Arc.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `value` in force for everyone who `get`s after this.
    pub fn set(&self, value: impl Into<Arc<T>>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value.into();
    }
}
