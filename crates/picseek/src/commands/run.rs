//! `picseek run`.

use std::io::Write;

use anyhow::bail;
use picseek_pipeline::{RunReport, Stage};

use super::Context;
use super::crawl::write_crawl_table;
use crate::cli::RunArgs;

/// Runs crawl, download, clean, split and index in order (see `picseek-pipeline`) and
/// prints the crawl's table and one summary. Failed crawl terms make the exit status
/// non-zero at the end.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<()> {
    let mut opts = args.options(&ctx.data)?;
    opts.crawl.progress = ctx.progress.clone();
    opts.download.progress = ctx.progress.clone();
    opts.clean.progress = ctx.progress.clone();
    opts.index.progress = ctx.progress.clone();
    let announce = |stage: Stage| {
        let i = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        eprintln!("==> [{}/{}] {}", i + 1, Stage::ALL.len(), stage.name());
    };
    let report = match picseek_pipeline::run(&opts, announce) {
        Ok(report) => report,
        Err(picseek_pipeline::RunError::NothingFound { crawl, failed }) => {
            if !ctx.printer.json {
                write_crawl_table(&mut std::io::stderr().lock(), &crawl)?;
            }
            let cause = if failed.is_empty() {
                "the crawl found no photo URLs".to_owned()
            } else {
                format!("{} term(s) failed: {}", failed.len(), failed.join(", "))
            };
            bail!("{cause}: nothing to download, so the run stops here");
        }
        Err(e) => return Err(e.into()),
    };
    ctx.printer.print(&report, |out| write_run_summary(out, &report))?;
    ctx.fail_if_strict(report.failed_terms().len(), "crawl term(s) failed", report.failed_terms())?;
    ctx.fail_if_strict(report.stages.download.failed(), "download URL(s) failed", &[])
}

fn write_run_summary(out: &mut dyn Write, report: &RunReport) -> std::io::Result<()> {
    let s = &report.summary;
    write_crawl_table(out, &report.stages.crawl)?;
    writeln!(out)?;
    writeln!(out, "{:<14} {:>6}   ({} terms crawled in this run)", "URLs found", s.urls_found, s.terms_crawled_now)?;
    writeln!(out, "{:<14} {:>6}   ({} fetched in this run)", "downloaded", s.downloaded, s.fetched_now)?;
    writeln!(out, "{:<14} {:>6}   ({} examined in this run)", "kept", s.kept, s.examined_now)?;
    for (reason, n) in &s.rejected {
        writeln!(out, "{:<14} {:>6}", format!("rejected: {}", reason.describe()), n)?;
    }
    writeln!(out, "{:<14} {:>6}", "classes", s.classes)?;
    writeln!(out, "{:<14} {:>6}   ({} embedded in this run)", "indexed", s.indexed, s.embedded_now)
}
