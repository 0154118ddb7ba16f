//! The "continue the existing index" rule: a setting a run leaves out is the one the
//! existing index was built with (unless it is rebuilt, or another embedder is asked
//! for), else the default. So `picseek index` after adding images extends the index as
//! it was made, without being told again.

use std::path::Path;

use picseek_embed::{EmbedderSettings, ModelOptions};
use picseek_manifest::{EmbedderKind, Metric, Quantization};

use crate::{AnnSettings, IndexError, IndexOptions, RecordedBuild};

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
    /// How graphs store vectors.
    pub quantization: Option<Quantization>,
    /// Links per node.
    pub connectivity: Option<usize>,
    /// Candidates considered while adding.
    pub expansion_add: Option<usize>,
    /// Candidates considered while searching.
    pub expansion_search: Option<usize>,
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
        let base = recorded.as_ref().and_then(|r| r.ann).unwrap_or_default();
        let ann = AnnSettings {
            quantization: self.quantization.unwrap_or(base.quantization),
            connectivity: self.connectivity.unwrap_or(base.connectivity),
            expansion_add: self.expansion_add.unwrap_or(base.expansion_add),
            expansion_search: self.expansion_search.unwrap_or(base.expansion_search),
        };
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
        assert_eq!(settled.ann, AnnSettings::default());
        let pixel =
            BuildChoices { embedder: Some(EmbedderKind::Pixel), expansion_search: Some(9), ..Default::default() };
        let settled = pixel.settle(dir.path(), IndexOptions::default()).unwrap();
        assert_eq!(settled.embedder, EmbedderSettings::Pixel { size: EmbedderSettings::DEFAULT_PIXEL_SIZE });
        assert_eq!(settled.ann.expansion_search, 9);
    }
}
