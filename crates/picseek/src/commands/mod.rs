//! One file per command: call the stage with the options [`settings`](crate::settings)
//! made, and print its typed report through the [`Printer`]; the helpers here are what
//! several commands print alike.

pub mod clean;
pub mod crawl;
pub mod doctor;
pub mod download;
pub mod eval;
pub mod export;
pub mod index;
pub mod merge;
pub mod report;
pub mod run;
pub mod search;
pub mod serve;
pub mod split;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use picseek_index::Index;
use picseek_manifest::progress::Reporter;
use picseek_manifest::{DataDir, DataDirLock, Shard};

use crate::printer::Printer;

/// What every command shares.
pub struct Context {
    /// The data directory, which every path left out is in.
    pub data: DataDir,
    /// Where reports go.
    pub printer: Printer,
    /// Where the stages' progress goes.
    pub progress: Reporter,
    /// Whether any failed item fails the command (`--strict`).
    pub strict: bool,
}

/// A shard's own lock, in its folder: the same shard never runs twice at once (a retry
/// while the first attempt still runs, say), while other shards run beside it.
pub fn lock_shard(
    stage_dir: &std::path::Path,
    shard: Option<Shard>,
    stage: &str,
) -> anyhow::Result<Option<DataDirLock>> {
    let Some(shard) = shard else { return Ok(None) };
    Ok(Some(DataDirLock::acquire(&shard.dir(stage_dir), &format!("{stage} --shard {shard}"))?))
}

/// The first line of a shard's summary.
pub fn write_shard_line(out: &mut dyn Write, shard: Option<Shard>, already_complete: bool) -> std::io::Result<()> {
    match shard {
        Some(shard) if already_complete => {
            writeln!(out, "shard {shard} already ran to the end on this input: nothing to do")
        }
        Some(shard) => writeln!(out, "shard {shard} complete; once all are, join them with picseek merge"),
        None => Ok(()),
    }
}

impl Context {
    /// The one exit-status rule, after the report was printed: `failed` items (`what`:
    /// "URL(s) failed"; named by `names`, if any) fail the command only with `--strict`.
    pub fn fail_if_strict(&self, failed: usize, what: &str, names: &[String]) -> anyhow::Result<()> {
        if self.strict && failed > 0 {
            let named = if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) };
            bail!("--strict: {failed} {what}{named}");
        }
        Ok(())
    }
}

pub fn write_counts(out: &mut dyn Write, counts: impl IntoIterator<Item = (String, usize)>) -> std::io::Result<()> {
    for (what, count) in counts {
        writeln!(out, "  {count:>6}  {what}")?;
    }
    Ok(())
}

/// One line for the files a stage passed over, by reason (each is named at `-v`).
pub fn write_skipped_line<'a>(out: &mut dyn Write, reasons: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = counts.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    writeln!(out, "skipped: {} (-v names each file)", parts.join(", "))
}

pub fn open_index(ctx: &Context, flag: Option<PathBuf>) -> anyhow::Result<Index> {
    Ok(Index::open(&flag.unwrap_or_else(|| ctx.data.index()))?)
}
