//! Crawling one term in one browser session.

use std::collections::HashSet;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use indicatif::ProgressBar;
use picseek_manifest::{TermRecord, TermStatus};
use url::Url;

use crate::CrawlOptions;
use crate::pacing::HostPacer;
use crate::photo_urls::{image_urls_in_page, rewrite_size_suffix};

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
    status: TermStatus,
    error: Option<String>,
}

impl TermOutcome {
    pub(crate) fn failed(urls: Vec<String>, error: String) -> Self {
        Self { urls, status: TermStatus::Failed, error: Some(error) }
    }

    pub(crate) fn finished(urls: Vec<String>, status: TermStatus) -> Self {
        Self { urls, status, error: None }
    }

    pub(crate) fn record(&self, wanted: usize) -> TermRecord {
        TermRecord { status: self.status, found: self.urls.len(), wanted, error: self.error.clone() }
    }
}

/// The search page of `term`: the template with `{term}` URL-encoded.
pub(crate) fn search_page_url(template: &str, term: &str) -> Result<Url, url::ParseError> {
    let encoded: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
    Url::parse(&template.replace("{term}", &encoded))
}

pub(crate) async fn crawl_term(
    client: &Client,
    opts: &CrawlOptions,
    term: &str,
    pacer: &HostPacer,
    bar: &ProgressBar,
) -> TermOutcome {
    let mut found = FoundUrls::default();
    let crawl = crawl_until_done(client, opts, term, pacer, bar, &mut found);
    match tokio::time::timeout(opts.term_timeout, crawl).await {
        Ok(Ok(status)) if status == TermStatus::Exhausted && found.urls.is_empty() => {
            TermOutcome::failed(Vec::new(), "no results".into())
        }
        Ok(Ok(status)) => TermOutcome::finished(found.urls, status),
        Ok(Err(error)) => TermOutcome::failed(found.urls, error),
        Err(_) if found.urls.is_empty() => {
            let host = search_page_url(&opts.url_template, term)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            TermOutcome::failed(
                Vec::new(),
                format!(
                    "the search page on {host} did not load within {}s (the host hangs?)",
                    opts.term_timeout.as_secs()
                ),
            )
        }
        Err(_) => TermOutcome::failed(found.urls, format!("timed out after {}s", opts.term_timeout.as_secs())),
    }
}

/// Photo URLs in page order, without duplicates.
#[derive(Default)]
struct FoundUrls {
    urls: Vec<String>,
    seen: HashSet<String>,
}

async fn crawl_until_done(
    client: &Client,
    opts: &CrawlOptions,
    term: &str,
    pacer: &HostPacer,
    bar: &ProgressBar,
    found: &mut FoundUrls,
) -> Result<TermStatus, String> {
    let page = search_page_url(&opts.url_template, term).map_err(|e| format!("bad search URL for {term:?}: {e}"))?;
    let host = page.host_str().unwrap_or_default().to_owned();
    // A throttled load is not a failure: the host is slowed down and the page loaded
    // again, as long as the term's time allows.
    loop {
        pacer.act(&host, "load", client.goto(page.as_str())).await.map_err(|e| format!("{page}: {e}"))?;
        let status = client.execute(NAVIGATION_STATUS_JS, vec![]).await.map_err(|e| e.to_string())?;
        let code = status.as_u64().unwrap_or(0);
        let html = client.source().await.map_err(|e| e.to_string())?;
        let has_photos = image_urls_in_page(&html, &page)
            .iter()
            .any(|url| rewrite_size_suffix(url, &opts.size, &opts.photo_hosts).is_some());
        if code == 429 || code == 503 || (!has_photos && says_rate_limited(&html)) {
            let period = pacer.slow_down(&host);
            tracing::warn!("{host} throttles the crawl (HTTP {code}); one page action every {period:?} from now");
            bar.set_message(format!("{term} ({host} throttled)"));
            continue;
        }
        if code >= 400 {
            return Err(format!("{page}: HTTP {code}"));
        }
        break;
    }
    let mut stale = 0;
    loop {
        let html = client.source().await.map_err(|e| e.to_string())?;
        let before = found.urls.len();
        for url in image_urls_in_page(&html, &page) {
            if let Some(photo) = rewrite_size_suffix(&url, &opts.size, &opts.photo_hosts) {
                let photo = photo.to_string();
                if found.seen.insert(photo.clone()) {
                    found.urls.push(photo);
                }
            }
        }
        if found.urls.len() >= opts.max_per_term {
            found.urls.truncate(opts.max_per_term);
            bar.set_position(opts.max_per_term as u64);
            return Ok(TermStatus::Complete);
        }
        bar.set_position(found.urls.len() as u64);
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
    fn terms_are_url_encoded_into_the_template() {
        let url = search_page_url("https://www.flickr.com/search/?text={term}", "red car & co/ö").unwrap();
        assert_eq!(url.as_str(), "https://www.flickr.com/search/?text=red+car+%26+co%2F%C3%B6");
    }
}
