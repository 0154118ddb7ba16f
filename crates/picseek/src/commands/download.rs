//! `picseek download`.

use std::io::Write;

use picseek_download::DownloadReport;

use super::{Context, lock_shard, write_counts, write_shard_line};
use crate::cli::DownloadArgs;

pub fn download(ctx: &Context, args: DownloadArgs) -> anyhow::Result<()> {
    let opts = picseek_download::DownloadOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data)? };
    let _shard_lock = lock_shard(&opts.out_dir, opts.shard, "download")?;
    let report = tokio::runtime::Runtime::new()?.block_on(picseek_download::download(&opts))?;
    ctx.printer.print(&report, |out| write_download_summary(out, &report))?;
    ctx.fail_if_strict(report.failed(), "URL(s) failed", &[])
}

pub fn write_download_summary(out: &mut dyn Write, report: &DownloadReport) -> std::io::Result<()> {
    write_shard_line(out, report.shard, report.already_complete)?;
    writeln!(
        out,
        "{} URLs: {} fetched in this run, {} already downloaded",
        report.urls, report.attempted, report.reused
    )?;
    write_counts(out, report.summary.iter().map(|(outcome, n)| (outcome.describe(), *n)))?;
    if !report.hosts.is_empty() {
        writeln!(
            out,
            "{:<32} {:>8} {:>6} {:>8} {:>11} {:>9}",
            "host", "requests", "ok", "refused", "final rate", "waited"
        )?;
        for h in &report.hosts {
            let rate = h.final_rate.map_or("unpaced".to_owned(), |r| format!("{r:.2}/s"));
            let note = if h.gave_up { "  gave up: throttled" } else { "" };
            writeln!(
                out,
                "{:<32} {:>8} {:>6} {:>8} {:>11} {:>8.1}s{note}",
                h.host, h.requests, h.ok, h.refused, rate, h.waited_seconds
            )?;
        }
    }
    write_opt_outs(out, &report.opt_outs)?;
    writeln!(out, "wrote {}", report.manifest.display())
}

/// Per host: what its robots.txt and tdmrep.json said, and the URLs each kind of
/// opt-out kept (or a flag fetched anyway).
fn write_opt_outs(out: &mut dyn Write, summary: &picseek_manifest::OptOutSummary) -> std::io::Result<()> {
    let flags = summary.overrides();
    let touched: Vec<_> = summary
        .hosts
        .iter()
        .filter(|h| !h.skipped.is_empty() || h.overridden > 0 || h.crawl_delay_seconds.is_some())
        .collect();
    if touched.is_empty() && flags.is_empty() {
        return Ok(());
    }
    let treated =
        if flags.is_empty() { "all obeyed".to_owned() } else { format!("overridden by {}", flags.join(", ")) };
    writeln!(out, "opt-outs (user agent {}): {treated}", summary.agent)?;
    for host in touched {
        let mut parts: Vec<String> = host.skipped.iter().map(|(reason, n)| format!("{n} skipped: {reason}")).collect();
        if host.overridden > 0 {
            parts.push(format!("{} fetched despite an opt-out", host.overridden));
        }
        if let Some(delay) = host.crawl_delay_seconds {
            parts.push(format!("crawl-delay {delay} s"));
        }
        let robots = match host.robots_txt {
            picseek_manifest::RobotsTxtState::Rules => "robots.txt",
            picseek_manifest::RobotsTxtState::None => "no robots.txt",
            picseek_manifest::RobotsTxtState::Unavailable => "robots.txt unavailable",
        };
        let tdm = if host.tdmrep_json { ", tdmrep.json" } else { "" };
        writeln!(out, "  {} ({robots}{tdm}): {}", host.origin, parts.join(", "))?;
    }
    Ok(())
}
