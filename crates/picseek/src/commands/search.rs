//! `picseek search`: one query from flags, or a file of them.

use std::io::Write;

use anyhow::bail;
use picseek_embed::QueryEmbedder;
use picseek_index::Index;
use picseek_manifest::Metric;
use picseek_search::{SearchRequest, Searcher, SheetQuery};
use serde::Serialize;

use super::{Context, open_index};
use crate::cli::SearchArgs;

/// `search --json`, and each line of `--queries`.
#[derive(Serialize)]
struct SearchReport<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    query: &'a str,
    metric: Metric,
    search: picseek_search::SearchMethod,
    results: &'a [picseek_search::Hit],
}

/// A search's answer, and the query it answered.
struct Answer {
    query: picseek_search::ComposedQuery,
    hits: Vec<picseek_search::Hit>,
}

fn answer(
    index: &Index,
    embedder: &QueryEmbedder,
    searcher: &Searcher,
    terms: &[picseek_search::QueryTerm],
    request: SearchRequest,
    exclude_query: bool,
) -> anyhow::Result<Answer> {
    let query = picseek_search::compose(index, embedder, terms)?;
    let exclude = if exclude_query { query.own_items.clone() } else { Vec::new() };
    let hits =
        searcher.search(&query.vector, &SearchRequest { exclude: &exclude, ..request }).map_err(|e| match e {
            picseek_search::SearchError::ZeroK => anyhow::anyhow!("-k must be at least 1"),
            other => other.into(),
        })?;
    Ok(Answer { query, hits })
}

pub fn search(ctx: &Context, args: SearchArgs) -> anyhow::Result<()> {
    let index = open_index(ctx, args.index.clone())?;
    if args.k > index.len() {
        tracing::warn!("-k {} is more than the {} images in the index: all of them are shown", args.k, index.len());
    }
    if let Some(changes) = index.folder_changes().filter(|c| c.any()) {
        tracing::warn!(
            "{} changed since the index was built ({}): results leave those out; run `picseek index` to update it",
            changes.folder.display(),
            changes.describe()
        );
    }
    let embedder = index.query_embedder(&args.model_options())?;
    let searcher = Searcher::new(&index);
    let filter = args.filter();
    let request = SearchRequest {
        metric: args.metric,
        k: args.k,
        class: args.class.as_deref(),
        exact: args.exact,
        filter: Some(&filter),
        ..SearchRequest::default()
    };
    let method = searcher.method(args.metric, args.exact);
    if let Some(from) = index.graph_used_from(args.metric).filter(|_| !args.exact) {
        tracing::info!(
            "searching all {} items exactly: below {from} exact search is as fast as the graph",
            index.len()
        );
    }
    if let Some(queries) = &args.queries {
        return search_batch(queries, &index, &embedder, &searcher, request, args.exclude_query);
    }
    let terms = crate::query_terms::terms(&args.query, &args.image, &args.text)?;
    let Answer { query, hits } = answer(&index, &embedder, &searcher, &terms, request, args.exclude_query)?;
    if let Some(plot) = &args.plot {
        let format = picseek_search::sheet_format(plot)?;
        let sheet_query = match terms.iter().find_map(|t| match &t.source {
            picseek_search::TermSource::Image { bytes, .. } if terms.len() == 1 => Some(bytes),
            _ => None,
        }) {
            Some(bytes) => SheetQuery::Image { label: &query.label, bytes },
            None => SheetQuery::Text(&query.label),
        };
        let sheet =
            picseek_search::contact_sheet(sheet_query, query_class(&index, &query).as_deref(), args.metric, &hits)?;
        let mut encoded = std::io::Cursor::new(Vec::new());
        sheet.write_to(&mut encoded, format)?;
        picseek_manifest::write_atomic(plot, encoded.get_ref())?;
        tracing::info!("wrote {}", plot.display());
    }
    let report =
        SearchReport { id: None, line: None, query: &query.label, metric: args.metric, search: method, results: &hits };
    ctx.printer.print(&report, |out| {
        if args.paths {
            for hit in &hits {
                writeln!(out, "{}", hit.path)?;
            }
            return Ok(());
        }
        let closer = if args.metric.larger_is_closer() { "larger" } else { "smaller" };
        writeln!(out, "{:>4}  {:>12}  {:<20}  path", "rank", format!("{} score", args.metric), "class")?;
        for hit in &hits {
            writeln!(out, "{:>4}  {:>12.6}  {:<20}  {}", hit.rank, hit.score, hit.class, hit.path)?;
        }
        writeln!(out, "({closer} {} scores are closer; {} search)", args.metric, method.name())
    })
}

/// The class of the query's own image, when it is an item of the index.
fn query_class(index: &Index, query: &picseek_search::ComposedQuery) -> Option<String> {
    let items = &index.manifest().items;
    query.own_items.first().and_then(|&key| items.iter().find(|i| i.key == key)).map(|i| i.class.clone())
}

/// `--queries`: one JSON line per query, in order; a query that fails is a line with
/// its error, and the exit status says some failed.
fn search_batch(
    path: &std::path::Path,
    index: &Index,
    embedder: &QueryEmbedder,
    searcher: &Searcher,
    request: SearchRequest,
    exclude_query: bool,
) -> anyhow::Result<()> {
    let batch = crate::query_terms::read_batch(path)?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for (line, query) in &batch {
        let result = query.as_ref().map_err(|e| anyhow::anyhow!("{e}")).and_then(|q| {
            let request =
                SearchRequest { k: q.k.unwrap_or(request.k), class: q.class.as_deref().or(request.class), ..request };
            answer(index, embedder, searcher, &q.terms()?, request, exclude_query).map(|a| (q, a))
        });
        let written = match result {
            Ok((q, a)) => {
                let report = SearchReport {
                    id: q.id.as_ref(),
                    line: Some(*line),
                    query: &a.query.label,
                    metric: request.metric,
                    search: searcher.method(request.metric, request.exact),
                    results: &a.hits,
                };
                serde_json::to_writer(&mut out, &report)
            }
            Err(e) => {
                failed += 1;
                let id = query.as_ref().ok().and_then(|q| q.id.clone());
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({"id": id, "line": line, "error": crate::errors::one_line(&e)}),
                )
            }
        };
        match written.map_err(std::io::Error::from).and_then(|()| writeln!(out)) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    if failed > 0 {
        bail!("{}: {failed} of {} queries failed (their lines say why)", path.display(), batch.len());
    }
    Ok(())
}
