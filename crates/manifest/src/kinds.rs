//! The closed sets of names that manifests and options share (metrics, embedders, vector
//! and graph element types): one enum each, named once. In JSON they are their names;
//! an unknown name in a manifest is a parse error that names the field.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An unknown name for one of the kinds of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}': expected {expected}")]
pub struct UnknownName {
    /// What kind of name it was meant to be (`metric`, `embedder`, ...).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The names that exist, as a list for people.
    pub expected: String,
}

/// Declares a kind: the enum, serde and (with the `clap` feature) `ValueEnum` names, `ALL`,
/// `name`, `Display` and `FromStr`, all from one list of variants and names.
macro_rules! named_kind {
    (
        $(#[$meta:meta])*
        pub enum $kind:ident ($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $name:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
        pub enum $kind {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $name)]
                #[cfg_attr(feature = "clap", value(name = $name))]
                $variant,
            )+
        }

        impl $kind {
            /// Every value, in declaration order.
            pub const ALL: &'static [$kind] = &[$($kind::$variant),+];

            /// The name used in manifests, flags and JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => $name,)+
                }
            }
        }

        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $kind {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|k| k.name().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownName {
                    what: $what,
                    given: s.to_owned(),
                    expected: [$($name),+].join(", "),
                })
            }
        }
    };
}

named_kind! {
    /// The tutorial's four score functions.
    pub enum Metric ("metric") {
        /// sum |a - b| (smaller is closer). Always searched exactly.
        L1 = "l1",
        /// mean (a - b)^2 (smaller is closer).
        L2 = "l2",
        /// sum ab / (|a| |b| + eps) (larger is closer).
        Cosine = "cosine",
        /// Cosine of the mean-centred vectors, i.e. Pearson's r (larger is closer).
        Correlation = "correlation",
    }
}

impl Metric {
    /// Whether a larger score means closer (cosine, correlation) or a smaller one (L1, L2).
    pub fn larger_is_closer(self) -> bool {
        matches!(self, Metric::Cosine | Metric::Correlation)
    }

    /// `Less` when score `a` is the better (closer) one.
    pub fn compare(self, a: f64, b: f64) -> Ordering {
        if self.larger_is_closer() { b.total_cmp(&a) } else { a.total_cmp(&b) }
    }

    /// Whether an approximate-search graph can answer this metric (L1 has none).
    pub fn has_graph_space(self) -> bool {
        self != Metric::L1
    }
}

named_kind! {
    /// Which embedder turns images into an index's vectors.
    pub enum EmbedderKind ("embedder") {
        /// CLIP's image encoder through ONNX Runtime: unit-length `f32` rows.
        Clip = "clip",
        /// The image's RGB pixels at a fixed size: `u8` rows (the tutorial's baseline).
        Pixel = "pixel",
    }
}

impl EmbedderKind {
    /// The element type of this embedder's rows.
    pub fn dtype(self) -> Dtype {
        match self {
            EmbedderKind::Clip => Dtype::F32,
            EmbedderKind::Pixel => Dtype::U8,
        }
    }
}

named_kind! {
    /// The element type of an index's flat vector file.
    pub enum Dtype ("vector type") {
        /// Pixel values.
        U8 = "u8",
        /// Floats, native byte order.
        F32 = "f32",
    }
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }
}

named_kind! {
    /// How the images of a folder of one's own get their classes.
    pub enum ClassNaming ("class naming") {
        /// The folder an image is in (`<class>/<image>`, or the innermost folder of a
        /// nested tree); images directly in the folder take the folder's own name.
        Folder = "folder",
        /// The top folder under the folder (`2024/summer/x.jpg` is of `2024`).
        Top = "top",
        /// No classes: every image is of one class, named after the folder.
        None = "none",
    }
}

named_kind! {
    /// How an approximate-search graph stores its vectors. Scores shown to users are
    /// recomputed from the exact rows whatever the graph stores.
    pub enum Quantization ("quantization") {
        /// Full precision.
        F32 = "f32",
        /// Half precision: half the memory, the same recall on CLIP vectors.
        F16 = "f16",
        /// 8-bit integers: fastest to build, slightly lower recall.
        I8 = "i8",
    }
}

named_kind! {
    /// An image-quality issue clean flags, as cleanvision defines it (see
    /// `picseek-clean`'s `quality` module for the scores and default thresholds).
    pub enum QualityFlag ("quality flag") {
        /// Too dark: even its brightest pixels are dim.
        Dark = "dark",
        /// Too light: even its darkest pixels are bright.
        Light = "light",
        /// Few edges and little contrast at 64 px.
        Blurry = "blurry",
        /// Little entropy in its histogram (a flat or near-flat picture).
        LowInformation = "low_information",
        /// A single-channel (grey) image.
        Grayscale = "grayscale",
        /// Much wider than tall, or the reverse.
        OddAspectRatio = "odd_aspect_ratio",
        /// Far smaller or larger than the dataset's other images.
        OddSize = "odd_size",
    }
}

named_kind! {
    /// Which of a CLIP export's model files run: the float ones, or their int8 copies.
    #[derive(Default)]
    pub enum Precision ("precision") {
        /// `vision_model.onnx`, `text_model.onnx`: 32-bit float weights.
        #[default]
        Fp32 = "fp32",
        /// `vision_model_quantized.onnx`, `text_model_quantized.onnx`: 8-bit integer
        /// weights, about twice as fast on CPUs with AVX-512 VNNI, close to fp32.
        Int8 = "int8",
    }
}

named_kind! {
    /// How a CLIP model folder is laid out.
    #[derive(Default)]
    pub enum ModelLayout ("model layout") {
        /// The Hugging Face ONNX export: `vision_model.onnx`, `text_model.onnx`,
        /// `preprocessor_config.json` and `tokenizer.json` side by side.
        #[default]
        HuggingFace = "hugging-face",
        /// Immich's (OpenCLIP's exported to ONNX): `visual/model.onnx` with
        /// `visual/preprocess_cfg.json`, `textual/model.onnx` with its tokenizer, and the
        /// OpenCLIP `config.json`.
        Immich = "immich",
    }
}

named_kind! {
    /// How a CLIP model was trained, as its configuration says: it decides nothing in
    /// search (vectors are compared by cosine either way) but tells people which model an
    /// index holds.
    #[derive(Default)]
    pub enum ModelFamily ("model family") {
        /// Contrastive (softmax) training: OpenAI's CLIP, OpenCLIP, M-CLIP.
        #[default]
        Clip = "clip",
        /// Sigmoid training with a logit bias: SigLIP, SigLIP2, NLLB-SigLIP.
        Siglip = "siglip",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), *m);
            assert_eq!(serde_json::to_string(m).unwrap(), format!("\"{m}\""));
        }
        let err = "manhattan".parse::<Metric>().unwrap_err().to_string();
        assert_eq!(err, "unknown metric 'manhattan': expected l1, l2, cosine, correlation");
    }

    #[test]
    fn an_unknown_name_in_json_is_an_error() {
        assert!(serde_json::from_str::<EmbedderKind>("\"resnet\"").is_err());
        assert_eq!(serde_json::from_str::<Quantization>("\"i8\"").unwrap(), Quantization::I8);
    }

    #[test]
    fn metric_direction() {
        assert_eq!(Metric::L1.compare(1.0, 2.0), Ordering::Less);
        assert_eq!(Metric::Cosine.compare(1.0, 2.0), Ordering::Greater);
        assert!(!Metric::L1.has_graph_space() && Metric::Correlation.has_graph_space());
    }
}
