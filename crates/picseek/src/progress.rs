//! The binary's side of the libraries' progress events: one bar per piece of work on a
//! terminal (nothing elsewhere), and a log writer that lifts the bars out of the way of
//! each log line so that lines never cut into a bar.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};
use picseek_manifest::progress::{Progress, Reporter, Task};

/// Every bar of the process, drawn on stderr (hidden when it is not a terminal).
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// The reporter every stage gets.
pub fn reporter() -> Reporter {
    Reporter::new(Bars)
}

/// Draws each piece of work as a bar (a spinner when its size is unknown).
struct Bars;

impl Progress for Bars {
    fn start(&self, what: &str, total: Option<u64>) -> Box<dyn Task> {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {rate} [{elapsed}{left}]")
                    .expect("a valid template")
                    .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1}/s", state.per_sec());
                    })
                    // A guess from the first second or the first few items misleads.
                    .with_key("left", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        if state.elapsed() >= Duration::from_secs(3) && state.pos() >= 3 {
                            let _ = write!(w, " < {}", indicatif::HumanDuration(state.eta()));
                        }
                    }),
            ),
            None => {
                let spinner = ProgressBar::new_spinner();
                spinner.enable_steady_tick(Duration::from_millis(200));
                spinner
            }
        };
        let bar = bars().add(bar.with_message(what.to_owned()));
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl Task for Bar {
    fn advance(&self, units: u64) {
        self.0.inc(units);
    }

    fn set_done(&self, done: u64) {
        self.0.set_position(done);
    }

    fn say(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
        bars().remove(&self.0);
    }
}

/// stderr for log lines, with the bars lifted while each line is written.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        bars().suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
