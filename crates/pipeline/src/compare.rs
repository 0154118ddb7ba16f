//! `eval --model A --model B`: a model shoot-out on the user's own split. Each model
//! indexes the training side into its own folder (keeping its embedding cache there, so
//! a later comparison embeds only new images, and starting from the vectors the data
//! directory's own index has of that model), then every test image is a query against
//! it, scored as `eval` scores one index.

use std::path::{Path, PathBuf};
use std::time::Instant;

use picseek_embed::{
    EmbedError, EmbedderKind, EmbedderSettings, EmbeddingCache, EmbeddingIdentity, ModelOptions, cached_embeddings,
    clip_identity,
};
use picseek_index::{Index, IndexError, IndexOptions, build_index};
use picseek_manifest::progress::Reporter;
use picseek_manifest::{DataDir, Metric, ModelFamily, ModelLayout, Precision};
use picseek_search::{EvalOptions, MetricEval, SearchError, evaluate};
use serde::Serialize;

/// What to compare, on what.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The models, each with how it runs; at least two.
    pub models: Vec<ModelOptions>,
    /// The `<class>/<image>` folder each model indexes (normally `train/`).
    pub train_dir: PathBuf,
    /// The `<class>/<image>` folder of queries (normally `test/`).
    pub test_dir: PathBuf,
    /// Where each model's index is kept, one folder per model (normally `eval-models/`).
    pub trials_dir: PathBuf,
    /// The data directory's own index, whose embedding caches give a model's trial the
    /// vectors it already has (normally `index/`).
    pub index_dir: PathBuf,
    /// Results per query that are scored.
    pub k: usize,
    /// Where progress goes.
    pub progress: Reporter,
}

impl Default for CompareOptions {
    /// `train/` and `test/` of the working directory, `eval-models/` beside them, k = 5.
    fn default() -> Self {
        Self {
            models: Vec::new(),
            train_dir: DataDir::default().train(),
            test_dir: DataDir::default().test(),
            trials_dir: DataDir::default().model_trials(),
            index_dir: DataDir::default().index(),
            k: 5,
            progress: Reporter::default(),
        }
    }
}

/// One model's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelTrial {
    /// The model folder.
    pub model: PathBuf,
    /// Its name in the table: the folder's name, and `int8` for the quantized files.
    pub label: String,
    /// How the folder is laid out.
    pub layout: ModelLayout,
    /// How it was trained.
    pub family: ModelFamily,
    /// Which of its files ran.
    pub precision: Precision,
    /// Values per vector.
    pub dimension: usize,
    /// Its index of the training side.
    pub index: PathBuf,
    /// Bytes of that index's vectors and graphs (its cache left out).
    pub index_bytes: u64,
    /// Training images in it.
    pub items: usize,
    /// Training images embedded in this run (the others came from its cache).
    pub embedded: usize,
    /// Test images embedded and searched per second: the model's speed on this machine
    /// (search over an index this size takes a small share of it).
    pub images_per_second: f64,
    /// Retrieval quality with cosine scores, searched as `search` would.
    pub eval: MetricEval,
    /// Training and test files it could not use.
    pub skipped: usize,
}

/// The shoot-out's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelComparison {
    /// Results per query that were scored.
    pub k: usize,
    /// Test images used as queries (the same for every model).
    pub queries: usize,
    /// One row per model, in the order given.
    pub models: Vec<ModelTrial>,
}

/// Why a comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Fewer than two models.
    #[error("a comparison needs at least two models, {given} given")]
    TooFewModels {
        /// How many were given.
        given: usize,
    },
    /// A model could not index the training side.
    #[error("{model}: {source}")]
    Index {
        /// The model folder.
        model: PathBuf,
        /// What went wrong.
        #[source]
        source: IndexError,
    },
    /// No test image could be a query.
    #[error("{}: no usable query image", test_dir.display())]
    NoQueries {
        /// The test folder.
        test_dir: PathBuf,
    },
    /// A model could not be evaluated.
    #[error("{model}: {source}")]
    Eval {
        /// The model folder.
        model: PathBuf,
        /// What went wrong.
        #[source]
        source: SearchError,
    },
}

/// Indexes `opts.train_dir` with each model and scores every image of `opts.test_dir`
/// against each index, one row per model.
pub fn compare_models(opts: &CompareOptions) -> Result<ModelComparison, CompareError> {
    if opts.models.len() < 2 {
        return Err(CompareError::TooFewModels { given: opts.models.len() });
    }
    let mut trials = Vec::new();
    let mut queries = 0;
    for model in &opts.models {
        let trial = trial(opts, model)?;
        queries = queries.max(trial.1);
        trials.push(trial.0);
    }
    Ok(ModelComparison { k: opts.k, queries, models: trials })
}

/// One model's row, and how many queries it answered.
fn trial(opts: &CompareOptions, model: &ModelOptions) -> Result<(ModelTrial, usize), CompareError> {
    let dir = model.dir().to_owned();
    let index_error = |source| CompareError::Index { model: dir.clone(), source };
    let files = model.files();
    let (identity, preprocessing) = clip_identity(&files).map_err(|e| index_error(e.into()))?;
    let label = match identity.precision {
        Precision::Fp32 => folder_label(&dir),
        Precision::Int8 => format!("{} int8", folder_label(&dir)),
    };
    // A folder per model file: two models never share one, and a model keeps its own.
    let index_dir = opts.trials_dir.join(format!(
        "{}-{}",
        picseek_manifest::folder_name(&label.replace(' ', "-")),
        identity.sha256.get(..12).unwrap_or(&identity.sha256)
    ));
    let canonical = EmbeddingIdentity::new(EmbedderKind::Clip, Some(&identity), &preprocessing).canonical();
    let seeded = seed_cache(&opts.index_dir, &index_dir, &canonical).map_err(|e| index_error(e.into()))?;
    if seeded > 0 {
        tracing::info!("{label}: {seeded} vectors from {}'s cache", opts.index_dir.display());
    }
    tracing::info!("{label}: indexing {} into {}", opts.train_dir.display(), index_dir.display());
    let built = build_index(&IndexOptions {
        train: opts.train_dir.clone(),
        index_dir: index_dir.clone(),
        embedder: EmbedderSettings::Clip(model.clone()),
        progress: opts.progress.clone(),
        ..IndexOptions::default()
    })
    .map_err(index_error)?;
    let index = Index::open(&index_dir).map_err(index_error)?;
    let embedder = index.query_embedder(model).map_err(index_error)?;
    let started = Instant::now();
    let report = evaluate(
        &index,
        &embedder,
        &EvalOptions {
            test_dir: opts.test_dir.clone(),
            k: opts.k,
            metrics: vec![Metric::Cosine],
            exact: false,
            allow_stale: false,
            progress: opts.progress.clone(),
        },
    )
    .map_err(|source| CompareError::Eval { model: dir.clone(), source })?;
    let seconds = started.elapsed().as_secs_f64();
    let Some(eval) = report.metrics.into_iter().next().filter(|_| report.queries > 0) else {
        return Err(CompareError::NoQueries { test_dir: opts.test_dir.clone() });
    };
    let trial = ModelTrial {
        model: dir,
        label,
        layout: identity.layout,
        family: identity.family,
        precision: identity.precision,
        dimension: index.manifest().dimension,
        index_bytes: index_bytes(&index_dir, index.manifest()),
        items: built.items,
        embedded: built.embedded,
        images_per_second: if seconds > 0.0 { report.queries as f64 / seconds } else { 0.0 },
        eval,
        skipped: built.skipped.len() + report.skipped.len(),
        index: index_dir,
    };
    Ok((trial, report.queries))
}

/// Copies into the trial's cache (in `trial_dir`) the vectors the index in `index_dir`
/// has cached of the model `identity` describes: an image is embedded once per model,
/// whichever index asked first. Returns how many were copied.
fn seed_cache(index_dir: &Path, trial_dir: &Path, identity: &str) -> Result<usize, EmbedError> {
    let Some(cached) = cached_embeddings(index_dir).into_iter().find(|c| c.identity() == identity) else {
        return Ok(0);
    };
    EmbeddingCache::open(trial_dir, identity, cached.dimension())?.absorb(&cached)
}

/// A model's name for people: its folder's name (`ViT-B-32__openai`).
fn folder_label(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    name(&absolute).unwrap_or_else(|| absolute.display().to_string())
}

/// The bytes of an index's vector file and graphs.
fn index_bytes(index_dir: &Path, manifest: &picseek_manifest::IndexManifest) -> u64 {
    let files = std::iter::once(&manifest.vectors.file).chain(manifest.ann.iter().map(|a| &a.file));
    files.filter_map(|f| std::fs::metadata(index_dir.join(f)).ok()).map(|m| m.len()).sum()
}
