//! Flags to library options: each command's flags become its stage's options (whose
//! defaults the flags show); paths left out are the data directory's ([`DataDir`]).

use std::time::Duration;

use anyhow::bail;

use std::path::PathBuf;

use picseek_clean::{CleanOptions, Dedup};
use picseek_crawl::{CrawlOptions, Source, SourceKind};
use picseek_doctor::DoctorOptions;
use picseek_download::DownloadOptions;
use picseek_embed::ModelOptions;
use picseek_export::{ExportFormat, ExportOptions};
use picseek_index::{AnnChoices, BuildChoices, IndexOptions, RecordedBuild};
use picseek_manifest::{DataDir, Metric, Shard};
use picseek_optout::OptOutOptions;
use picseek_pipeline::{CompareOptions, RunOptions, Stage};
use picseek_report::ReportOptions;
use picseek_search::{EvalOptions, ItemFilter};
use picseek_serve::ServeOptions;
use picseek_split::SplitOptions;

use crate::cli::{
    AnnArgs, BuildArgs, CleanArgs, CrawlArgs, DoctorArgs, DownloadArgs, EvalArgs, ExportArgs, IndexArgs, ModelArgs,
    ModelRunArgs, OptOutArgs, ReportArgs, RunArgs, SearchArgs, ServeArgs, ShardArgs, ShardFlag, SplitArgs,
};

impl ShardArgs {
    /// Whether the run is a shard (it takes the data directory's lock shared).
    pub fn given(&self) -> bool {
        self.shard.is_some() || self.shards.is_some()
    }

    /// The shard this run is, if any.
    pub fn shard(&self) -> anyhow::Result<Option<Shard>> {
        match (self.shard, self.shards) {
            (None, None) => Ok(None),
            (Some(ShardFlag::Given(shard)), None) => Ok(Some(shard)),
            (Some(ShardFlag::Given(shard)), Some(n)) if n == shard.count => Ok(Some(shard)),
            (Some(ShardFlag::Given(shard)), Some(n)) => {
                bail!("--shard {shard} and --shards {n} disagree on the number of shards")
            }
            (Some(ShardFlag::FromEnvironment) | None, count) => {
                let shard = Shard::from_environment(|name| std::env::var(name).ok(), count)
                    .map_err(|e| anyhow::anyhow!("--shard auto: {e}"))?;
                Ok(Some(shard))
            }
        }
    }

    /// For `merge`: the number of shards to join, if given.
    pub fn merge_count(&self) -> anyhow::Result<Option<usize>> {
        if self.shard.is_some() {
            bail!("merge joins every shard: --shard names one; give their number with --shards N");
        }
        Ok(self.shards)
    }
}

impl CrawlArgs {
    pub fn options(self, data: &DataDir) -> anyhow::Result<CrawlOptions> {
        let source = match self.source {
            SourceKind::FlickrApi => {
                let key = std::env::var("FLICKR_API_KEY").ok().filter(|k| !k.trim().is_empty());
                let Some(key) = key else {
                    bail!("--source flickr-api needs an API key in the FLICKR_API_KEY variable")
                };
                Source::FlickrApi { api_url: self.api_url, key }
            }
            SourceKind::Browser => Source::Browser,
        };
        Ok(CrawlOptions {
            categories_file: self.categories,
            urls_path: self.urls.unwrap_or_else(|| data.urls()),
            url_template: self.url_template,
            max_per_term: self.max_per_term,
            size: self.size,
            photo_hosts: self.photo_hosts,
            concurrency: self.concurrency,
            rate: self.rate,
            webdriver: self.webdriver,
            headful: self.headful,
            force: self.force,
            term_timeout: Duration::from_secs(self.term_timeout),
            source,
            licenses: self.licenses.map(|l| l.0).unwrap_or_default(),
            opt_outs: self.opt_outs.options(data),
            progress: Default::default(),
        })
    }
}

impl OptOutArgs {
    /// The opt-out options of these flags, kept in the data directory's `opt-outs/`.
    pub fn options(&self, data: &DataDir) -> OptOutOptions {
        if self.ignore_robots {
            tracing::warn!(
                "--ignore-robots: robots.txt is read and recorded but not obeyed; the manifests and the dataset card say so"
            );
        }
        OptOutOptions {
            user_agent: self.user_agent.clone(),
            ignore_robots: self.ignore_robots,
            ignore_noai: self.ignore_noai,
            tdm_policies: self.tdm_policies.clone(),
            cache_dir: data.opt_out_cache(),
            ..OptOutOptions::default()
        }
    }
}

impl DownloadArgs {
    pub fn options(self, data: &DataDir) -> anyhow::Result<DownloadOptions> {
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .map_err(|_| anyhow::anyhow!("--timeout must be a number of seconds above 0, not {}", self.timeout))?;
        Ok(DownloadOptions {
            urls_path: self.urls.unwrap_or_else(|| data.urls()),
            out_dir: self.out.unwrap_or_else(|| data.raw()),
            concurrency: self.concurrency,
            rate: self.rate,
            connections_per_host: self.connections_per_host,
            throttle_timeout: Duration::from_secs(self.throttle_timeout),
            retries: self.retries,
            timeout,
            max_bytes: self.max_bytes,
            opt_outs: self.opt_outs.options(data),
            shard: self.shard.shard()?,
            ..DownloadOptions::default()
        })
    }
}

impl CleanArgs {
    pub fn options(self, data: &DataDir) -> anyhow::Result<CleanOptions> {
        let index_dir = data.index();
        let clip = match self.dedup {
            Dedup::Clip => {
                let recorded = RecordedBuild::read(&index_dir).and_then(|r| r.model);
                let model = self
                    .model
                    .options(ModelOptions::DEFAULT_BATCH)
                    .resolved(recorded.as_ref().map(|model| (index_dir.as_path(), model)))?;
                Some(picseek_clean::ClipDedup { model, index_dir, threshold: self.clip_threshold })
            }
            _ => None,
        };
        Ok(CleanOptions {
            input: self.input.unwrap_or_else(|| data.raw()),
            out: self.out.unwrap_or_else(|| data.clean()),
            min_side: self.min_side,
            dedup: self.dedup,
            near_distance: self.near_distance,
            near_pixels: self.near_pixels,
            classes: self.classes,
            max_decode_bytes: self.max_decode_bytes,
            reject: self.reject,
            clip,
            shard: self.shard.shard()?,
            ..CleanOptions::default()
        })
    }
}

impl SplitArgs {
    pub fn options(self, data: &DataDir) -> SplitOptions {
        SplitOptions {
            keep_near_copies_together: self.leakage == "near",
            group_distance: self.group_distance,
            group_cosine: self.group_cosine,
            max_group: self.max_group,
            ..split_options(data, self.input, self.test_per_class, self.train_per_class, self.seed)
        }
    }
}

fn split_options(
    data: &DataDir,
    input: Option<PathBuf>,
    test_per_class: usize,
    train_per_class: usize,
    seed: u64,
) -> SplitOptions {
    SplitOptions {
        input: input.unwrap_or_else(|| data.clean()),
        train_dir: data.train(),
        test_dir: data.test(),
        manifest_path: data.split_manifest(),
        test_per_class,
        train_per_class,
        seed,
        embeddings_dir: Some(data.index()),
        ..SplitOptions::default()
    }
}

impl AnnArgs {
    /// The graph settings these flags choose.
    pub fn choices(&self) -> AnnChoices {
        AnnChoices {
            quantization: self.quantization,
            connectivity: self.connectivity,
            expansion_add: self.expansion_add,
            expansion_search: self.expansion_search,
            exact_below: self.exact_below,
        }
    }
}

impl ModelArgs {
    /// The model options these flags give, `batch` images per run.
    pub fn options(&self, batch: usize) -> ModelOptions {
        self.run.options(self.model.clone(), batch)
    }
}

impl ModelRunArgs {
    /// The options of the model in `model_dir` (`None`: the index's) run as these flags
    /// say, `batch` images per run.
    pub fn options(&self, model_dir: Option<PathBuf>, batch: usize) -> ModelOptions {
        ModelOptions {
            model_dir,
            batch,
            threads: self.threads.unwrap_or(ModelOptions::default().threads),
            device: self.device,
            precision: self.precision,
            text_language: None,
        }
    }
}

impl SearchArgs {
    /// The model options of a search: the model flags' and the text language.
    pub fn model_options(&self) -> ModelOptions {
        ModelOptions { text_language: self.language.text_language.clone(), ..self.model.options(1) }
    }
}

impl BuildArgs {
    /// What these flags (and the graph flags `ann`, and `--metric`) ask of a build; the
    /// index crate settles the rest from the existing index.
    fn choices(&self, batch: usize, graphs: Vec<Metric>, ann: AnnChoices) -> BuildChoices {
        BuildChoices {
            embedder: self.embedder,
            model: self.model.options(batch),
            pixel_size: self.pixel_size,
            graphs,
            ann,
            rebuild: self.rebuild,
        }
    }
}

impl IndexArgs {
    pub fn options(self, data: &DataDir) -> anyhow::Result<IndexOptions> {
        let index_dir = self.index.unwrap_or_else(|| data.index());
        let choices = self.build.choices(self.batch, self.metrics, self.ann.choices());
        let opts = IndexOptions {
            train: self.train.unwrap_or_else(|| data.train()),
            max_decode_bytes: self.max_decode_bytes,
            shard: self.shard.shard()?,
            classes: self.classes,
            ..IndexOptions::default()
        };
        Ok(choices.settle(&index_dir, IndexOptions { index_dir: index_dir.clone(), ..opts })?)
    }
}

impl RunArgs {
    /// Every stage's options: the crawl's flags, the few others `run` has, and each
    /// stage's defaults under the data directory.
    pub fn options(self, data: &DataDir) -> anyhow::Result<RunOptions> {
        let crawl = self.crawl.options(data)?;
        let choices = self.build.choices(ModelOptions::DEFAULT_BATCH, Vec::new(), AnnChoices::default());
        let index = IndexOptions { train: data.train(), index_dir: data.index(), ..IndexOptions::default() };
        Ok(RunOptions {
            download: DownloadOptions {
                urls_path: crawl.urls_path.clone(),
                out_dir: data.raw(),
                rate: self.download_rate,
                opt_outs: crawl.opt_outs.clone(),
                ..DownloadOptions::default()
            },
            crawl,
            clean: CleanOptions { input: data.raw(), out: data.clean(), ..CleanOptions::default() },
            split: split_options(data, None, self.test_per_class, self.train_per_class, SplitOptions::default().seed),
            index: choices.settle(&data.index(), index)?,
        })
    }
}

impl SearchArgs {
    /// The provenance and score filters of these flags.
    pub fn filter(&self) -> ItemFilter {
        ItemFilter {
            licenses: self.licenses.clone().map(|l| l.0).unwrap_or_default(),
            owner: self.owner.clone(),
            taken_after: self.taken_after.clone(),
            taken_before: self.taken_before.clone(),
            min_score: self.min_score,
        }
    }
}

impl EvalArgs {
    /// The model the queries of a single-index evaluation go through.
    pub fn model_options(&self) -> ModelOptions {
        self.run.options(self.models.first().cloned(), 1)
    }

    /// A shoot-out of the models named (two or more).
    pub fn comparison(&self, data: &DataDir) -> CompareOptions {
        CompareOptions {
            models: self
                .models
                .iter()
                .map(|dir| self.run.options(Some(dir.clone()), ModelOptions::DEFAULT_BATCH))
                .collect(),
            train_dir: self.train.clone().unwrap_or_else(|| data.train()),
            test_dir: self.test.clone().unwrap_or_else(|| data.test()),
            trials_dir: data.model_trials(),
            index_dir: self.index.clone().unwrap_or_else(|| data.index()),
            k: self.k,
            progress: Default::default(),
        }
    }

    pub fn options(&self, data: &DataDir) -> EvalOptions {
        EvalOptions {
            test_dir: self.test.clone().unwrap_or_else(|| data.test()),
            k: self.k,
            metrics: self.metric.0.clone(),
            exact: self.exact,
            allow_stale: self.allow_stale,
            progress: Default::default(),
        }
    }
}

impl ExportArgs {
    pub fn options(self, data: &DataDir) -> ExportOptions {
        let name = match self.format {
            ExportFormat::Imagefolder => "imagefolder",
            ExportFormat::Webdataset => "webdataset",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Embeddings => "embeddings",
        };
        let sides = if self.sides.is_empty() { ExportOptions::default().sides } else { self.sides };
        ExportOptions {
            data: data.clone(),
            out: self.out.unwrap_or_else(|| data.root().join(format!("export-{name}"))),
            format: self.format,
            sides,
            licenses: self.licenses.map(|l| l.0).unwrap_or_default(),
            include_unknown: self.include_unknown,
            shard_size: self.shard_size,
            progress: Default::default(),
        }
    }
}

impl ServeArgs {
    pub fn options(self, data: &DataDir) -> ServeOptions {
        ServeOptions {
            index_dir: self.index.unwrap_or_else(|| data.index()),
            addr: self.addr,
            max_upload: self.max_upload,
            model: ModelOptions { text_language: self.language.text_language, ..self.model.options(1) },
        }
    }
}

impl DoctorArgs {
    pub fn options(self, data: &DataDir) -> DoctorOptions {
        DoctorOptions {
            data_dir: data.root().to_owned(),
            index_dir: self.index.unwrap_or_else(|| data.index()),
            model_dir: self.model,
            network_hosts: self.network_hosts,
            timeout: Duration::from_secs(self.timeout.max(1)),
            ..DoctorOptions::default()
        }
    }
}

impl ReportArgs {
    pub fn options(self, data: &DataDir) -> ReportOptions {
        ReportOptions { out: self.out.unwrap_or_else(|| data.report_page()), ..ReportOptions::for_data_dir(data) }
    }
}

/// The flag of `run` that sets `option` of `stage`, where it is not the stage's own.
pub fn run_flag(stage: Stage, option: &str) -> Option<&'static str> {
    match (stage, option) {
        (Stage::Download, "rate") => Some("--download-rate"),
        _ => None,
    }
}
