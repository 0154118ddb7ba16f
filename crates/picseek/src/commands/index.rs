//! `picseek index`.

use std::io::Write;

use picseek_index::IndexReport;

use super::{Context, lock_shard, write_shard_line, write_skipped_line};
use crate::cli::IndexArgs;

pub fn index(ctx: &Context, args: IndexArgs) -> anyhow::Result<()> {
    let opts = picseek_index::IndexOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data)? };
    let _shard_lock = lock_shard(&opts.index_dir, opts.shard, "index")?;
    let report = picseek_index::build_index(&opts)?;
    ctx.printer.print(&report, |out| write_index_summary(out, &report))?;
    ctx.fail_if_strict(report.skipped.len(), "image(s) could not be indexed", &[])
}

pub fn write_index_summary(out: &mut dyn Write, report: &IndexReport) -> std::io::Result<()> {
    write_shard_line(out, report.shard, report.already_complete)?;
    if let Some(shard) = report.shard {
        return writeln!(
            out,
            "{} images of shard {shard}: {} embedded in this run, {} already",
            report.items, report.embedded, report.reused
        );
    }
    writeln!(
        out,
        "indexed {} images in {} ({} embedded, {} reused, {} skipped)",
        report.items,
        report.index.display(),
        report.embedded,
        report.reused,
        report.skipped.len()
    )?;
    write_skipped_line(out, report.skipped.iter().map(|s| s.reason.as_str()))?;
    if !report.graphs_built.is_empty() {
        let names: Vec<&str> = report.graphs_built.iter().map(|m| m.name()).collect();
        writeln!(out, "built approximate-search graphs: {}", names.join(", "))?;
    }
    Ok(())
}
