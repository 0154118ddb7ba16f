//! `picseek report`.

use super::Context;
use crate::cli::ReportArgs;

/// Writes the data directory's report page and prints its numbers.
pub fn report(ctx: &Context, args: ReportArgs) -> anyhow::Result<()> {
    let opts = args.options(&ctx.data);
    let report = picseek_report::report(&opts)?;
    ctx.printer.print(&report, |out| {
        writeln!(
            out,
            "{:<24} {:>10} {:>6} {:>8} {:>6} {:>6}",
            "class", "downloaded", "kept", "rejected", "train", "test"
        )?;
        for (class, c) in &report.classes {
            let rejected: usize = c.rejected.values().sum();
            writeln!(out, "{class:<24} {:>10} {:>6} {rejected:>8} {:>6} {:>6}", c.downloaded, c.kept, c.train, c.test)?;
        }
        let flagged: usize = report.flagged.values().map(Vec::len).sum();
        writeln!(
            out,
            "{} duplicate groups, {} near-copy groups ({} crossing train and test), {flagged} flagged images",
            report.duplicate_groups.len(),
            report.split_groups.len(),
            report.crossing_groups
        )?;
        writeln!(out, "wrote {}", report.page.display())
    })
}
