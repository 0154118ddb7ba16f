//! `picseek report`: one self-contained HTML page (no scripts, no external files but the
//! images, linked relatively) over what the stages recorded in a data directory: counts
//! per class and stage, every duplicate group (which image was kept, and how the others
//! matched), every near-copy group the split kept together (and which side it went to),
//! the quality-flagged images by flag, and whether any group crosses train and test.
//!
//! It only reads manifests (`raw/manifest.json`, `clean/manifest.json`, `split.json`);
//! a stage not run yet leaves its columns empty.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use picseek_manifest::{
    CleanManifest, CleanStatus, DataDir, DownloadManifest, DownloadStatus, ManifestError, QualityFlag, SplitManifest,
    read_json, write_atomic,
};
use serde::Serialize;

/// Where the data is and where the page goes.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The data directory.
    pub data_dir: DataDir,
    /// The page (by default `<data_dir>/report.html`).
    pub out: PathBuf,
}

impl ReportOptions {
    /// The report of `data_dir`, written into it.
    pub fn for_data_dir(data_dir: &DataDir) -> Self {
        Self { data_dir: data_dir.clone(), out: data_dir.report_page() }
    }
}

/// Why no report could be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A manifest cannot be read, or the page written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Nothing to report on.
    #[error("{path}: no manifest of any stage here (run crawl, download, clean or split first)")]
    Empty {
        /// The data directory.
        path: PathBuf,
    },
}

/// One class's numbers through the stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClassCounts {
    /// URLs downloaded.
    pub downloaded: usize,
    /// URLs that failed or were skipped.
    pub not_downloaded: usize,
    /// Images clean kept.
    pub kept: usize,
    /// Files clean rejected, by reason (duplicates as `duplicate`).
    pub rejected: BTreeMap<picseek_manifest::RejectReason, usize>,
    /// Images in `train/`.
    pub train: usize,
    /// Images in `test/`.
    pub test: usize,
}

/// A kept image and the files clean rejected as its duplicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateGroup {
    /// The kept image, relative to `clean/`.
    pub kept: String,
    /// Each duplicate: its file relative to `raw/`, and how it matched.
    pub duplicates: Vec<(String, String)>,
}

/// A near-copy group of the split and the sides its images went to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitGroup {
    /// Its images, `<class>/<file>`.
    pub images: Vec<String>,
    /// The sides they are on (one, unless the group crosses).
    pub sides: Vec<String>,
}

/// What the page shows, as numbers (`--json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataReport {
    /// The page written.
    pub page: PathBuf,
    /// Per class.
    pub classes: BTreeMap<String, ClassCounts>,
    /// Clean's duplicate groups.
    pub duplicate_groups: Vec<DuplicateGroup>,
    /// The split's near-copy groups.
    pub split_groups: Vec<SplitGroup>,
    /// Split groups on both sides (0 for a leakage-free split).
    pub crossing_groups: usize,
    /// Kept images per quality flag, with the flag's score, relative to `clean/`.
    pub flagged: BTreeMap<QualityFlag, Vec<(String, f64)>>,
    /// Classes whose test side holds other than `test_per_class` images, and why.
    pub uneven_classes: BTreeMap<String, String>,
    /// Near-copy groups the split cut because they were too large, and why.
    pub cut_groups: Vec<picseek_manifest::CutGroup>,
    /// How far the split looked for near copies; `None`: it did not (`--leakage off`,
    /// or a split made before it recorded this).
    pub leakage_check: Option<picseek_manifest::LeakageCheck>,
    /// How the download treated the web's opt-outs and what each host declared
    /// (`raw/opt-outs.json`), if it wrote one.
    pub opt_outs: Option<picseek_manifest::OptOutSummary>,
}

fn read_if_there<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ManifestError> {
    if path.is_file() { read_json(path).map(Some) } else { Ok(None) }
}

/// Reads the manifests of `opts.data_dir`, writes the page, and returns its numbers.
pub fn report(opts: &ReportOptions) -> Result<DataReport, ReportError> {
    let data = &opts.data_dir;
    let downloads: Option<DownloadManifest> = read_if_there(&DataDir::stage_manifest(&data.raw()))?;
    let clean: Option<CleanManifest> = read_if_there(&DataDir::stage_manifest(&data.clean()))?;
    let split: Option<SplitManifest> = read_if_there(&data.split_manifest())?;
    if downloads.is_none() && clean.is_none() && split.is_none() {
        return Err(ReportError::Empty { path: data.root().to_owned() });
    }
    let opt_outs = read_if_there(&DataDir::opt_out_summary(&data.raw()))?;
    let mut report = DataReport { page: opts.out.clone(), opt_outs, ..DataReport::default() };
    for record in downloads.iter().flatten() {
        let counts = report.classes.entry(record.term.clone()).or_default();
        match record.status {
            DownloadStatus::Ok => counts.downloaded += 1,
            DownloadStatus::Failed | DownloadStatus::Skipped => counts.not_downloaded += 1,
        }
    }
    let mut duplicates: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for record in clean.iter().flatten() {
        let counts = report.classes.entry(record.class.clone()).or_default();
        match record.status {
            CleanStatus::Kept => {
                counts.kept += 1;
                for flag in record.quality.iter().flat_map(|q| &q.flags) {
                    let score = record.quality.as_ref().and_then(|q| q.scores.get(flag)).copied().unwrap_or_default();
                    report.flagged.entry(*flag).or_default().push((record.path.clone().unwrap_or_default(), score));
                }
            }
            CleanStatus::Rejected => {
                let Some(reason) = &record.reason else { continue };
                if let Some(original) = reason.duplicate_of() {
                    let how = record.detail.clone().unwrap_or_else(|| "duplicate".into());
                    duplicates.entry(original.to_owned()).or_default().push((record.source.clone(), how));
                }
                *counts.rejected.entry(reason.kind()).or_default() += 1;
            }
        }
    }
    report.duplicate_groups =
        duplicates.into_iter().map(|(kept, duplicates)| DuplicateGroup { kept, duplicates }).collect();
    if let Some(split) = &split {
        report.uneven_classes = split.uneven_classes.clone();
        report.cut_groups = split.cut_groups.clone();
        report.leakage_check = split.leakage_check.clone();
        let mut side_of: BTreeMap<String, &str> = BTreeMap::new();
        for (class, s) in &split.classes {
            let counts = report.classes.entry(class.clone()).or_default();
            counts.train = s.train.len();
            counts.test = s.test.len();
            for (side, names) in [("train", &s.train), ("test", &s.test)] {
                side_of.extend(names.iter().map(|n| (format!("{class}/{n}"), side)));
            }
        }
        for group in &split.groups {
            let mut sides: Vec<String> = group.iter().filter_map(|i| side_of.get(i)).map(|s| s.to_string()).collect();
            sides.sort();
            sides.dedup();
            report.crossing_groups += usize::from(sides.len() > 1);
            report.split_groups.push(SplitGroup { images: group.clone(), sides });
        }
        // Largest first: a group that swallows a class is what needs looking at.
        report.split_groups.sort_by_key(|g| std::cmp::Reverse(g.images.len()));
    }
    report.duplicate_groups.sort_by_key(|g| std::cmp::Reverse(g.duplicates.len()));
    write_atomic(&opts.out, page(&report, &opts.out, data).as_bytes())?;
    Ok(report)
}

/// Each host's opt-outs: what its robots.txt and TDMRep said, and the photos each kind
/// kept out (or a flag let in).
fn opt_outs_section(summary: Option<&picseek_manifest::OptOutSummary>) -> String {
    let Some(summary) = summary else { return String::new() };
    let overrides = summary.overrides();
    let treated = match overrides.is_empty() {
        true => r#"<p class="ok">Every opt-out was obeyed.</p>"#.to_owned(),
        false => format!(r#"<p class="bad">Opt-outs overridden by {}.</p>"#, escape(&overrides.join(", "))),
    };
    let mut html = format!(
        r#"<section id="opt-outs"><h2>Opt-outs (user agent {})</h2>{treated}<table><tr><th>host</th><th>robots.txt</th><th>crawl-delay</th><th>tdmrep.json</th><th>robots</th><th>robots-unavailable</th><th>tdm-reserved</th><th>noai</th><th>fetched despite an opt-out</th></tr>"#,
        escape(&summary.agent)
    );
    for host in &summary.hosts {
        let count = |reason: &str| host.skipped.get(reason).copied().unwrap_or(0);
        let robots = match host.robots_txt {
            picseek_manifest::RobotsTxtState::Rules => "rules",
            picseek_manifest::RobotsTxtState::None => "none",
            picseek_manifest::RobotsTxtState::Unavailable => "unavailable",
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{robots}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&host.origin),
            host.crawl_delay_seconds.map_or(String::new(), |d| format!("{d} s")),
            if host.tdmrep_json { "yes" } else { "no" },
            count("robots"),
            count("robots-unavailable"),
            count("tdm-reserved"),
            count("noai"),
            host.overridden
        ));
    }
    html.push_str("</table></section>\n");
    html
}

/// Text made safe for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// An image of the data directory as the page links it: relative to the page.
fn image(page: &Path, file: &Path, caption: &str, class: &str) -> String {
    let page_dir = std::path::absolute(page).ok().and_then(|p| p.parent().map(Path::to_owned)).unwrap_or_default();
    let target = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let link = pathdiff::diff_paths(&target, &page_dir).unwrap_or(target);
    let href: String = link.to_string_lossy().split('/').map(percent_encode).collect::<Vec<_>>().join("/");
    format!(
        r#"<figure class="{class}"><a href="{href}"><img src="{href}" loading="lazy" alt="{alt}"></a><figcaption>{caption}</figcaption></figure>"#,
        alt = escape(caption),
        caption = escape(caption),
    )
}

/// A path segment made safe for a URL.
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn page(report: &DataReport, out: &Path, data: &DataDir) -> String {
    let mut html = String::from(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>picseek report</title><style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.group { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0 1rem; padding: .5rem; border: 1px solid #ddd; }
figure { margin: 0; width: 120px; font-size: .75rem; overflow-wrap: anywhere; }
figure img { width: 120px; height: 90px; object-fit: contain; background: repeating-conic-gradient(#ccc 0% 25%, #999 0% 50%) 0 0 / 16px 16px; }
figure.kept img { outline: 3px solid #2a2; } .ok { color: #2a2; } .bad { color: #b00; }
</style></head><body><h1>picseek report</h1>
"#,
    );
    html.push_str(r#"<section id="classes"><h2>Classes</h2><table><tr><th>class</th><th>downloaded</th><th>not downloaded</th><th>kept</th><th>rejected</th><th>train</th><th>test</th></tr>"#);
    for (class, c) in &report.classes {
        let rejected: Vec<String> = c.rejected.iter().map(|(r, n)| format!("{n} {}", escape(r.code()))).collect();
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(class),
            c.downloaded,
            c.not_downloaded,
            c.kept,
            rejected.join(", "),
            c.train,
            c.test
        ));
    }
    html.push_str("</table>");
    for (class, note) in &report.uneven_classes {
        html.push_str(&format!("<p>Class {}: {}.</p>", escape(class), escape(note)));
    }
    html.push_str("</section>\n");

    html.push_str(&opt_outs_section(report.opt_outs.as_ref()));

    html.push_str(&format!(r#"<section id="duplicates"><h2>Duplicates ({} groups)</h2><p>The kept image is outlined; each other file is named with how it matched.</p>"#, report.duplicate_groups.len()));
    for group in &report.duplicate_groups {
        html.push_str(r#"<div class="group">"#);
        html.push_str(&image(out, &data.clean().join(&group.kept), &format!("kept: {}", group.kept), "kept"));
        for (file, how) in &group.duplicates {
            html.push_str(&image(out, &data.raw().join(file), &format!("{file} ({how})"), "duplicate"));
        }
        html.push_str("</div>");
    }
    html.push_str("</section>\n");

    let verdict = match &report.leakage_check {
        None => r#"<p class="bad">The split did not look for near copies (<code>--leakage off</code>, or a split made before picseek recorded it): leakage was not checked. Run <code>picseek split</code> to check it.</p>"#.to_owned(),
        Some(check) if check.unchecked() => format!(
            r#"<p class="bad">Leakage was not checked: none of the {} images has clean's records or a cached CLIP vector to compare. Run <code>picseek clean --in DIR</code> and split its output.</p>"#,
            check.images
        ),
        Some(check) if report.crossing_groups == 0 => {
            let partly = if check.compared < check.images {
                format!(" ({} of the {} images could be compared)", check.compared, check.images)
            } else {
                String::new()
            };
            format!(r#"<p class="ok">None of the {} groups crosses train and test{partly}.</p>"#, report.split_groups.len())
        }
        Some(_) => format!(
            r#"<p class="bad">{} of {} groups cross train and test.</p>"#,
            report.crossing_groups,
            report.split_groups.len()
        ),
    };
    html.push_str(&format!(
        r#"<section id="near-copies"><h2>Near copies kept together by the split ({} groups)</h2>{verdict}"#,
        report.split_groups.len()
    ));
    for cut in &report.cut_groups {
        html.push_str(&format!(
            r#"<p class="bad">A group was too large to keep on one side and was cut ({}): {}.</p>"#,
            escape(&cut.reason),
            escape(&cut.images.join(", "))
        ));
    }
    for group in &report.split_groups {
        html.push_str(&format!(r#"<div class="group"><strong>{}</strong>"#, escape(&group.sides.join(" and "))));
        for item in &group.images {
            html.push_str(&image(out, &data.clean().join(item), item, "copy"));
        }
        html.push_str("</div>");
    }
    html.push_str("</section>\n");

    html.push_str(r#"<section id="flags"><h2>Quality flags</h2><p>Flagged images are kept unless clean ran with <code>--reject</code>; the score is cleanvision's (lower is worse).</p>"#);
    for (flag, images) in &report.flagged {
        html.push_str(&format!(r#"<h3 id="flag-{flag}">{flag} ({})</h3><div class="group">"#, images.len()));
        for (path, score) in images {
            html.push_str(&image(out, &data.clean().join(path), &format!("{path} ({score:.3})"), "flagged"));
        }
        html.push_str("</div>");
    }
    html.push_str("</section>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_links_relative() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        let figure = image(Path::new("/d/report.html"), Path::new("/d/clean/cat/a b#1.jpg"), "a <b>", "kept");
        assert!(figure.contains(r#"src="clean/cat/a%20b%231.jpg""#), "{figure}");
        assert!(figure.contains("a &lt;b&gt;"));
    }

    #[test]
    fn an_empty_data_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            report(&ReportOptions::for_data_dir(&DataDir::new(dir.path()))),
            Err(ReportError::Empty { .. })
        ));
    }
}
