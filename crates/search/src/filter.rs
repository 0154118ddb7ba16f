//! Filters only a picseek dataset can offer, on top of the class: the licence, owner and
//! date taken its crawl recorded for each photo, and a score a result must reach.

use picseek_index::Index;
use picseek_manifest::{IndexItem, License, Metric, PhotoSource};

use crate::SearchError;

/// Which items a search may return, by their photos' provenance and their score.
/// [`Default`] keeps everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFilter {
    /// Flickr licence ids ([`License::parse_filter`]); empty: any licence.
    pub licenses: Vec<u8>,
    /// The owner's id or name (case does not matter).
    pub owner: Option<String>,
    /// Taken on or after this date (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`).
    pub taken_after: Option<String>,
    /// Taken before this date (same forms: `2020` is before 2020 began).
    pub taken_before: Option<String>,
    /// A score results must reach: at least it for cosine and correlation, at most it
    /// for the l1 and l2 distances.
    pub min_score: Option<f64>,
}

impl ItemFilter {
    /// Whether it filters on provenance (which the index must then carry).
    fn uses_provenance(&self) -> bool {
        !self.licenses.is_empty() || self.owner.is_some() || self.taken_after.is_some() || self.taken_before.is_some()
    }

    /// Whether it filters at all.
    pub fn is_empty(&self) -> bool {
        !self.uses_provenance() && self.min_score.is_none()
    }

    /// Refuses a filter `index` cannot answer: provenance filters on an index without
    /// provenance, an owner no photo has (naming those it has), a malformed date.
    pub fn check(&self, index: &Index) -> Result<(), SearchError> {
        for date in [&self.taken_after, &self.taken_before].into_iter().flatten() {
            let well_formed = matches!(date.len(), 4 | 7 | 10)
                && date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
            if !well_formed {
                return Err(SearchError::BadFilter(format!(
                    "{date:?} is not a date: give YYYY, YYYY-MM or YYYY-MM-DD"
                )));
            }
        }
        if !self.uses_provenance() {
            return Ok(());
        }
        let items = &index.manifest().items;
        if items.iter().all(|i| i.sources.is_empty()) {
            return Err(SearchError::BadFilter(
                "the index's images carry no provenance (licence, owner, date taken): filter on a dataset picseek crawled, or leave out the licence, owner and date".into(),
            ));
        }
        if let Some(owner) = &self.owner
            && !items.iter().flat_map(|i| &i.sources).any(|s| owns(s, owner))
        {
            let mut known: Vec<&str> = items
                .iter()
                .flat_map(|i| &i.sources)
                .filter_map(|s| s.owner_name.as_deref().or(s.owner.as_deref()))
                .collect();
            known.sort_unstable();
            known.dedup();
            let shown = known.iter().take(20).copied().collect::<Vec<_>>().join(", ");
            let more = if known.len() > 20 { format!(" and {} more", known.len() - 20) } else { String::new() };
            return Err(SearchError::BadFilter(format!(
                "no photo of owner {owner:?} in the index; its owners are {shown}{more}"
            )));
        }
        Ok(())
    }

    /// Whether `item` passes the provenance filters (by its own photo's source).
    pub fn keeps(&self, item: &IndexItem) -> bool {
        if !self.uses_provenance() {
            return true;
        }
        let Some(source) = item.sources.first() else { return false };
        let license_ok = self.licenses.is_empty()
            || source.license.as_ref().is_some_and(|l: &License| self.licenses.contains(&l.id));
        let owner_ok = self.owner.as_deref().is_none_or(|o| owns(source, o));
        let taken = source.date_taken.as_deref();
        let after_ok = self.taken_after.as_deref().is_none_or(|d| taken.is_some_and(|t| t >= d));
        let before_ok = self.taken_before.as_deref().is_none_or(|d| taken.is_some_and(|t| t < d));
        license_ok && owner_ok && after_ok && before_ok
    }

    /// Whether `score` (by `metric`) reaches the minimum.
    pub fn reaches(&self, metric: Metric, score: f64) -> bool {
        self.min_score.is_none_or(|min| if metric.larger_is_closer() { score >= min } else { score <= min })
    }
}

fn owns(source: &PhotoSource, owner: &str) -> bool {
    [&source.owner, &source.owner_name].into_iter().flatten().any(|o| o.eq_ignore_ascii_case(owner))
}
