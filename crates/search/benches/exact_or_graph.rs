//! Where exact search stops being as fast as the graph: CLIP-like 512-d indexes of
//! growing size, searched as `picseek search` does (cosine, k = 10), exactly and through
//! the graph built with the settings for that size; medians over 200 queries. The
//! smallest size at which the graph is clearly faster is what
//! `AnnSettings::EXACT_BELOW` is chosen from. Run with `scripts/bench/run scale`.

use std::path::Path;
use std::time::Instant;

use picseek_embed::Vector;
use picseek_index::{AnnSettings, Index, build_graph, clip_like_vectors};
use picseek_manifest::{IndexItem, IndexManifest, VectorFile, write_json_atomic};
use picseek_search::{Metric, SearchRequest, Searcher};

const DIM: usize = 512;
const QUERIES: usize = 200;
const SIZES: [usize; 7] = [250, 500, 1_000, 2_000, 5_000, 10_000, 50_000];

/// A CLIP index of `rows` in `dir` with a cosine graph built as `settings` say, but
/// searched through it at any size (`exact_below` 0).
fn write_index(dir: &Path, rows: &[f32], settings: &AnnSettings) {
    std::fs::create_dir_all(dir).expect("index dir");
    std::fs::write(dir.join("vectors.f32"), bytemuck::cast_slice::<f32, u8>(rows)).expect("write vectors");
    build_graph(Metric::Cosine, settings, DIM, rows, &dir.join("cosine.usearch")).expect("build graph");
    let settings = AnnSettings { exact_below: 0, ..*settings };
    let model =
        picseek_manifest::ModelIdentity { name: "benchmark".into(), sha256: String::new(), ..Default::default() };
    let manifest = IndexManifest {
        format_version: picseek_index::FORMAT_VERSION,
        embedder: picseek_manifest::EmbedderKind::Clip,
        model: Some(model),
        preprocessing: "benchmark".into(),
        image_size: 224,
        dimension: DIM,
        vectors: VectorFile { file: "vectors.f32".into(), dtype: picseek_manifest::Dtype::F32 },
        ann: vec![settings.record(Metric::Cosine, "cosine.usearch".into(), Default::default())],
        items: (0..rows.len() / DIM)
            .map(|i| IndexItem {
                key: i as u64,
                path: format!("{i}.jpg"),
                class: (i % 10).to_string(),
                sha256: String::new(),
                sources: Vec::new(),
            })
            .collect(),
        skipped: Vec::new(),
        folder: None,
    };
    write_json_atomic(&dir.join("index.json"), &manifest).expect("write index.json");
}

fn median_ms(searcher: &Searcher, queries: &[Vector], exact: bool) -> f64 {
    let request = SearchRequest { metric: Metric::Cosine, k: 10, exact, ..SearchRequest::default() };
    queries.iter().for_each(|q| drop(searcher.search(q, &request).expect("search")));
    let mut times: Vec<f64> = queries
        .iter()
        .map(|q| {
            let started = Instant::now();
            searcher.search(q, &request).expect("search");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("\nexact or graph: cosine search, k = 10, {DIM}-d CLIP-like rows, median of {QUERIES} queries");
    println!("{:<10} {:>10} {:>10} {:>8}", "items", "exact ms", "graph ms", "exact/graph");
    for size in SIZES {
        let classes = (size / 100).max(1);
        let rows = clip_like_vectors(size, DIM, classes, 1);
        let queries: Vec<Vector> =
            clip_like_vectors(QUERIES, DIM, classes, 2).chunks_exact(DIM).map(|q| Vector::Float(q.to_vec())).collect();
        let index_dir = dir.path().join(size.to_string());
        write_index(&index_dir, &rows, &AnnSettings::for_size(size));
        let index = Index::open(&index_dir).expect("open index");
        let searcher = Searcher::new(&index);
        let (exact, graph) = (median_ms(&searcher, &queries, true), median_ms(&searcher, &queries, false));
        println!("{size:<10} {exact:>10.3} {graph:>10.3} {:>8.1}x", exact / graph);
    }
    println!("(picseek searches exactly below {} items)", AnnSettings::EXACT_BELOW);
}
