//! The "continue the existing index" rule: a setting a run leaves out is the one the
//! existing index was built with (unless it is rebuilt, or another embedder is asked
//! for), else the default. So `picseek index` after adding images extends the index as
//! it was made, without being told again.

use std::path::Path;

use picseek_embed::{EmbedderSettings, ModelOptions};
use picseek_manifest::{EmbedderKind, Metric};

use crate::{AnnChoices, IndexError, IndexOptions, RecordedBuild};

/// What a run asks of a build; every `None` (or empty list) continues the existing index.
#[derive(Debug, Clone, Default)]
pub struct BuildChoices {
    /// The embedder.
    pub embedder: Option<EmbedderKind>,
    /// The CLIP model (no folder named: the one the index was built with).
    pub model: ModelOptions,
    /// The pixel embedder's square side.
    pub pixel_size: Option<u32>,
    /// The metrics with a graph (CLIP).
    pub graphs: Vec<Metric>,
    /// The graph settings asked for (the rest follow the index's size).
    pub ann: AnnChoices,
    /// Start afresh: nothing is continued.
    pub rebuild: bool,
}

impl BuildChoices {
    /// The choices settled against the index in `index_dir` into `opts` (its embedder,
    /// graphs, graph settings and `rebuild`); other fields of `opts` are kept.
    pub fn settle(&self, index_dir: &Path, opts: IndexOptions) -> Result<IndexOptions, IndexError> {
        let recorded = if self.rebuild { None } else { RecordedBuild::read(index_dir) };
        let recorded = recorded.filter(|r| self.embedder.is_none_or(|kind| kind == r.embedder));
        let kind = self.embedder.or(recorded.as_ref().map(|r| r.embedder)).unwrap_or(opts.embedder.kind());
        let ann = self.ann.or(recorded.as_ref().map(|r| r.ann).unwrap_or_default());
        let (embedder, graphs) = match kind {
            EmbedderKind::Pixel => {
                let size = self.pixel_size.or(recorded.as_ref().map(|r| r.image_size));
                (EmbedderSettings::Pixel { size: size.unwrap_or(EmbedderSettings::DEFAULT_PIXEL_SIZE) }, Vec::new())
            }
            EmbedderKind::Clip => {
                let model_recorded = recorded.as_ref().and_then(|r| r.model.as_ref()).map(|m| (index_dir, m));
                let model = self.model.resolved(model_recorded)?;
                let graphs = match (self.graphs.is_empty(), recorded) {
                    (false, _) => self.graphs.clone(),
                    (true, Some(r)) if !r.metrics.is_empty() => r.metrics,
                    (true, _) => IndexOptions::default().graphs,
                };
                (EmbedderSettings::Clip(model), graphs)
            }
        };
        Ok(IndexOptions { embedder, graphs, ann, rebuild: self.rebuild, ..opts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_index_the_defaults_apply_and_given_choices_win() {
        let dir = tempfile::tempdir().unwrap();
        let settled = BuildChoices::default().settle(dir.path(), IndexOptions::default()).unwrap();
        assert_eq!(settled.embedder, EmbedderSettings::Clip(ModelOptions::default().resolved(None).unwrap()));
        assert_eq!(settled.graphs, vec![Metric::Cosine]);
        assert_eq!(settled.ann, AnnChoices::default());
        let pixel = BuildChoices {
            embedder: Some(EmbedderKind::Pixel),
            ann: AnnChoices { expansion_search: Some(9), ..AnnChoices::default() },
            ..Default::default()
        };
        let settled = pixel.settle(dir.path(), IndexOptions::default()).unwrap();
        assert_eq!(settled.embedder, EmbedderSettings::Pixel { size: EmbedderSettings::DEFAULT_PIXEL_SIZE });
        assert_eq!(settled.ann.expansion_search, Some(9));
    }

    /// Graph settings a user gave are kept by later runs; those left to the size are
    /// not, so a growing index gets the settings of its new size.
    #[test]
    fn chosen_graph_settings_continue_and_the_others_follow_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::AnnSettings::for_size(10);
        let chosen = AnnChoices { expansion_search: Some(200), ..AnnChoices::default() };
        let record = crate::AnnSettings { expansion_search: 200, ..settings }.record(Metric::L2, "g".into(), chosen);
        let manifest = picseek_manifest::IndexManifest {
            format_version: crate::FORMAT_VERSION,
            embedder: EmbedderKind::Clip,
            model: Some(picseek_manifest::ModelIdentity {
                name: "m".into(),
                sha256: String::new(),
                ..Default::default()
            }),
            preprocessing: String::new(),
            image_size: 224,
            dimension: 4,
            vectors: picseek_manifest::VectorFile { file: "v".into(), dtype: picseek_manifest::Dtype::F32 },
            ann: vec![record],
            items: Vec::new(),
            skipped: Vec::new(),
            folder: None,
        };
        picseek_manifest::write_json_atomic(&picseek_manifest::DataDir::index_manifest(dir.path()), &manifest).unwrap();
        let named_model = ModelOptions { model_dir: Some(dir.path().to_owned()), ..ModelOptions::default() };
        let again = BuildChoices { model: named_model.clone(), ..Default::default() };
        let settled = again.settle(dir.path(), IndexOptions::default()).unwrap();
        assert_eq!((settled.ann, settled.graphs), (chosen, vec![Metric::L2]));
        let overridden = BuildChoices {
            model: named_model,
            ann: AnnChoices { expansion_search: Some(90), connectivity: Some(8), ..AnnChoices::default() },
            ..Default::default()
        };
        let settled = overridden.settle(dir.path(), IndexOptions::default()).unwrap();
        assert_eq!(
            settled.ann,
            AnnChoices { expansion_search: Some(90), connectivity: Some(8), ..AnnChoices::default() }
        );
    }
}
