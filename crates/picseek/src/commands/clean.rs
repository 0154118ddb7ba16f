//! `picseek clean`.

use std::io::Write;

use anyhow::bail;
use picseek_clean::CleanReport;

use super::{Context, lock_shard, write_counts, write_shard_line};
use crate::cli::CleanArgs;

pub fn clean(ctx: &Context, args: CleanArgs) -> anyhow::Result<()> {
    let opts = picseek_clean::CleanOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data)? };
    let _shard_lock = lock_shard(&opts.out, opts.shard, "clean")?;
    let report = picseek_clean::clean(&opts)?;
    if report.files == 0 && report.shard.is_none() {
        bail!("{}: no files to clean (--in names the folder of images)", opts.input.display());
    }
    ctx.printer.print(&report, |out| write_clean_summary(out, &report))
}

pub fn write_clean_summary(out: &mut dyn Write, report: &CleanReport) -> std::io::Result<()> {
    write_shard_line(out, report.shard, report.already_complete)?;
    writeln!(
        out,
        "{} files: {} examined in this run, {} unchanged since the last",
        report.files, report.examined, report.reused
    )?;
    write_counts(out, report.summary.iter().map(|(outcome, n)| (outcome.describe(), *n)))?;
    if !report.duplicates.is_empty() {
        let kinds: Vec<String> = report.duplicates.iter().map(|(how, n)| format!("{n} {}", how.describe())).collect();
        writeln!(out, "duplicates: {} (each record's `duplicate` has the measures)", kinds.join(", "))?;
    }
    if !report.flagged.is_empty() {
        let flags: Vec<String> = report.flagged.iter().map(|(flag, n)| format!("{n} {flag}")).collect();
        writeln!(out, "flagged (kept; --reject FLAG to reject): {}", flags.join(", "))?;
    }
    writeln!(out, "wrote {}", report.manifest.display())
}
