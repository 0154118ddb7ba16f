use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use picseek_imaging::{ImageError, list_class_images};
use picseek_index::Index;
use serde::Serialize;

use crate::{ExactSearch, Metric, top_k};

/// Retrieval quality of one metric over the test queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricEval {
    pub metric: String,
    /// Share of queries whose best result has the query's class.
    pub precision_at_1: f64,
    /// Mean share of the top k results that have the query's class.
    pub precision_at_k: f64,
    /// Mean average precision over the top k (see [`average_precision_at_k`]).
    pub mean_average_precision: f64,
    /// Queries answered per second, embedding the query included.
    pub queries_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub k: usize,
    pub queries: usize,
    pub index_items: usize,
    /// Test files that could not be used as queries, with the reason.
    pub skipped: Vec<(String, String)>,
    pub metrics: Vec<MetricEval>,
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

/// Uses every image of the `<class>/<image>` folder `test_dir` as a query against
/// `index` and scores the top `k` by class, for each metric.
pub fn evaluate(index: &Index, test_dir: &Path, k: usize, metrics: &[Metric]) -> Result<EvalReport, ImageError> {
    let listing = list_class_images(test_dir)?;
    let embedder = index.query_embedder();
    let search = ExactSearch::new(index);
    let mut class_sizes: HashMap<&str, usize> = HashMap::new();
    for item in &index.manifest().items {
        *class_sizes.entry(item.class.as_str()).or_default() += 1;
    }
    let mut skipped: Vec<(String, String)> =
        listing.problems.iter().map(|(p, r)| (p.display().to_string(), r.clone())).collect();
    let queries: Vec<(&str, &PathBuf)> =
        listing.classes.iter().flat_map(|c| c.files.iter().map(move |f| (c.class.as_str(), f))).collect();
    for class in listing.classes.iter().filter(|c| !class_sizes.contains_key(c.class.as_str())) {
        tracing::warn!("test class {} has no images in the index: its queries cannot succeed", class.class);
    }

    let mut sums = vec![(0.0, 0.0, 0.0, Duration::ZERO); metrics.len()];
    let mut embed_time = Duration::ZERO;
    let mut answered = 0;
    let progress = ProgressBar::new(queries.len() as u64).with_message("evaluating");
    for (class, path) in &queries {
        progress.inc(1);
        let started = Instant::now();
        let query = match embedder.embed_file(path) {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!("skipped query {e}");
                skipped.push((path.display().to_string(), e.reason_code().to_owned()));
                continue;
            }
        };
        embed_time += started.elapsed();
        answered += 1;
        let relevant_total = class_sizes.get(class).copied().unwrap_or(0);
        for (metric, sum) in metrics.iter().zip(sums.iter_mut()) {
            let started = Instant::now();
            let scores = search.score_all(&query, *metric);
            let top = top_k(&scores, *metric, k);
            sum.3 += started.elapsed();
            let relevant: Vec<bool> = top.iter().map(|&i| index.manifest().items[i].class == *class).collect();
            sum.0 += f64::from(u8::from(relevant.first().copied().unwrap_or(false)));
            sum.1 += relevant.iter().filter(|&&r| r).count() as f64 / k as f64;
            sum.2 += average_precision_at_k(&relevant, relevant_total);
        }
    }
    progress.finish_and_clear();
    let n = answered.max(1) as f64;
    let metrics = metrics
        .iter()
        .zip(sums)
        .map(|(metric, (p1, pk, ap, search_time))| MetricEval {
            metric: metric.name().to_owned(),
            precision_at_1: p1 / n,
            precision_at_k: pk / n,
            mean_average_precision: ap / n,
            queries_per_second: answered as f64 / (embed_time + search_time).as_secs_f64().max(f64::MIN_POSITIVE),
        })
        .collect();
    Ok(EvalReport { k, queries: answered, index_items: index.len(), skipped, metrics })
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
