//! Near copies among 100,000 CLIP vectors: what clean's `--dedup clip` and split's CLIP
//! grouping ask, found through the graph (`close_pairs`) and by comparing all pairs, on
//! all cores; the pairs must be the same. CLIP-like vectors with 2,000 planted groups of
//! near copies (cosine 0.97 or more). Run with `scripts/bench/run near`.

use std::time::Instant;

use picseek_ann::{clip_like_vectors, close_pairs, cosine};
use rayon::prelude::*;

const VECTORS: usize = 100_000;
const DIM: usize = 512;
const MIN_COSINE: f32 = 0.95;

fn main() {
    let n: usize = std::env::var("PICSEEK_NEAR_VECTORS").ok().and_then(|v| v.parse().ok()).unwrap_or(VECTORS);
    eprintln!("making {n} CLIP-like vectors with planted near copies...");
    let mut rows = clip_like_vectors(n, DIM, n / 100, 1);
    let nudges = clip_like_vectors(n, DIM, 1, 9);
    // Every 50th vector gets a near copy in the next one.
    for i in (0..n - 1).step_by(50) {
        let mut copy: Vec<f32> = (0..DIM).map(|d| rows[i * DIM + d] + 0.15 * nudges[(i + 1) * DIM + d]).collect();
        let norm = copy.iter().map(|x| x * x).sum::<f32>().sqrt();
        copy.iter_mut().for_each(|x| *x /= norm);
        rows[(i + 1) * DIM..(i + 2) * DIM].copy_from_slice(&copy);
    }
    let vectors: Vec<&[f32]> = rows.chunks_exact(DIM).collect();

    let started = Instant::now();
    let through_graph = close_pairs(&vectors, MIN_COSINE).expect("close pairs");
    let graph_seconds = started.elapsed().as_secs_f64();
    eprintln!("through the graph: {graph_seconds:.1} s; now all pairs...");

    let started = Instant::now();
    // Blocked sums vectorise; pairs near the bound are then scored as `close_pairs` scores.
    let fast_dot = |a: &[f32], b: &[f32]| -> f32 {
        let lanes = a.chunks_exact(16).zip(b.chunks_exact(16)).fold([0.0f32; 16], |mut acc, (x, y)| {
            for l in 0..16 {
                acc[l] += x[l] * y[l];
            }
            acc
        });
        lanes.iter().sum()
    };
    let mut all_pairs: Vec<(usize, usize, f32)> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let vectors = &vectors;
            (i + 1..n).filter_map(move |j| {
                if fast_dot(vectors[i], vectors[j]) < MIN_COSINE - 1e-3 {
                    return None;
                }
                let c = cosine(vectors[i], vectors[j]);
                (c >= MIN_COSINE).then_some((i, j, c))
            })
        })
        .collect();
    all_pairs.sort_by_key(|&(i, j, _)| (i, j));
    let all_seconds = started.elapsed().as_secs_f64();

    let cores = rayon::current_num_threads();
    println!("\nnear copies (cosine >= {MIN_COSINE}) among {n} x {DIM} CLIP-like vectors on {cores} cores");
    println!("{:<16} {:>10} {:>8}", "found by", "seconds", "pairs");
    println!("{:<16} {:>10.1} {:>8}", "the graph", graph_seconds, through_graph.len());
    println!("{:<16} {:>10.1} {:>8}", "all pairs", all_seconds, all_pairs.len());
    println!(
        "same pairs: {}; {:.0}x faster",
        if through_graph == all_pairs { "yes" } else { "NO" },
        all_seconds / graph_seconds
    );
}
