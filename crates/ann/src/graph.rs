//! The index's graphs: one `usearch` HNSW graph per metric space, built from the flat
//! `f32` rows and memory-mapped for search.

use std::fmt;
use std::path::Path;

use picseek_manifest::{AnnChoices, AnnFile, Metric, Quantization};
use rayon::prelude::*;
use usearch::{MetricKind, ScalarKind};

use crate::AnnError;

/// The usearch metric answering `metric` (`None` for L1, which is always exact).
fn metric_kind(metric: Metric) -> Option<MetricKind> {
    match metric {
        Metric::L1 => None,
        Metric::Cosine => Some(MetricKind::Cos),
        // Squared Euclidean distance: the same order as the mean squared difference.
        Metric::L2 => Some(MetricKind::L2sq),
        Metric::Correlation => Some(MetricKind::Pearson),
    }
}

fn scalar_kind(quantization: Quantization) -> ScalarKind {
    match quantization {
        Quantization::F32 => ScalarKind::F32,
        Quantization::F16 => ScalarKind::F16,
        Quantization::I8 => ScalarKind::I8,
    }
}

/// How the graphs are built and searched. [`AnnSettings::for_size`] gives the settings
/// for an index of a given size, chosen from the sweep of `scripts/bench/run scale`
/// (recall@10 against exact search on CLIP-like vectors, up to a million); a user's
/// [`AnnChoices`] override them one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnSettings {
    /// How the graph stores vectors.
    pub quantization: Quantization,
    /// Links per node (usearch's M), 2 to 256.
    pub connectivity: usize,
    /// Candidates considered while adding a vector, 1 to 4096.
    pub expansion_add: usize,
    /// Candidates considered while searching, 1 to 4096.
    pub expansion_search: usize,
    /// Below this many items the index is searched exactly, not through the graph.
    pub exact_below: usize,
}

impl AnnSettings {
    /// Below this many items exact search is about as fast as the graph (under 0.1 ms,
    /// within 2x of it; at 1,000 the graph is 6 times faster: the "exact or graph" table
    /// of `scripts/bench/run scale`), so it is used, and its recall is whole.
    pub const EXACT_BELOW: usize = 250;

    /// The settings for an index of `items` vectors, from the sweep of
    /// `scripts/bench/run scale` on a million vectors. The graph is built the same way at
    /// every size: i8 (a quarter of f32's memory, and the fastest build; candidates are
    /// rescored exactly from the rows anyway), 16 links, build width 96. Build width 64
    /// built in 60 % of the time but reached only 0.95 to 0.96 recall@10 however wide it
    /// was searched, varying from build to build; 96 reaches 0.978 at search width 96 and
    /// 0.985 at 128 (in 320 s, against 286 s for the f16 graph of build width 64 it
    /// replaces, which reached 0.95). The search width grows with the size, as recall
    /// needs it to.
    pub fn for_size(items: usize) -> Self {
        let expansion_search = match items {
            0..=100_000 => 64,
            100_001..=400_000 => 96,
            _ => 128,
        };
        Self {
            quantization: Quantization::I8,
            connectivity: 16,
            expansion_add: 96,
            expansion_search,
            exact_below: Self::EXACT_BELOW,
        }
    }

    /// The settings for an index of `items`, but for what `choices` name.
    pub fn chosen(choices: &AnnChoices, items: usize) -> Self {
        let by_size = Self::for_size(items);
        Self {
            quantization: choices.quantization.unwrap_or(by_size.quantization),
            connectivity: choices.connectivity.unwrap_or(by_size.connectivity),
            expansion_add: choices.expansion_add.unwrap_or(by_size.expansion_add),
            expansion_search: choices.expansion_search.unwrap_or(by_size.expansion_search),
            exact_below: choices.exact_below.unwrap_or(by_size.exact_below),
        }
    }

    /// Refuses choices usearch cannot build with.
    pub fn validate(choices: &AnnChoices) -> Result<(), picseek_manifest::InvalidOption> {
        use picseek_manifest::InvalidOption;
        let within = |name, value: Option<usize>, low, high| match value {
            Some(value) if !(low..=high).contains(&value) => {
                Err(InvalidOption::new(name, format!("must be from {low} to {high}, not {value}")))
            }
            _ => Ok(()),
        };
        within("connectivity", choices.connectivity, 2, 256)?;
        within("expansion_add", choices.expansion_add, 1, 4096)?;
        within("expansion_search", choices.expansion_search, 1, 4096)
    }

    /// A short description of what the graph file holds: it changes whenever the graph
    /// would. Not `expansion_search` nor `exact_below`, which only say how the graph is
    /// searched (recorded in `index.json` and applied on opening), so changing them
    /// rebuilds nothing.
    pub fn describe_graph(&self, space: Metric) -> String {
        format!("{space};{};m{};ea{}", self.quantization, self.connectivity, self.expansion_add)
    }

    /// What `index.json` records of a graph of `space` built this way, in `file`, with
    /// the `choices` that made it so.
    pub fn record(&self, space: Metric, file: String, chosen: AnnChoices) -> AnnFile {
        AnnFile {
            space,
            file,
            quantization: self.quantization,
            connectivity: self.connectivity,
            expansion_add: self.expansion_add,
            expansion_search: self.expansion_search,
            exact_below: self.exact_below,
            chosen,
        }
    }
}

/// Graph candidates fetched for a top-k query: more than k, so that exact rescoring
/// (from the `f32` rows) can put right what quantisation and the graph got slightly
/// wrong.
pub fn candidate_count(k: usize) -> usize {
    k.saturating_mul(4).max(40)
}

fn ann_failure(path: &Path, e: impl fmt::Display) -> AnnError {
    AnnError::File { path: path.to_owned(), reason: e.to_string() }
}

/// Builds a graph over `rows` (key `i` for row `i`) on all cores and saves it to `path`.
/// `space` must have a graph space ([`Metric::has_graph_space`]).
pub fn build_graph(
    space: Metric,
    settings: &AnnSettings,
    dimension: usize,
    rows: &[f32],
    path: &Path,
) -> Result<(), AnnError> {
    let failed = |e| ann_failure(path, e);
    let metric = metric_kind(space).ok_or_else(|| ann_failure(path, format!("{space} has no graph")))?;
    let options = usearch::IndexOptions {
        dimensions: dimension,
        metric,
        quantization: scalar_kind(settings.quantization),
        connectivity: settings.connectivity,
        expansion_add: settings.expansion_add,
        expansion_search: settings.expansion_search,
        multi: false,
    };
    let graph = usearch::Index::new(&options).map_err(&failed)?;
    let count = rows.len() / dimension.max(1);
    graph.reserve_capacity_and_threads(count, rayon::current_num_threads()).map_err(&failed)?;
    rows.par_chunks_exact(dimension)
        .enumerate()
        .try_for_each(|(key, row)| graph.add(key as u64, row).map_err(&failed))?;
    graph.save(&path.to_string_lossy()).map_err(&failed)
}

/// Opens a saved graph memory-mapped, read-only, searching with `expansion_search`.
pub fn open_graph(path: &Path, expansion_search: usize) -> Result<usearch::Index, AnnError> {
    let graph = usearch::Index::restore_view(&path.to_string_lossy()).map_err(|e| ann_failure(path, e))?;
    graph.change_expansion_search(expansion_search);
    Ok(graph)
}

/// Unit vectors shaped like CLIP embeddings of photos: `classes` clusters, each varying
/// along a few directions of its own (as photos of one subject vary in pose, light and
/// setting) plus a little noise in every dimension; cosine similarity within a class
/// is about 0.6 to 0.9. Deterministic in `seed`. For recall tests and benchmarks.
pub fn clip_like_vectors(n: usize, dimension: usize, classes: usize, seed: u64) -> Vec<f32> {
    const DIRECTIONS: usize = 16;
    // Deviates scaled so a vector of `dimension` of them has about unit length.
    let scale = 1.0 / (dimension as f64).sqrt();
    // Centres come from a fixed stream, so queries made with another seed share them.
    let mut fixed = NormalSource { state: 0x5EED_C11F };
    let mut fixed_vectors = |count: usize| -> Vec<Vec<f64>> {
        (0..count).map(|_| (0..dimension).map(|_| fixed.next(scale)).collect()).collect()
    };
    let centres = fixed_vectors(classes);
    let directions = fixed_vectors(classes * DIRECTIONS);
    let mut normal = NormalSource { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1 };
    let mut out = Vec::with_capacity(n * dimension);
    for i in 0..n {
        let class = i % classes;
        let weights: Vec<f64> = (0..DIRECTIONS).map(|_| normal.next(0.15)).collect();
        let noise: Vec<f64> = (0..dimension).map(|_| normal.next(0.1 * scale)).collect();
        let v: Vec<f64> = (0..dimension)
            .map(|d| {
                let along: f64 = (0..DIRECTIONS).map(|r| weights[r] * directions[class * DIRECTIONS + r][d]).sum();
                centres[class][d] + along + noise[d]
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        out.extend(v.iter().map(|x| (x / norm) as f32));
    }
    out
}

/// Normal deviates (Box-Muller over xorshift64), deterministic in the starting state.
struct NormalSource {
    state: u64,
}

impl NormalSource {
    fn uniform(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A deviate with standard deviation `sd`.
    fn next(&mut self, sd: f64) -> f64 {
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        radius * (2.0 * std::f64::consts::PI * self.uniform()).cos() * sd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 10 closest rows by the exact formula (in f64 over the f32 rows), among
    /// `among` (as search rescores the graph's candidates) or all.
    fn exact_top_10(space: Metric, rows: &[f32], q: &[f32], among: Option<&[u64]>) -> Vec<u64> {
        let centred = |v: &[f32]| {
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
            v.iter().map(|&x| f64::from(x) - mean).collect::<Vec<f64>>()
        };
        let cosine = |a: &[f64], b: &[f64]| {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
        };
        let as_f64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let mut ranked: Vec<(f64, u64)> = rows
            .chunks_exact(q.len())
            .enumerate()
            .filter(|(i, _)| among.is_none_or(|keys| keys.contains(&(*i as u64))))
            .map(|(i, r)| {
                let closeness = match space {
                    Metric::Cosine => cosine(&as_f64(r), &as_f64(q)),
                    Metric::L2 => -r.iter().zip(q).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>(),
                    Metric::Correlation => cosine(&centred(r), &centred(q)),
                    Metric::L1 => unreachable!("L1 has no graph"),
                };
                (-closeness, i as u64)
            })
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        ranked[..10].iter().map(|x| x.1).collect()
    }

    /// The settings for the size give recall@10 >= 0.99 against exact search on CLIP-like
    /// data, in every space.
    #[test]
    fn default_settings_find_the_exact_top_10() {
        const DIM: usize = 512;
        let rows = clip_like_vectors(4000, DIM, 40, 1);
        let queries = clip_like_vectors(100, DIM, 40, 2);
        let dir = tempfile::tempdir().unwrap();
        for &space in Metric::ALL.iter().filter(|m| m.has_graph_space()) {
            let path = dir.path().join(format!("{space}.usearch"));
            let settings = AnnSettings::for_size(rows.len() / DIM);
            build_graph(space, &settings, DIM, &rows, &path).unwrap();
            let graph = open_graph(&path, settings.expansion_search).unwrap();
            let mut found = 0;
            for q in queries.chunks_exact(DIM) {
                let exact = exact_top_10(space, &rows, q, None);
                let candidates = graph.search(q, candidate_count(10)).unwrap().keys;
                let approximate = exact_top_10(space, &rows, q, Some(&candidates));
                found += approximate.iter().filter(|k| exact.contains(k)).count();
            }
            let recall = found as f64 / (queries.len() / DIM * 10) as f64;
            assert!(recall >= 0.99, "{space}: recall@10 {recall}");
        }
    }

    /// A growing index is searched wider, but its graph is built the same way at every
    /// size (so what decides recall at a million is there from the start); a choice
    /// overrides its setting only.
    #[test]
    fn the_search_width_grows_with_the_size_and_choices_override_one_by_one() {
        let sizes = [0, 1_000, 50_000, 100_000, 100_001, 250_000, 400_001, 1_000_000, 100_000_000];
        let by_size: Vec<AnnSettings> = sizes.iter().map(|&n| AnnSettings::for_size(n)).collect();
        for pair in by_size.windows(2) {
            assert!(pair[1].expansion_search >= pair[0].expansion_search, "{pair:?}");
            assert_eq!(pair[0].describe_graph(Metric::Cosine), pair[1].describe_graph(Metric::Cosine));
            assert_eq!(pair[0].exact_below, AnnSettings::EXACT_BELOW);
        }
        assert!(AnnSettings::for_size(1_000_000).expansion_search > AnnSettings::for_size(50_000).expansion_search);
        assert!(candidate_count(10) <= AnnSettings::for_size(1_000_000).expansion_search);

        let choices =
            AnnChoices { quantization: Some(Quantization::F32), expansion_search: Some(300), ..AnnChoices::default() };
        let chosen = AnnSettings::chosen(&choices, 1_000_000);
        let by_size = AnnSettings::for_size(1_000_000);
        assert_eq!(chosen, AnnSettings { quantization: Quantization::F32, expansion_search: 300, ..by_size });
        assert_eq!(AnnSettings::chosen(&AnnChoices::default(), 7), AnnSettings::for_size(7));
        assert!(AnnSettings::validate(&AnnChoices { connectivity: Some(1), ..AnnChoices::default() }).is_err());
        assert!(AnnSettings::validate(&choices).is_ok());
    }
}
