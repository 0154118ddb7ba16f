//! `picseek split`.

use std::io::Write;

use picseek_split::SplitReport;

use super::Context;
use crate::cli::SplitArgs;

pub fn split(ctx: &Context, args: SplitArgs) -> anyhow::Result<()> {
    let opts = args.options(&ctx.data);
    let report = picseek_split::split(&opts)?;
    ctx.printer.print(&report, |out| {
        write_split_summary(out, &report)?;
        writeln!(out, "wrote {}", opts.manifest_path.display())
    })
}

pub fn write_split_summary(out: &mut dyn Write, report: &SplitReport) -> std::io::Result<()> {
    let m = &report.manifest;
    let train: usize = m.classes.values().map(|c| c.train.len()).sum();
    let test: usize = m.classes.values().map(|c| c.test.len()).sum();
    writeln!(
        out,
        "split {} classes: {train} train, {test} test images ({} placed, {} unchanged, {} removed)",
        m.classes.len(),
        report.placed,
        report.unchanged,
        report.removed
    )?;
    for (class, reason) in &m.skipped_classes {
        writeln!(out, "left out class {class}: {reason}")?;
    }
    if !m.groups.is_empty() {
        let images: usize = m.groups.iter().map(Vec::len).sum();
        writeln!(out, "kept {} near-copy groups ({images} images) on one side each", m.groups.len())?;
    }
    for cut in &m.cut_groups {
        writeln!(out, "cut a near-copy group ({}): {}", cut.reason, cut.images.join(", "))?;
    }
    for (class, note) in &m.uneven_classes {
        writeln!(out, "class {class}: {note}")?;
    }
    if m.left_out > 0 {
        writeln!(
            out,
            "left out {} image(s) past --train-per-class {} (--train-per-class 0 uses them all)",
            m.left_out, m.train_per_class
        )?;
    }
    match &m.leakage_check {
        Some(check) if check.unchecked() => writeln!(
            out,
            "leakage NOT checked: none of the {} images has clean's records or a cached CLIP vector; \
             run `picseek clean --in DIR` and split its output to keep near copies on one side",
            check.images
        )?,
        Some(check) if check.compared < check.images => writeln!(
            out,
            "leakage checked for {} of {} images (the others have no clean record or CLIP vector)",
            check.compared, check.images
        )?,
        _ => {}
    }
    Ok(())
}
