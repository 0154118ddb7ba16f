//! Crawling one term in one browser session.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use picseek_manifest::progress::Task;
use picseek_manifest::{License, PhotoSource, TermRecord, TermStatus};
use url::Url;

use crate::pacing::HostPacer;
use crate::photo_urls::{
    PhotoPageLink, image_urls_in_page, is_on_photo_host, meta_robots_noai, photo_id_of, photo_pages_in_page,
    rewrite_size_suffix,
};
use crate::{CrawlOptions, TermFailure};
use picseek_optout::{OptOuts, Verdict};

/// Actions in a row that bring no new photo before the search counts as exhausted.
const STALE_ACTIONS: usize = 3;
/// How long to wait for a scroll or click to add images to the page.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

const LOAD_MORE_XPATH: &str = "//button[contains(normalize-space(.), 'Load more')] \
    | //a[contains(normalize-space(.), 'Load more')] \
    | //*[@role='button'][contains(normalize-space(.), 'Load more')]";
const COUNT_IMAGES_JS: &str = "return document.querySelectorAll('img, [style*=\"url(\"]').length;";
const NAVIGATION_STATUS_JS: &str =
    "const n = performance.getEntriesByType('navigation')[0]; return n && n.responseStatus ? n.responseStatus : 0;";

pub(crate) struct TermOutcome {
    pub urls: Vec<String>,
    /// What the page or API said of each photo of `urls`.
    pub sources: Vec<PhotoSource>,
    status: TermStatus,
    error: Option<String>,
    pub failure: Option<TermFailure>,
}

/// Why a term failed, with its message.
pub(crate) struct Failure {
    pub message: String,
    pub kind: TermFailure,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self { message, kind: TermFailure::Other }
    }
}

impl TermOutcome {
    pub(crate) fn failed(urls: Vec<String>, error: impl Into<Failure>) -> Self {
        let Failure { message, kind } = error.into();
        Self { urls, sources: Vec::new(), status: TermStatus::Failed, error: Some(message), failure: Some(kind) }
    }

    pub(crate) fn finished(urls: Vec<String>, status: TermStatus) -> Self {
        Self { urls, sources: Vec::new(), status, error: None, failure: None }
    }

    pub(crate) fn with_sources(mut self, sources: Vec<PhotoSource>) -> Self {
        self.sources = sources;
        self
    }

    pub(crate) fn record(&self, wanted: usize, licenses: &[u8]) -> TermRecord {
        TermRecord {
            status: self.status,
            found: self.urls.len(),
            wanted,
            error: self.error.clone(),
            licenses: licenses.to_vec(),
            opt_out: match &self.failure {
                Some(TermFailure::OptedOut { opt_out, .. }) => Some(opt_out.clone()),
                _ => None,
            },
        }
    }
}

/// The search page of `term`: the template with `{term}` URL-encoded, and a licence
/// filter as Flickr's web search takes it (`&license=4%2C5`).
pub(crate) fn search_page_url(template: &str, term: &str, licenses: &[u8]) -> Result<Url, url::ParseError> {
    let encoded: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
    let mut url = Url::parse(&template.replace("{term}", &encoded))?;
    if !licenses.is_empty() {
        let ids: Vec<String> = licenses.iter().map(u8::to_string).collect();
        url.query_pairs_mut().append_pair("license", &ids.join(","));
    }
    Ok(url)
}

/// What a licence filter says of every photo it lets through: its licence when it names
/// one, the set when it names several.
pub(crate) fn filtered_license(licenses: &[u8]) -> (Option<License>, Vec<License>) {
    match licenses {
        [] => (None, Vec::new()),
        [one] => (License::from_id(*one), Vec::new()),
        many => (None, many.iter().filter_map(|id| License::from_id(*id)).collect()),
    }
}

pub(crate) async fn crawl_term(
    client: &Client,
    opts: &CrawlOptions,
    term: &str,
    pacer: &HostPacer,
    opt_outs: &OptOuts,
    bar: &dyn Task,
) -> TermOutcome {
    let mut found = FoundUrls::default();
    let crawl = crawl_until_done(client, opts, term, pacer, opt_outs, bar, &mut found);
    match tokio::time::timeout(opts.term_timeout, crawl).await {
        Ok(Ok(status)) if status == TermStatus::Exhausted && found.urls.is_empty() => {
            TermOutcome::failed(Vec::new(), found.why_no_photos())
        }
        Ok(Ok(status)) => {
            let sources = found.sources(&opts.licenses);
            TermOutcome::finished(found.urls, status).with_sources(sources)
        }
        Ok(Err(error)) => {
            let sources = found.sources(&opts.licenses);
            TermOutcome::failed(found.urls, error).with_sources(sources)
        }
        Err(_) if found.urls.is_empty() => {
            let host = search_page_url(&opts.url_template, term, &opts.licenses)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let message = format!(
                "the search page on {host} did not load within {}s (the host hangs?)",
                opts.term_timeout.as_secs()
            );
            TermOutcome::failed(Vec::new(), Failure { message, kind: TermFailure::Unreachable { host } })
        }
        Err(_) => TermOutcome::failed(found.urls, format!("timed out after {}s", opts.term_timeout.as_secs())),
    }
}

/// Photo URLs in page order, without duplicates, and the images seen on other hosts.
#[derive(Default)]
struct FoundUrls {
    urls: Vec<String>,
    seen: HashSet<String>,
    elsewhere: HashSet<Url>,
    /// The page links of the photos found, by photo URL.
    links: HashMap<String, (Option<String>, Option<PhotoPageLink>)>,
}

/// Images on other hosts that make a page one of "photos, but not on the photo hosts"
/// rather than one of "no results" (which still has a logo or two).
const PHOTOS_ELSEWHERE: usize = 3;

impl FoundUrls {
    /// What is known of each photo found, in order.
    fn sources(&self, licenses: &[u8]) -> Vec<PhotoSource> {
        let (license, license_among) = filtered_license(licenses);
        self.urls
            .iter()
            .map(|url| {
                let (photo_id, link) = self.links.get(url).cloned().unwrap_or_default();
                PhotoSource {
                    url: url.clone(),
                    page: link.as_ref().map(|l| l.page.to_string()),
                    photo_id,
                    owner: link.as_ref().map(|l| l.owner.clone()),
                    owner_name: link.as_ref().and_then(|l| l.owner_name.clone()),
                    title: link.and_then(|l| l.title),
                    date_taken: None,
                    license: license.clone(),
                    license_among: license_among.clone(),
                }
            })
            .collect()
    }

    /// Why a page that was searched to the end gave no photo.
    fn why_no_photos(&self) -> Failure {
        if self.elsewhere.len() < PHOTOS_ELSEWHERE {
            return Failure { message: "no results: the page shows no photos".into(), kind: TermFailure::NoPhotos };
        }
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for url in &self.elsewhere {
            *counts.entry(url.host_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
        let mut hosts: Vec<(String, usize)> = counts.into_iter().collect();
        hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let hosts: Vec<String> = hosts.into_iter().take(3).map(|(h, _)| h).collect();
        Failure {
            message: format!(
                "the page shows {} images, none on the photo hosts; they are on {}",
                self.elsewhere.len(),
                hosts.join(", ")
            ),
            kind: TermFailure::OtherHostsOnly { hosts },
        }
    }
}

/// A browser's network error (`net::ERR_NAME_NOT_RESOLVED` and the like) in a WebDriver
/// message: the host could not be reached at all.
fn network_error(message: &str) -> Option<&str> {
    let start = message.find("net::ERR_")?;
    let code = &message[start..];
    let end = code.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(code.len());
    Some(&code[..end])
}

async fn crawl_until_done(
    client: &Client,
    opts: &CrawlOptions,
    term: &str,
    pacer: &HostPacer,
    opt_outs: &OptOuts,
    bar: &dyn Task,
    found: &mut FoundUrls,
) -> Result<TermStatus, Failure> {
    let page = search_page_url(&opts.url_template, term, &opts.licenses)
        .map_err(|e| format!("bad search URL for {term:?}: {e}"))?;
    let host = page.host_str().unwrap_or_default().to_owned();
    // A throttled load is not a failure: the host is slowed down and the page loaded
    // again, as long as the term's time allows.
    loop {
        pacer.act(&host, "load", client.goto(page.as_str())).await.map_err(|e| {
            let message = e.to_string();
            match network_error(&message) {
                Some(code) => Failure {
                    message: format!("cannot reach {host} ({code}): offline, or the host is down"),
                    kind: TermFailure::Unreachable { host: host.clone() },
                },
                None => Failure::from(format!("{page}: {message}")),
            }
        })?;
        let status = client.execute(NAVIGATION_STATUS_JS, vec![]).await.map_err(|e| e.to_string())?;
        let code = status.as_u64().unwrap_or(0);
        let html = client.source().await.map_err(|e| e.to_string())?;
        // A page that says `noai` in its robots meta tag opts its images out.
        if let Some(directive) = meta_robots_noai(&html) {
            let declared_by = format!("{page}'s <meta name=\"robots\">");
            match opt_outs.noai(directive, &declared_by) {
                Verdict::Skip(note) => {
                    return Err(Failure {
                        message: note.opt_out.describe(),
                        kind: TermFailure::OptedOut { host: host.clone(), opt_out: note.opt_out },
                    });
                }
                Verdict::FetchOverriding(note) => {
                    tracing::warn!("{} (crawled: --ignore-noai)", note.opt_out.describe())
                }
                Verdict::Fetch => {}
            }
        }
        let has_photos = image_urls_in_page(&html, &page)
            .iter()
            .any(|url| rewrite_size_suffix(url, &opts.size, &opts.photo_hosts).is_some());
        if code == 429 || code == 503 || (!has_photos && says_rate_limited(&html)) {
            let period = pacer.slow_down(&host);
            tracing::warn!("{host} throttles the crawl (HTTP {code}); one page action every {period:?} from now");
            bar.say(&format!("{term} ({host} throttled)"));
            continue;
        }
        if code >= 400 {
            return Err(format!("{page}: HTTP {code}").into());
        }
        break;
    }
    let mut stale = 0;
    loop {
        let html = client.source().await.map_err(|e| e.to_string())?;
        let before = found.urls.len();
        let pages = photo_pages_in_page(&html, &page);
        for url in image_urls_in_page(&html, &page) {
            match rewrite_size_suffix(&url, &opts.size, &opts.photo_hosts) {
                Some(photo) => {
                    let id = photo_id_of(&photo);
                    let photo = photo.to_string();
                    if found.seen.insert(photo.clone()) {
                        let link = id.as_ref().and_then(|id| pages.get(id).cloned());
                        found.links.insert(photo.clone(), (id, link));
                        found.urls.push(photo);
                    }
                }
                None if matches!(url.scheme(), "http" | "https") && !is_on_photo_host(&url, &opts.photo_hosts) => {
                    found.elsewhere.insert(url);
                }
                None => {}
            }
        }
        if found.urls.len() >= opts.max_per_term {
            found.urls.truncate(opts.max_per_term);
            bar.set_done(opts.max_per_term as u64);
            return Ok(TermStatus::Complete);
        }
        bar.set_done(found.urls.len() as u64);
        stale = if found.urls.len() == before { stale + 1 } else { 0 };
        if stale >= STALE_ACTIONS {
            return Ok(TermStatus::Exhausted);
        }
        let images_before = image_count(client).await?;
        match visible_load_more_button(client).await? {
            Some(button) => pacer
                .act_and_recover(&host, "click", button.click())
                .await
                .map_err(|e| format!("clicking 'Load more results': {e}"))?,
            None => pacer
                .act_and_recover(
                    &host,
                    "scroll",
                    client.execute("window.scrollTo(0, document.body.scrollHeight);", vec![]),
                )
                .await
                .map(drop)
                .map_err(|e| format!("scrolling: {e}"))?,
        }
        wait_for_more_images(client, images_before).await?;
    }
}

/// Whether a page without photos says it is a "slow down" page (some hosts answer 200).
fn says_rate_limited(html: &str) -> bool {
    let text = html.to_ascii_lowercase();
    ["rate limit", "too many requests", "slow down"].iter().any(|p| text.contains(p))
}

async fn image_count(client: &Client) -> Result<u64, String> {
    Ok(client.execute(COUNT_IMAGES_JS, vec![]).await.map_err(|e| e.to_string())?.as_u64().unwrap_or(0))
}

/// A visible "Load more results" button, found by its text or role (Flickr's ids change
/// on every load).
async fn visible_load_more_button(client: &Client) -> Result<Option<Element>, String> {
    let buttons = client.find_all(Locator::XPath(LOAD_MORE_XPATH)).await.map_err(|e| e.to_string())?;
    for button in buttons {
        if button.is_displayed().await.unwrap_or(false) {
            return Ok(Some(button));
        }
    }
    Ok(None)
}

async fn wait_for_more_images(client: &Client, before: u64) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if image_count(client).await? > before {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_down_pages_are_told_from_results() {
        assert!(says_rate_limited("<h1>Rate limit exceeded</h1>"));
        assert!(says_rate_limited("<body>Too Many Requests</body>"));
        assert!(!says_rate_limited("<title>Cat | Flickr</title>"));
    }

    #[test]
    fn network_errors_are_found_in_webdriver_messages() {
        let message = "unknown error: net::ERR_NAME_NOT_RESOLVED\n  (Session info: chrome=120.0)";
        assert_eq!(network_error(message), Some("net::ERR_NAME_NOT_RESOLVED"));
        assert_eq!(network_error("no such element"), None);
    }

    #[test]
    fn terms_are_url_encoded_into_the_template() {
        let url = search_page_url("https://www.flickr.com/search/?text={term}", "red car & co/ö", &[]).unwrap();
        assert_eq!(url.as_str(), "https://www.flickr.com/search/?text=red+car+%26+co%2F%C3%B6");
        let filtered = search_page_url("https://www.flickr.com/search/?text={term}", "fox", &[9, 10]).unwrap();
        assert_eq!(filtered.as_str(), "https://www.flickr.com/search/?text=fox&license=9%2C10");
    }
}
