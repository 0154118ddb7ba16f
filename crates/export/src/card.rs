//! The dataset card (`README.md`): a YAML header the Hugging Face hub reads (licence,
//! task, class names, size), and a body saying what is in the dataset, how it was made,
//! which photos need attribution, and where every photo came from.

use std::collections::BTreeMap;
use std::fmt::Write;

use picseek_manifest::{DataDir, OptOutSummary};

use crate::samples::Sample;
use crate::{ExportOptions, ExportReport, Side};

/// Licence codes that ask for attribution when the photo is shared.
const ATTRIBUTION: [&str; 6] = ["cc-by", "cc-by-sa", "cc-by-nd", "cc-by-nc", "cc-by-nc-sa", "cc-by-nc-nd"];

pub(crate) fn dataset_card(opts: &ExportOptions, sides: &[(Side, Vec<Sample>)], report: &ExportReport) -> String {
    let all: Vec<&Sample> = sides.iter().flat_map(|(_, s)| s).collect();
    let mut licenses: BTreeMap<String, usize> = BTreeMap::new();
    let mut classes: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for sample in &all {
        let name = sample.metadata.license_name.clone().unwrap_or_else(|| "licence unknown".into());
        *licenses.entry(name).or_default() += 1;
        *classes.entry(&sample.metadata.label).or_default().entry(sample.side.name()).or_default() += 1;
    }
    let size = match all.len() {
        0..1_000 => "n<1K",
        1_000..10_000 => "1K<n<10K",
        10_000..100_000 => "10K<n<100K",
        _ => "100K<n<1M",
    };
    let mut card = String::new();
    // The header is YAML; each value is quoted JSON, which YAML reads as the same string.
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    card.push_str("---\nlicense: other\nlicense_name: ");
    card.push_str(&quote(&licenses.keys().cloned().collect::<Vec<_>>().join(", ")));
    card.push_str("\ntask_categories:\n- image-classification\nsize_categories:\n- ");
    card.push_str(size);
    card.push_str("\npretty_name: picseek dataset\ntags:\n- picseek\nclass_names:\n");
    for class in classes.keys() {
        let _ = writeln!(card, "- {}", quote(class));
    }
    card.push_str("---\n\n");

    card.push_str("# picseek dataset\n\n");
    let _ = writeln!(
        card,
        "{} images in {} classes, made with picseek: photos found by search terms, downloaded politely, \
         verified and converted to RGB, exact and near duplicates removed (each duplicate's sources credited to the \
         copy kept), and split into train and test per class with near copies always on the same side.\n",
        all.len(),
        classes.len()
    );
    card.push_str("| class | train | test |\n|---|---|---|\n");
    for (class, by_side) in &classes {
        let n = |side: &str| by_side.get(side).copied().unwrap_or(0);
        let _ = writeln!(card, "| {class} | {} | {} |", n("train"), n("test"));
    }
    card.push_str("\n## Licences\n\n");
    for (license, n) in &licenses {
        let _ = writeln!(card, "- {license}: {n} images");
    }
    let filter = if opts.licenses.is_empty() {
        "every known licence".to_owned()
    } else {
        format!("licence ids {:?}", opts.licenses)
    };
    let unknown = if opts.include_unknown { "included" } else { "left out" };
    let _ = writeln!(card, "\nKept: {filter}; photos whose licence is unknown were {unknown} (`--include-unknown`).");
    if !report.left_out.is_empty() {
        let left: Vec<String> = report.left_out.iter().map(|(l, n)| format!("{n} {l}")).collect();
        let _ = writeln!(card, "Left out by that filter: {}.", left.join(", "));
    }
    let needs: Vec<&&Sample> =
        all.iter().filter(|s| s.metadata.license.as_deref().is_some_and(|l| ATTRIBUTION.contains(&l))).collect();
    let _ = writeln!(
        card,
        "\n{} images are under a licence that asks for attribution (CC BY and its variants): credit them as listed \
         below when you share them.\n",
        needs.len()
    );
    card.push_str(&opt_outs_section(opts));
    card.push_str(
        "## Credits\n\nEach image, its photo's owner, licence and page (`metadata.jsonl` has the same per image).\n\n",
    );
    for sample in &all {
        let m = &sample.metadata;
        let owner = m.owner_name.as_deref().or(m.owner.as_deref()).unwrap_or("owner unknown");
        let license = m.license_name.as_deref().unwrap_or("licence unknown");
        let page = m.page.as_deref().map(|p| format!(" — {p}")).unwrap_or_default();
        let _ = writeln!(card, "- {}/{}: by {owner} ({license}){page}", sample.side.name(), m.file_name);
    }
    card
}

/// How the download treated the web's opt-outs, from `raw/opt-outs.json` (a dataset of
/// one's own photos downloaded nothing, and says so).
fn opt_outs_section(opts: &ExportOptions) -> String {
    let path = DataDir::opt_out_summary(&opts.data.raw());
    let mut section = String::from("## Opt-outs\n\n");
    let Ok(summary) = picseek_manifest::read_json::<OptOutSummary>(&path) else {
        section
            .push_str("No download record (`raw/opt-outs.json`): the photos did not come from picseek's download.\n\n");
        return section;
    };
    let obeyed = |ignored: bool| if ignored { "recorded but **not obeyed**" } else { "obeyed" };
    let _ = writeln!(
        section,
        "Downloaded as user agent `{}`. robots.txt (RFC 9309) was {} (`--ignore-robots`); TDMRep reservations \
         (`/.well-known/tdmrep.json`, `tdm-reservation` headers) were obeyed{}; `X-Robots-Tag: noai` / `noimageai` \
         was {} (`--ignore-noai`). Each skipped photo's record in `raw/manifest.json` names the rule or declaration.\n",
        summary.agent,
        obeyed(summary.ignore_robots),
        if summary.tdm_policies.is_empty() {
            String::new()
        } else {
            format!(" except where they offer a policy the builder holds ({})", summary.tdm_policies.join(", "))
        },
        obeyed(summary.ignore_noai),
    );
    let rows: Vec<_> = summary.hosts.iter().filter(|h| !h.skipped.is_empty() || h.overridden > 0).collect();
    if rows.is_empty() {
        section.push_str("No host opted any photo out.\n\n");
        return section;
    }
    section.push_str("| host | skipped | fetched despite an opt-out |\n|---|---|---|\n");
    for host in rows {
        let skipped: Vec<String> = host.skipped.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
        let _ = writeln!(section, "| {} | {} | {} |", host.origin, skipped.join(", "), host.overridden);
    }
    section.push('\n');
    section
}
