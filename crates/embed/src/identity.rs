//! What makes vectors comparable: the embedder, the model file and the preprocessing.
//! A re-run extends an index only with vectors made the same way, and a query is
//! embedded the same way as the rows it is compared with.

use std::fmt;

use picseek_manifest::{EmbedderKind, IndexManifest, ModelIdentity, Precision};

/// How vectors are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingIdentity {
    /// The embedder.
    pub embedder: EmbedderKind,
    /// The model file's SHA-256 (CLIP only).
    pub model_sha256: Option<String>,
    /// Which of the export's files (CLIP only).
    pub precision: Option<Precision>,
    /// The canonical preprocessing description.
    pub preprocessing: String,
}

/// The one setting in which two identities differ first, in the order a person would
/// look for it: embedder, then model file, then preprocessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityDifference {
    /// Another embedder (`found` in the index, `wanted` by this run).
    Embedder {
        /// The index's embedder.
        found: EmbedderKind,
        /// This run's embedder.
        wanted: EmbedderKind,
    },
    /// Another precision of the model's files.
    Precision {
        /// The index's.
        found: Precision,
        /// This run's.
        wanted: Precision,
    },
    /// Another model file, by SHA-256.
    Model {
        /// The index's model file SHA-256.
        found: String,
        /// This run's model file SHA-256.
        wanted: String,
    },
    /// Other preprocessing; only the parts that differ are kept.
    Preprocessing {
        /// The index's differing parts.
        found: String,
        /// This run's differing parts.
        wanted: String,
    },
}

impl EmbeddingIdentity {
    /// The identity an index manifest records.
    pub fn of_manifest(manifest: &IndexManifest) -> Self {
        Self::new(manifest.embedder, manifest.model.as_ref(), &manifest.preprocessing)
    }

    /// The identity of vectors made by `embedder` with `model` and `preprocessing`.
    pub fn new(embedder: EmbedderKind, model: Option<&ModelIdentity>, preprocessing: &str) -> Self {
        Self {
            embedder,
            model_sha256: model.map(|m| m.sha256.clone()),
            precision: model.map(|m| m.precision),
            preprocessing: preprocessing.to_owned(),
        }
    }

    /// The first setting in which `wanted` differs from this identity, if any.
    pub fn difference(&self, wanted: &EmbeddingIdentity) -> Option<IdentityDifference> {
        if self.embedder != wanted.embedder {
            return Some(IdentityDifference::Embedder { found: self.embedder, wanted: wanted.embedder });
        }
        if let (Some(found), Some(wanted)) = (self.precision, wanted.precision)
            && found != wanted
        {
            return Some(IdentityDifference::Precision { found, wanted });
        }
        if self.model_sha256 != wanted.model_sha256 {
            let show = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
            return Some(IdentityDifference::Model {
                found: show(&self.model_sha256),
                wanted: show(&wanted.model_sha256),
            });
        }
        if self.preprocessing != wanted.preprocessing {
            let (found, wanted) = differing_parts(&self.preprocessing, &wanted.preprocessing);
            return Some(IdentityDifference::Preprocessing { found, wanted });
        }
        None
    }

    /// A stable text for this identity: names the embedding cache file and goes into an
    /// index's vector file name, so it must not change between versions.
    pub fn canonical(&self) -> String {
        // fp32 adds nothing, so that the names made before precisions existed stay.
        let precision = match self.precision {
            Some(Precision::Int8) => ", int8",
            _ => "",
        };
        match &self.model_sha256 {
            Some(sha) => format!("{} embedder, model sha256 {sha}{precision}, {}", self.embedder, self.preprocessing),
            None => format!("{} embedder, {}", self.embedder, self.preprocessing),
        }
    }
}

/// The `;`- or `,`-separated parts of two descriptions that are not in both.
fn differing_parts(found: &str, wanted: &str) -> (String, String) {
    let parts = |s: &str| s.split([';', ',']).map(str::trim).map(str::to_owned).collect::<Vec<_>>();
    let (f, w) = (parts(found), parts(wanted));
    let only = |a: &[String], b: &[String]| a.iter().filter(|p| !b.contains(p)).cloned().collect::<Vec<_>>().join(", ");
    (only(&f, &w), only(&w, &f))
}

impl fmt::Display for IdentityDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedder { found, wanted } => write!(f, "the {found} embedder, not {wanted}"),
            Self::Precision { found, wanted } => write!(f, "the model's {found} files, not its {wanted} ones"),
            // Twelve hex digits tell models apart; all 64 only hide the sentence.
            Self::Model { found, wanted } => {
                let short = |sha: &str| sha.get(..12).map_or(sha.to_owned(), |s| format!("{s}…"));
                write!(f, "a model file of SHA-256 {}, not {}", short(found), short(wanted))
            }
            Self::Preprocessing { found, wanted } => write!(f, "preprocessing {found}, not {wanted}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(preprocessing: &str) -> EmbeddingIdentity {
        EmbeddingIdentity::new(EmbedderKind::Pixel, None, preprocessing)
    }

    #[test]
    fn the_difference_names_one_setting() {
        let clip = EmbeddingIdentity {
            embedder: EmbedderKind::Clip,
            model_sha256: Some("aa".into()),
            precision: Some(Precision::Fp32),
            preprocessing: "x".into(),
        };
        let int8 =
            EmbeddingIdentity { precision: Some(Precision::Int8), model_sha256: Some("cc".into()), ..clip.clone() };
        assert_eq!(clip.difference(&int8).unwrap().to_string(), "the model's fp32 files, not its int8 ones");
        assert_eq!(int8.canonical(), "clip embedder, model sha256 cc, int8, x");
        assert_eq!(pixel("x").difference(&pixel("x")), None);
        assert_eq!(
            pixel("x").difference(&clip),
            Some(IdentityDifference::Embedder { found: EmbedderKind::Pixel, wanted: EmbedderKind::Clip })
        );
        let other_model = EmbeddingIdentity { model_sha256: Some("bb".into()), ..clip.clone() };
        assert_eq!(clip.difference(&other_model).unwrap().to_string(), "a model file of SHA-256 aa, not bb");
        let long = |c: char| Some(std::iter::repeat_n(c, 64).collect::<String>());
        let (a, b) = (
            EmbeddingIdentity { model_sha256: long('a'), ..clip.clone() },
            EmbeddingIdentity { model_sha256: long('b'), ..clip },
        );
        assert_eq!(a.difference(&b).unwrap().to_string(), "a model file of SHA-256 aaaaaaaaaaaa…, not bbbbbbbbbbbb…");
        let found = pixel("size=64;filter=triangle;alpha=white");
        let wanted = pixel("size=448;filter=triangle;alpha=white");
        assert_eq!(found.difference(&wanted).unwrap().to_string(), "preprocessing size=64, not size=448");
    }

    #[test]
    fn the_canonical_text_is_stable() {
        let clip = EmbeddingIdentity::new(
            EmbedderKind::Clip,
            Some(&ModelIdentity { name: "m".into(), sha256: "ab".into(), ..ModelIdentity::default() }),
            "p",
        );
        assert_eq!(clip.canonical(), "clip embedder, model sha256 ab, p");
        assert_eq!(pixel("p").canonical(), "pixel embedder, p");
    }
}
