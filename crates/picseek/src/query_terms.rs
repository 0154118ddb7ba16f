//! Turning `--image`, `--text` and `--queries` values into query terms: files are read
//! (regular files only), http(s) URLs fetched with download's checks and limits, and a
//! `WEIGHT:` prefix taken off (see [`picseek_search::split_weight`]).

use std::path::Path;

use anyhow::{Context as _, bail};
use picseek_download::DownloadOptions;
use picseek_search::{QueryTerm, TermSource, split_weight};
use serde::Deserialize;

/// Reads or fetches one `--image` value (`-`: standard input).
pub fn image_term(value: &str) -> anyhow::Result<QueryTerm> {
    // A file of that exact name wins over a weight prefix ("2:x.jpg" as a name).
    let (weight, target) = if Path::new(value).is_file() { (1.0, value) } else { split_weight(value) };
    if Path::new(target).is_dir() {
        bail!(
            "--image {target}: a folder, not an image; give one image file (to query with many, write them into a --queries file)"
        );
    }
    let bytes = if target == "-" {
        read_stdin_image()?
    } else if is_url(target) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(picseek_download::fetch_image(target, &DownloadOptions::default()))?
    } else {
        picseek_imaging::read_image_file(Path::new(target))?
    };
    Ok(QueryTerm { weight, source: TermSource::Image { name: target.to_owned(), bytes } })
}

fn is_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://")
}

/// An image piped in (`--image -`), within download's size limit.
fn read_stdin_image() -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let limit = DownloadOptions::default().max_bytes;
    let mut bytes = Vec::new();
    std::io::stdin().lock().take(limit + 1).read_to_end(&mut bytes).context("--image -: reading standard input")?;
    if bytes.is_empty() {
        bail!("--image -: nothing on standard input (pipe an image in: `cat fox.jpg | picseek search --image -`)");
    }
    if bytes.len() as u64 > limit {
        bail!("--image -: more than {limit} bytes on standard input");
    }
    Ok(bytes)
}

/// A positional query: an image when it names a file, a folder, `-` or a URL (with or
/// without a weight), a text otherwise, as rclip reads `rclip fox.jpg` and `rclip "a fox"`.
pub fn positional_term(value: &str) -> anyhow::Result<QueryTerm> {
    let (_, target) = split_weight(value);
    let names_an_image = |t: &str| t == "-" || is_url(t) || Path::new(t).exists();
    if names_an_image(value) || names_an_image(target) { image_term(value) } else { text_term(value) }
}

/// One `--text` value.
pub fn text_term(value: &str) -> anyhow::Result<QueryTerm> {
    let (weight, text) = split_weight(value);
    if text.trim().is_empty() {
        bail!("--text {value:?} is empty: say what to look for");
    }
    Ok(QueryTerm { weight, source: TermSource::Text(text.to_owned()) })
}

/// The terms of positional, `--image` and `--text` values, in that order.
pub fn terms(positional: &[String], images: &[String], texts: &[String]) -> anyhow::Result<Vec<QueryTerm>> {
    let mut terms = positional.iter().map(|q| positional_term(q)).collect::<anyhow::Result<Vec<_>>>()?;
    for image in images {
        terms.push(image_term(image)?);
    }
    for text in texts {
        terms.push(text_term(text)?);
    }
    Ok(terms)
}

/// One line of a `--queries` file: `{"text": ..., "image": ..., "k": 5, "class": ...,
/// "id": ...}`, where `text` and `image` are a value or a list of them (weights
/// allowed), and `k` and `class` override the flags for this query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    /// Echoed in the result, to match answers to questions.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    text: OneOrMany,
    #[serde(default)]
    image: OneOrMany,
    /// Results for this query.
    pub k: Option<usize>,
    /// Only this class.
    pub class: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> &[String] {
        match self {
            OneOrMany::None => &[],
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

impl BatchQuery {
    /// The query's terms.
    pub fn terms(&self) -> anyhow::Result<Vec<QueryTerm>> {
        terms(&[], self.image.values(), self.text.values())
    }
}

/// The largest `--queries` file read (a million queries of 64 bytes).
const MAX_BATCH_BYTES: u64 = 64 << 20;

/// The queries of a `--queries` file (`-` for standard input): one JSON object per
/// line, blank lines and lines starting with `#` skipped; each with its line number,
/// a line that is not a query kept as its error.
pub fn read_batch(path: &Path) -> anyhow::Result<Vec<(usize, anyhow::Result<BatchQuery>)>> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading queries from standard input")?
    } else {
        // A device or FIFO (/dev/zero, say) would never end: only regular files are read.
        let metadata = std::fs::metadata(path).with_context(|| format!("--queries {}", path.display()))?;
        if !metadata.is_file() {
            bail!("--queries {}: not a regular file (use - for standard input)", path.display());
        }
        if metadata.len() > MAX_BATCH_BYTES {
            bail!(
                "--queries {}: {} bytes is more than the {MAX_BATCH_BYTES} a batch may have",
                path.display(),
                metadata.len()
            );
        }
        std::fs::read_to_string(path).with_context(|| format!("--queries {}", path.display()))?
    };
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| {
            let query = serde_json::from_str::<BatchQuery>(line).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}: not a query ({e}); write {{\"text\": \"...\"}} or {{\"image\": \"FILE\"}}",
                    path.display(),
                    i + 1
                )
            });
            (i + 1, query)
        })
        .collect())
}
