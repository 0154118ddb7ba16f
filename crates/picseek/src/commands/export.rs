//! `picseek export`.

use picseek_export::ExportOptions;

use super::Context;
use crate::cli::ExportArgs;

/// Writes the split as the format asked for and says what went where.
pub fn export(ctx: &Context, args: ExportArgs) -> anyhow::Result<()> {
    let opts = ExportOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data) };
    let report = picseek_export::export(&opts)?;
    ctx.printer.print(&report, |out| {
        let sides: Vec<String> = report.samples.iter().map(|(side, n)| format!("{n} {side}")).collect();
        writeln!(out, "exported {} images into {}", sides.join(" and "), report.out.display())?;
        if !report.left_out.is_empty() {
            let left: Vec<String> = report.left_out.iter().map(|(l, n)| format!("{n} {l}")).collect();
            writeln!(out, "left out by licence: {} (--license, --include-unknown)", left.join(", "))?;
        }
        if report.reused > 0 {
            writeln!(out, "{} file(s) were already in place from an earlier export", report.reused)?;
        }
        Ok(())
    })
}
