//! Progress of long work, as events. Stages report through a [`Reporter`] in their
//! options and never draw anything themselves: the binary implements [`Progress`] with
//! bars on a terminal (and keeps its logs from breaking them); a library caller, a test
//! or a benchmark leaves the default, which shows nothing.

use std::fmt;
use std::sync::Arc;

/// What a front end shows of work under way.
pub trait Progress: Send + Sync {
    /// A piece of work called `what` begins: `total` units of it, or an unknown amount.
    fn start(&self, what: &str, total: Option<u64>) -> Box<dyn Task>;
}

/// One piece of work under way; it ends when dropped.
pub trait Task: Send + Sync {
    /// `units` more are done.
    fn advance(&self, units: u64);
    /// `done` units are done in all.
    fn set_done(&self, done: u64);
    /// What it is doing now (a host being throttled, say), in place of its name.
    fn say(&self, message: &str);
}

/// The progress a stage reports to: a [`Progress`] shared with the caller. [`Default`]
/// shows nothing.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Progress>);

impl Reporter {
    /// Reports to `progress`.
    pub fn new(progress: impl Progress + 'static) -> Self {
        Self(Arc::new(progress))
    }

    /// Starts a piece of work (see [`Progress::start`]).
    pub fn start(&self, what: &str, total: Option<u64>) -> Box<dyn Task> {
        self.0.start(what, total)
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new(Silent)
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reporter")
    }
}

/// Shows nothing.
struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: Option<u64>) -> Box<dyn Task> {
        Box::new(Silent)
    }
}

impl Task for Silent {
    fn advance(&self, _: u64) {}
    fn set_done(&self, _: u64) {}
    fn say(&self, _: &str) {}
}
