//! Output: a command's typed report printed as JSON with `--json`, else as a person
//! reads it. Only the binary prints; the libraries return reports.

use std::io::Write;

use serde::Serialize;

/// Where and how reports are printed.
#[derive(Clone, Copy)]
pub struct Printer {
    /// One JSON document on stdout instead of human output.
    pub json: bool,
}

impl Printer {
    /// Prints `report`: as JSON with `--json`, else through `human`.
    pub fn print<R: Serialize>(
        &self,
        report: &R,
        human: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let written = if self.json {
            serde_json::to_writer_pretty(&mut out, report).map_err(std::io::Error::from).and_then(|()| writeln!(out))
        } else {
            human(&mut out)
        };
        match written.and_then(|()| out.flush()) {
            // The reader has gone (`picseek ... | head`): what it wanted, it has.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
}
