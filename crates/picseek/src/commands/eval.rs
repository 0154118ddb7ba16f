//! `picseek eval`.

use anyhow::{Context as _, bail};
use picseek_pipeline::{CompareError, compare_models};
use picseek_search::{EvalOptions, evaluate};

use super::{Context, open_index};
use crate::cli::EvalArgs;

pub fn eval(ctx: &Context, args: EvalArgs) -> anyhow::Result<()> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    if args.models.len() > 1 {
        return compare(ctx, &args);
    }
    let opts = EvalOptions { progress: ctx.progress.clone(), ..args.options(&ctx.data) };
    let test_dir = &opts.test_dir;
    let index = open_index(ctx, args.index.clone())?;
    let embedder = index.query_embedder(&args.model_options())?;
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

/// `eval --model A --model B ...`: one table, a row per model.
fn compare(ctx: &Context, args: &EvalArgs) -> anyhow::Result<()> {
    let opts = picseek_pipeline::CompareOptions { progress: ctx.progress.clone(), ..args.comparison(&ctx.data) };
    let report = compare_models(&opts).map_err(|e| match e {
        CompareError::Eval { source: picseek_search::SearchError::StaleIndex { .. }, .. } => {
            anyhow::anyhow!("{e}; split again so that no test image is a training one")
        }
        other => other.into(),
    })?;
    ctx.printer.print(&report, |out| {
        writeln!(
            out,
            "{} queries from {} against each model's index of {}, k = {}, cosine",
            report.queries,
            opts.test_dir.display(),
            opts.train_dir.display(),
            report.k
        )?;
        let width = report.models.iter().map(|m| m.label.chars().count()).max().unwrap_or(5).max(5);
        writeln!(
            out,
            "{:<width$} {:<7} {:>5} {:>7} {:>7} {:>7} {:>10} {:>9} {:>10}",
            "model",
            "family",
            "dim",
            "P@1",
            format!("P@{}", report.k),
            "mAP",
            format!("recall@{}", report.k),
            "images/s",
            "index"
        )?;
        for m in &report.models {
            let recall = m.eval.recall_at_k.map_or("exact".to_owned(), |r| format!("{r:.3}"));
            writeln!(
                out,
                "{:<width$} {:<7} {:>5} {:>7.3} {:>7.3} {:>7.3} {:>10} {:>9.1} {:>10}",
                m.label,
                m.family.name(),
                m.dimension,
                m.eval.precision_at_1,
                m.eval.precision_at_k,
                m.eval.mean_average_precision,
                recall,
                m.images_per_second,
                indicatif::HumanBytes(m.index_bytes).to_string()
            )?;
        }
        Ok(())
    })
}
