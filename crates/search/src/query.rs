//! Queries of several terms, as rclip has them: texts, images and items of the index,
//! each with a weight, negative to steer away ("a red fox" + fox.jpg - "snow").
//!
//! Each term's CLIP vector is unit length; the query is their weighted sum, made unit
//! length again. A pixel index takes one image term only: pixel rows are not vectors
//! one can meaningfully add or subtract.

use std::path::PathBuf;

use picseek_embed::{QueryEmbedder, Vector};
use picseek_index::Index;
use picseek_manifest::sha256_hex;

use crate::SearchError;

/// What one term of a query is.
#[derive(Debug, Clone, PartialEq)]
pub enum TermSource {
    /// A text (CLIP indexes only).
    Text(String),
    /// An image read into memory; `name` (a path or URL) names it in errors and labels.
    Image {
        /// Where it came from.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The stored vector of an index item ("more like this"): nothing is embedded.
    Item(u64),
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTerm {
    /// How much it counts; negative steers away from it.
    pub weight: f32,
    /// What it is.
    pub source: TermSource,
}

impl QueryTerm {
    /// A term of weight 1.
    pub fn new(source: TermSource) -> Self {
        Self { weight: 1.0, source }
    }
}

/// A query ready to search with.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposedQuery {
    /// The vector, comparable with the index's rows.
    pub vector: Vector,
    /// The terms as a person would write them (`"a fox" + fox.jpg - 0.5 "snow"`).
    pub label: String,
    /// Items of the index that are one of the query's images (the same bytes, or the
    /// item itself): what a search hides when asked to leave the query's own image out.
    pub own_items: Vec<u64>,
}

/// Embeds each term and combines them into one query.
pub fn compose(index: &Index, embedder: &QueryEmbedder, terms: &[QueryTerm]) -> Result<ComposedQuery, SearchError> {
    if terms.is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    if let Some(term) = terms.iter().find(|t| !t.weight.is_finite() || t.weight == 0.0) {
        return Err(SearchError::BadWeight { weight: term.weight });
    }
    let items = &index.manifest().items;
    let mut own_items = Vec::new();
    let mut vectors = Vec::with_capacity(terms.len());
    for term in terms {
        let vector = match &term.source {
            TermSource::Text(text) => embedder.embed_text(text)?,
            TermSource::Image { name, bytes } => {
                let sha = sha256_hex(bytes);
                own_items.extend(items.iter().filter(|i| i.sha256 == sha).map(|i| i.key));
                embedder.embed_image_bytes(&PathBuf::from(name), bytes)?
            }
            TermSource::Item(key) => {
                let row = usize::try_from(*key)
                    .ok()
                    .filter(|&k| k < index.len())
                    .ok_or(SearchError::UnknownItem { key: *key, items: index.len() })?;
                own_items.push(*key);
                match index.manifest().vectors.dtype {
                    picseek_manifest::Dtype::U8 => Vector::Pixel(index.u8_vector(row).to_vec()),
                    picseek_manifest::Dtype::F32 => Vector::Float(index.f32_vector(row).to_vec()),
                }
            }
        };
        vectors.push((term.weight, vector));
    }
    let vector = combine(vectors, index)?;
    own_items.sort_unstable();
    own_items.dedup();
    Ok(ComposedQuery { vector, label: label(terms), own_items })
}

/// The weighted sum of unit vectors, unit length again; a single term of weight 1 as it is.
fn combine(mut vectors: Vec<(f32, Vector)>, index: &Index) -> Result<Vector, SearchError> {
    if vectors.len() == 1 && vectors[0].0 == 1.0 {
        return Ok(vectors.remove(0).1);
    }
    let mut sum: Vec<f32> = Vec::new();
    for (weight, vector) in vectors {
        let Vector::Float(v) = vector else {
            return Err(SearchError::CombinedPixel { embedder: index.manifest().embedder });
        };
        if sum.is_empty() {
            sum = vec![0.0; v.len()];
        }
        for (s, x) in sum.iter_mut().zip(&v) {
            *s += weight * x;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm < 1e-6 {
        return Err(SearchError::CancelledOut);
    }
    Ok(Vector::Float(sum.into_iter().map(|x| x / norm).collect()))
}

/// `"a fox" + fox.jpg - 0.5 "snow"`.
fn label(terms: &[QueryTerm]) -> String {
    let mut out = String::new();
    for (i, term) in terms.iter().enumerate() {
        let shown = match &term.source {
            TermSource::Text(text) if terms.len() == 1 => text.clone(),
            TermSource::Text(text) => format!("{text:?}"),
            TermSource::Image { name, .. } => name.clone(),
            TermSource::Item(key) => format!("item {key}"),
        };
        let magnitude = term.weight.abs();
        let weight = if magnitude == 1.0 { String::new() } else { format!("{magnitude} ") };
        match (i, term.weight < 0.0) {
            (0, false) => out.push_str(&format!("{weight}{shown}")),
            (0, true) => out.push_str(&format!("- {weight}{shown}")),
            (_, false) => out.push_str(&format!(" + {weight}{shown}")),
            (_, true) => out.push_str(&format!(" - {weight}{shown}")),
        }
    }
    out
}

/// Reads a term written as `[WEIGHT:]VALUE`, where WEIGHT is a number (`2`, `0.5`,
/// `-1`) or a bare `-` (minus one) or `+`. A value without a number before its first
/// colon is taken whole (`"photo: a fox"` is a text).
pub fn split_weight(term: &str) -> (f32, &str) {
    if let Some((weight, value)) = term.split_once(':') {
        match weight.trim() {
            "-" => return (-1.0, value),
            "+" => return (1.0, value),
            w => {
                if let Ok(w) = w.parse::<f32>() {
                    return (w, value);
                }
            }
        }
    }
    (1.0, term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_read_only_from_a_number_before_the_colon() {
        assert_eq!(split_weight("2:sunset"), (2.0, "sunset"));
        assert_eq!(split_weight("-:snow"), (-1.0, "snow"));
        assert_eq!(split_weight("-0.5:dog"), (-0.5, "dog"));
        assert_eq!(split_weight("photo: a fox"), (1.0, "photo: a fox"));
        assert_eq!(split_weight("plain"), (1.0, "plain"));
    }

    #[test]
    fn labels_read_like_the_query() {
        let text = |w, t: &str| QueryTerm { weight: w, source: TermSource::Text(t.into()) };
        assert_eq!(label(&[text(1.0, "a fox")]), "a fox");
        let terms = [
            text(1.0, "a fox"),
            QueryTerm { weight: 1.0, source: TermSource::Image { name: "fox.jpg".into(), bytes: vec![] } },
            text(-0.5, "snow"),
        ];
        assert_eq!(label(&terms), "\"a fox\" + fox.jpg - 0.5 \"snow\"");
    }
}
