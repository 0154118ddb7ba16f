//! A request to stop a stage (Ctrl-C or SIGTERM): the binary records the signal here,
//! and writing stages look between units of work. A stage that sees it finishes the unit
//! it is in, saves what it did, removes its temporaries and returns [`Interrupted`], so
//! the same command resumes; nothing already done is lost.

use std::sync::atomic::{AtomicI32, Ordering};

static REQUESTED: AtomicI32 = AtomicI32::new(0);

/// Records that `signal` asked the process to stop. Async-signal-safe (one atomic store),
/// so a signal handler may call it.
pub fn request(signal: i32) {
    REQUESTED.store(signal, Ordering::SeqCst);
}

/// The signal that asked to stop, if one did.
pub fn requested() -> Option<i32> {
    match REQUESTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A stage stopped on request, with how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted: {done} of {total} done; run the same command to resume")]
pub struct Interrupted {
    /// Units (files, URLs, images) done, this run and earlier ones.
    pub done: usize,
    /// Units in all.
    pub total: usize,
}

impl Interrupted {
    /// `Err(Interrupted)` when a stop was requested, else `Ok`.
    pub fn check(done: usize, total: usize) -> Result<(), Interrupted> {
        match requested() {
            Some(_) => Err(Interrupted { done, total }),
            None => Ok(()),
        }
    }
}
