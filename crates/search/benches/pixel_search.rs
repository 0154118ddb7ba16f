//! Pixel search speed: median per-query time of each metric over 1,000 images at
//! 448 x 448, against the plain-numpy baseline of scripts/bench/pixel_numpy.py run on
//! the same vectors. Run with `scripts/bench pixel` (or `cargo bench -p picseek-search`).

use std::path::Path;
use std::time::Instant;

use picseek_embed::Vector;
use picseek_index::Index;
use picseek_manifest::{IndexItem, IndexManifest, VectorFile, write_json_atomic};
use picseek_search::{Metric, SearchRequest, Searcher};

const ITEMS: usize = 1000;
const SIDE: u32 = 448;
const K: usize = 5;
const REPEATS: usize = 7;

/// Clustered vectors: 10 base images plus per-item noise, like photos of 10 classes.
fn make_vectors(n: usize, dim: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u8
    };
    let bases: Vec<Vec<u8>> = (0..10).map(|_| (0..dim).map(|_| next()).collect()).collect();
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        out.extend(bases[i % 10].iter().map(|&b| b.wrapping_add(next() % 32)));
    }
    out
}

fn write_index(dir: &Path, vectors: &[u8], dim: usize) {
    std::fs::write(dir.join("vectors.u8"), vectors).expect("write vectors");
    let manifest = IndexManifest {
        format_version: picseek_index::FORMAT_VERSION,
        embedder: picseek_manifest::EmbedderKind::Pixel,
        model: None,
        preprocessing: "benchmark".into(),
        image_size: SIDE,
        dimension: dim,
        vectors: VectorFile { file: "vectors.u8".into(), dtype: picseek_manifest::Dtype::U8 },
        ann: Vec::new(),
        items: (0..vectors.len() / dim)
            .map(|i| IndexItem {
                key: i as u64,
                path: format!("{i}.png"),
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dim = (SIDE * SIDE * 3) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let index_dir = dir.path().join("index");
    std::fs::create_dir_all(&index_dir).expect("index dir");
    eprintln!("making {ITEMS} vectors of {dim} values...");
    write_index(&index_dir, &make_vectors(ITEMS, dim, 1), dim);
    let queries = make_vectors(REPEATS, dim, 2);
    std::fs::write(dir.path().join("queries.u8"), &queries).expect("write queries");
    let index = Index::open(&index_dir).expect("open index");
    let searcher = Searcher::new(&index);
    let queries: Vec<Vector> = queries.chunks_exact(dim).map(|q| Vector::Pixel(q.to_vec())).collect();

    let mut ours = Vec::new();
    for metric in Metric::ALL {
        let request = SearchRequest { metric: *metric, k: K, exact: true, ..SearchRequest::default() };
        searcher.search(&queries[0], &request).expect("search"); // warm the page cache and row moments
        let times = queries
            .iter()
            .map(|q| {
                let start = Instant::now();
                let hits = searcher.search(q, &request).expect("search");
                assert_eq!(hits.len(), K);
                start.elapsed().as_secs_f64()
            })
            .collect();
        ours.push((metric, median(times)));
    }

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv_python = repo.join(".venv/bin/python");
    let python = if venv_python.exists() { venv_python } else { "python3".into() };
    eprintln!("running the numpy baseline...");
    let out = std::process::Command::new(&python)
        .arg(repo.join("scripts/bench/pixel_numpy.py"))
        .arg(index_dir.join("vectors.u8"))
        .arg(dir.path().join("queries.u8"))
        .args([ITEMS, dim, K, REPEATS].map(|v| v.to_string()))
        .output()
        .expect("run the numpy baseline (scripts/setup.sh installs numpy in .venv)");
    assert!(out.status.success(), "numpy baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let numpy: serde_json::Value = serde_json::from_slice(&out.stdout).expect("baseline prints JSON");

    println!("pixel search, {ITEMS} images at {SIDE}x{SIDE}, k={K}, median of {REPEATS} queries");
    println!("{:<12} {:>12} {:>12} {:>8}", "metric", "picseek ms", "numpy ms", "speed-up");
    for (metric, seconds) in ours {
        let baseline = numpy[metric.name()].as_f64().expect("baseline has every metric");
        println!("{:<12} {:>12.2} {:>12.2} {:>7.1}x", metric.name(), seconds * 1e3, baseline * 1e3, baseline / seconds);
    }
}
