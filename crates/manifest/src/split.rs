//! `split.json`: which images went to `train/` and `test/`, and how far the split could
//! keep near copies together.

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
    /// Near-copy groups too large to keep on one side (more than the group limit, or more
    /// than a third of a class), which were cut into the pieces among `groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut_groups: Vec<CutGroup>,
    /// Classes whose test side holds more or fewer than `test_per_class` images because
    /// near copies were kept together, and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uneven_classes: BTreeMap<String, String>,
    /// Whether near copies were looked for, and among how many images; `None`: the
    /// split was made image by image on purpose (`--leakage off`), or by a version that
    /// did not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leakage_check: Option<LeakageCheck>,
    /// Images of split classes in neither side (past `train_per_class`).
    #[serde(default)]
    pub left_out: usize,
}

/// How far the split could look for near copies: images are compared by what clean
/// recorded of them (hashes) and by cached CLIP vectors; an image with neither, as in a
/// folder that was never cleaned, cannot be compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeakageCheck {
    /// Images split.
    pub images: usize,
    /// Of those, the images that could be compared.
    pub compared: usize,
}

impl LeakageCheck {
    /// Whether no image could be compared: nothing was checked.
    pub fn unchecked(&self) -> bool {
        self.compared == 0 && self.images > 0
    }
}

/// A near-copy group too large to keep on one side, which was cut into pieces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CutGroup {
    /// Its images (`<class>/<file>`).
    pub images: Vec<String>,
    /// Why it was cut.
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
/// One class's split.
pub struct ClassSplit {
    /// File names in `train/<class>/`.
    pub train: Vec<String>,
    /// File names in `test/<class>/`.
    pub test: Vec<String>,
}
