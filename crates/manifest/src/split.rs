use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `split.json`: which images of each class went to `train/` and which to `test/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitManifest {
    /// The seed the order was drawn with.
    pub seed: u64,
    /// Test images per class.
    pub test_per_class: usize,
    /// `0` means "all images not in the test set".
    pub train_per_class: usize,
    /// Class name to its file names (relative to `<in>/<class>/`).
    pub classes: BTreeMap<String, ClassSplit>,
    /// Classes left out of the split, with the reason (e.g. too few images).
    #[serde(default)]
    pub skipped_classes: BTreeMap<String, String>,
    /// Near-copy groups (`<class>/<file>`, two or more each) that the split kept on one
    /// side; empty when it split image by image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<String>>,
    /// Classes whose test side holds more or fewer than `test_per_class` images because
    /// near copies were kept together, and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uneven_classes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
/// One class's split.
pub struct ClassSplit {
    /// File names in `train/<class>/`.
    pub train: Vec<String>,
    /// File names in `test/<class>/`.
    pub test: Vec<String>,
}
