//! `picseek eval`: every test image as a query, scored by class, with recall of the
//! approximate search against exact; a stale index is refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use picseek_embed::{EmbedError, QueryEmbedder};
use picseek_imaging::list_class_images;
use picseek_index::{FolderChanges, Index, IndexError};
use picseek_manifest::progress::Reporter;
use picseek_manifest::sha256_hex;
use rayon::prelude::*;
use serde::Serialize;

use crate::{Metric, SearchError, SearchMethod, SearchRequest, Searcher, top_k};

/// Retrieval quality of one metric over the test queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricEval {
    /// The score function.
    pub metric: Metric,
    /// Through the index's graph, or exactly.
    pub search: SearchMethod,
    /// Share of queries whose best result has the query's class.
    pub precision_at_1: f64,
    /// Mean share of the top k results that have the query's class.
    pub precision_at_k: f64,
    /// Mean average precision over the top k (see [`average_precision_at_k`]).
    pub mean_average_precision: f64,
    /// For approximate search: the mean share of the exact top k that it found.
    pub recall_at_k: Option<f64>,
    /// Queries answered per second, embedding the query included.
    pub queries_per_second: f64,
}

/// What an evaluation measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Results per query that were scored.
    pub k: usize,
    /// Queries answered.
    pub queries: usize,
    /// Items in the index.
    pub index_items: usize,
    /// Test files that could not be used as queries, with the reason.
    pub skipped: Vec<(String, String)>,
    /// One entry per metric evaluated, in the order asked.
    pub metrics: Vec<MetricEval>,
    /// Why the scores may overstate (test images in the index, a folder changed since
    /// the build), when the caller allowed a stale index; `None`: the index was fresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<Staleness>,
}

/// How an index is out of date for an evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Staleness {
    /// Test images whose bytes are an item of the index: each finds itself first.
    pub test_images_in_index: usize,
    /// Test images looked at.
    pub test_images: usize,
    /// How the indexed folder changed since the build, if it did.
    pub folder: Option<FolderChanges>,
}

impl Staleness {
    /// Whether scores over this index would not mean what they say.
    pub fn is_stale(&self) -> bool {
        self.test_images_in_index > 0 || self.folder.as_ref().is_some_and(FolderChanges::any)
    }

    /// What is stale, for people.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.test_images_in_index > 0 {
            parts.push(format!("{} of {} test images are in it", self.test_images_in_index, self.test_images));
        }
        if let Some(folder) = self.folder.as_ref().filter(|f| f.any()) {
            parts.push(format!("{} changed since it was built ({})", folder.folder.display(), folder.describe()));
        }
        parts.join("; ")
    }
}

/// How stale `index` is for evaluating on the images of `test_dir`: which test images
/// are items of it (by SHA-256 of their bytes), and how its folder changed.
pub fn staleness(index: &Index, queries: &[(&str, &PathBuf)]) -> Staleness {
    let items: std::collections::HashSet<&str> = index.manifest().items.iter().map(|i| i.sha256.as_str()).collect();
    let test_images_in_index = queries
        .par_iter()
        .filter(|(_, path)| std::fs::read(path).is_ok_and(|bytes| items.contains(sha256_hex(&bytes).as_str())))
        .count();
    Staleness { test_images_in_index, test_images: queries.len(), folder: index.folder_changes() }
}

/// Average precision over the top k: the mean of precision@i at every rank i <= k that
/// holds a relevant item, divided by the number of relevant items that could appear in
/// the top k (`min(k, relevant_total)`), so a perfect ranking scores 1.
pub fn average_precision_at_k(relevant: &[bool], relevant_total: usize) -> f64 {
    let possible = relevant.len().min(relevant_total);
    if possible == 0 {
        return 0.0;
    }
    let mut hits = 0;
    let mut sum = 0.0;
    for (i, &is_relevant) in relevant.iter().enumerate() {
        if is_relevant {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    sum / possible as f64
}

#[derive(Default)]
struct Sums {
    p1: f64,
    pk: f64,
    ap: f64,
    recall: f64,
    search_time: Duration,
}

/// How to evaluate an index.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The `<class>/<image>` folder of queries (normally `test/`).
    pub test_dir: PathBuf,
    /// Results per query that are scored.
    pub k: usize,
    /// The metrics to score.
    pub metrics: Vec<Metric>,
    /// Brute force only, even where a graph could answer.
    pub exact: bool,
    /// Score a stale index (the report says what is stale) instead of refusing it.
    pub allow_stale: bool,
    /// Where progress goes.
    pub progress: Reporter,
}

/// Uses every image of `opts.test_dir` as a query against `index` (embedded by
/// `embedder`, from the index's [`query_embedder`](Index::query_embedder)) and scores the
/// top `k` by class, for each metric. Metrics with an approximate graph are searched
/// through it unless `exact`, and also exactly to measure its recall. A stale index (see
/// [`staleness`]) is refused unless `allow_stale`, and then the report says what is stale.
pub fn evaluate(index: &Index, embedder: &QueryEmbedder, opts: &EvalOptions) -> Result<EvalReport, SearchError> {
    let EvalOptions { test_dir, k, metrics, exact, allow_stale, progress } = opts;
    let (k, exact, allow_stale) = (*k, *exact, *allow_stale);
    if k == 0 {
        return Err(SearchError::ZeroK);
    }
    let listing = list_class_images(test_dir).map_err(IndexError::from)?;
    let searcher = Searcher::new(index);
    let mut class_sizes: HashMap<&str, usize> = HashMap::new();
    for item in &index.manifest().items {
        *class_sizes.entry(item.class.as_str()).or_default() += 1;
    }
    let mut skipped: Vec<(String, String)> =
        listing.problems.iter().map(|(p, r)| (p.display().to_string(), r.clone())).collect();
    let queries: Vec<(&str, &PathBuf)> =
        listing.classes.iter().flat_map(|c| c.files.iter().map(move |f| (c.class.as_str(), f))).collect();
    let stale = staleness(index, &queries);
    if stale.is_stale() && !allow_stale {
        return Err(SearchError::StaleIndex { index: index.dir().to_owned(), what: stale.describe() });
    }
    let stale = stale.is_stale().then_some(stale);
    for class in listing.classes.iter().filter(|c| !class_sizes.contains_key(c.class.as_str())) {
        tracing::warn!("test class {} has no images in the index: its queries cannot succeed", class.class);
    }

    let mut sums: Vec<Sums> = metrics.iter().map(|_| Sums::default()).collect();
    let mut embed_time = Duration::ZERO;
    let mut answered = 0;
    let progress = progress.start("evaluating", Some(queries.len() as u64));
    for (class, path) in &queries {
        progress.advance(1);
        let started = Instant::now();
        let query = match embedder.embed_image_file(path) {
            Ok(q) => q,
            Err(EmbedError::Image(e)) => {
                tracing::warn!("skipped query {e}");
                skipped.push((path.display().to_string(), e.reason_code().to_owned()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        embed_time += started.elapsed();
        answered += 1;
        let relevant_total = class_sizes.get(class).copied().unwrap_or(0);
        for (metric, sum) in metrics.iter().zip(sums.iter_mut()) {
            let started = Instant::now();
            let request = SearchRequest { metric: *metric, k, exact, ..SearchRequest::default() };
            let hits = searcher.search(&query, &request)?;
            sum.search_time += started.elapsed();
            let relevant: Vec<bool> = hits.iter().map(|h| h.class == *class).collect();
            sum.p1 += f64::from(u8::from(relevant.first().copied().unwrap_or(false)));
            sum.pk += relevant.iter().filter(|&&r| r).count() as f64 / k as f64;
            sum.ap += average_precision_at_k(&relevant, relevant_total);
            if searcher.is_approximate(*metric, exact) {
                let truth = top_k(&searcher.score_all(&query, *metric), *metric, k);
                let found = hits.iter().filter(|h| truth.contains(&(h.key as usize))).count();
                sum.recall += found as f64 / truth.len().max(1) as f64;
            }
        }
    }
    drop(progress);
    let n = answered.max(1) as f64;
    let metrics = metrics
        .iter()
        .zip(sums)
        .map(|(metric, sum)| {
            let approximate = searcher.is_approximate(*metric, exact);
            MetricEval {
                metric: *metric,
                search: searcher.method(*metric, exact),
                precision_at_1: sum.p1 / n,
                precision_at_k: sum.pk / n,
                mean_average_precision: sum.ap / n,
                recall_at_k: approximate.then_some(sum.recall / n),
                queries_per_second: answered as f64
                    / (embed_time + sum.search_time).as_secs_f64().max(f64::MIN_POSITIVE),
            }
        })
        .collect();
    Ok(EvalReport { k, queries: answered, index_items: index.len(), skipped, metrics, stale })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_precision_by_hand() {
        assert_eq!(average_precision_at_k(&[true, true, true], 10), 1.0);
        // Hits at ranks 1 and 3 of 3, with 2 relevant items: (1/1 + 2/3) / 2.
        assert!((average_precision_at_k(&[true, false, true], 2) - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(average_precision_at_k(&[false, false], 5), 0.0);
        assert_eq!(average_precision_at_k(&[true], 0), 0.0);
    }
}
