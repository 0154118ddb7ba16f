//! `picseek eval`.

use anyhow::{Context as _, bail};
use picseek_search::{EvalOptions, evaluate};

use super::{Context, open_index};
use crate::cli::EvalArgs;

pub fn eval(ctx: &Context, args: EvalArgs) -> anyhow::Result<()> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    let opts = EvalOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data) };
    let test_dir = &opts.test_dir;
    let index = open_index(ctx, args.index)?;
    let embedder = index.query_embedder(&args.model.options(1))?;
    let report = match evaluate(&index, &embedder, &opts) {
        Err(e @ picseek_search::SearchError::StaleIndex { .. }) => {
            bail!("{e}; run `picseek index` to build it again (or --allow-stale to score it anyway)")
        }
        other => other.with_context(|| format!("evaluating on {}", test_dir.display()))?,
    };
    if report.queries == 0 {
        bail!("{}: no usable query image", test_dir.display());
    }
    ctx.printer.print(&report, |out| {
        if let Some(stale) = &report.stale {
            writeln!(out, "--allow-stale: scoring a stale index ({}); the scores overstate", stale.describe())?;
        }
        writeln!(out, "{} queries against {} images, k = {}", report.queries, report.index_items, report.k)?;
        writeln!(
            out,
            "{:<12} {:<12} {:>7} {:>7} {:>7} {:>10} {:>10}",
            "metric",
            "search",
            "P@1",
            format!("P@{}", report.k),
            "mAP",
            format!("recall@{}", report.k),
            "queries/s"
        )?;
        for m in &report.metrics {
            let recall = m.recall_at_k.map_or("-".to_owned(), |r| format!("{r:.3}"));
            let search = m.search.name();
            writeln!(
                out,
                "{:<12} {:<12} {:>7.3} {:>7.3} {:>7.3} {:>10} {:>10.1}",
                m.metric.name(),
                search,
                m.precision_at_1,
                m.precision_at_k,
                m.mean_average_precision,
                recall,
                m.queries_per_second
            )?;
        }
        Ok(())
    })
}
