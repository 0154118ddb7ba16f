//! `picseek crawl`.

use std::io::Write;

use picseek_crawl::CrawlReport;
use picseek_manifest::TermStatus;

use anyhow::bail;

use super::Context;
use crate::cli::CrawlArgs;

pub fn crawl(ctx: &Context, args: CrawlArgs) -> anyhow::Result<()> {
    let opts = picseek_crawl::CrawlOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data)? };
    let report = tokio::runtime::Runtime::new()?.block_on(picseek_crawl::crawl(&opts))?;
    ctx.printer.print(&report, |out| {
        write_crawl_table(out, &report)?;
        match report.urls_found() {
            0 => writeln!(out, "no photo URLs found: {} lists none", report.urls.display()),
            n => writeln!(out, "wrote {} ({n} photo URLs)", report.urls.display()),
        }
    })?;
    if report.urls_found() == 0 && !report.failed.is_empty() {
        if let Some((host, opt_out)) = report.terms.iter().find_map(|t| match &t.failure {
            Some(picseek_crawl::TermFailure::OptedOut { host, opt_out }) => Some((host, opt_out)),
            _ => None,
        }) {
            bail!("{host} opted out of the crawl: {}; {}", opt_out.describe(), OPTED_OUT_ADVICE);
        }
        bail!("{} term(s) failed and nothing was found: {}", report.failed.len(), report.failed.join(", "));
    }
    ctx.fail_if_strict(report.failed.len(), "term(s) failed", &report.failed)
}

pub fn write_crawl_table(out: &mut dyn Write, report: &CrawlReport) -> std::io::Result<()> {
    writeln!(out, "{:<16} {:<24} {:>7} {:<10} note", "category", "term", "found", "status")?;
    for t in &report.terms {
        let status = match (t.skipped, t.record.status) {
            (true, _) => "done",
            (false, TermStatus::Complete) => "complete",
            (false, TermStatus::Exhausted) => "exhausted",
            (false, TermStatus::Failed) => "failed",
        };
        // A WebDriver message can run over several lines; the table keeps one per term.
        let note = t.record.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("");
        writeln!(
            out,
            "{:<16} {:<24} {:>3}/{:<3} {:<10} {note}",
            t.category, t.term, t.record.found, t.record.wanted, status
        )?;
    }
    write_crawl_advice(out, report)
}

/// What to do when the search host opted out of being crawled.
const OPTED_OUT_ADVICE: &str = "Flickr's API is the sanctioned route: --source flickr-api (with FLICKR_API_KEY); \
     or start from a folder of your own photos: `picseek clean --in DIR`";

/// What to do about failed terms, once per kind of failure, under the table.
pub fn write_crawl_advice(out: &mut dyn Write, report: &CrawlReport) -> std::io::Result<()> {
    use picseek_crawl::TermFailure;
    let mut unreachable: Vec<&str> = Vec::new();
    let mut no_photos: Vec<&str> = Vec::new();
    let mut opted_out: Vec<&str> = Vec::new();
    for t in &report.terms {
        match &t.failure {
            Some(TermFailure::Unreachable { host }) if !unreachable.contains(&host.as_str()) => unreachable.push(host),
            Some(TermFailure::NoPhotos) => no_photos.push(&t.term),
            Some(TermFailure::OptedOut { host, .. }) if !opted_out.contains(&host.as_str()) => opted_out.push(host),
            Some(TermFailure::OtherHostsOnly { hosts }) => writeln!(
                out,
                "{}: the images on the page are on {}; if those are the photos, add --photo-host {}",
                t.term,
                hosts.join(", "),
                hosts.first().map_or("HOST", String::as_str)
            )?,
            _ => {}
        }
    }
    if !unreachable.is_empty() {
        writeln!(
            out,
            "{} could not be reached (offline, or the host is down): check the network, or use --source flickr-api \
             (with FLICKR_API_KEY), or start from a folder of your own photos: `picseek clean --in DIR`",
            unreachable.join(", ")
        )?;
    }
    if !opted_out.is_empty() {
        writeln!(out, "{} opted out (see each term's note): {OPTED_OUT_ADVICE}", opted_out.join(", "))?;
    }
    if !no_photos.is_empty() {
        writeln!(out, "no photos on the page for {}: check the spelling, or --url-template", no_photos.join(", "))?;
    }
    Ok(())
}
