//! Starting and stopping `chromedriver`, and opening headless Chromium sessions on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::CrawlError;

/// How long chromedriver may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Finds a program on `PATH`.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// A `chromedriver` that picseek started on a free loopback port. It runs in its own
/// process group, and dropping this kills the whole group, so the Chromium instances it
/// launched go with it on success, error and Ctrl-C alike.
pub struct ChromeDriver {
    child: tokio::process::Child,
    url: String,
}

impl ChromeDriver {
    /// Starts `program` on a free loopback port and waits until it accepts connections.
    pub async fn start(program: &Path) -> Result<Self, CrawlError> {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(CrawlError::WebDriverStart)?;
            listener.local_addr().map_err(CrawlError::WebDriverStart)?.port()
        };
        let mut child = tokio::process::Command::new(program);
        child
            .arg(format!("--port={port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl(2) is async-signal-safe; between fork and exec it only asks the
        // kernel to kill chromedriver when picseek dies, even by SIGKILL.
        unsafe {
            child.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child =
            child.spawn().map_err(|e| CrawlError::BrowserMissing { what: format!("{} ({e})", program.display()) })?;
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(CrawlError::WebDriverStart(std::io::Error::other(format!(
                    "chromedriver exited at start: {status}"
                ))));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(CrawlError::WebDriverStart(std::io::Error::other(
                    "chromedriver did not start listening in time",
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::debug!(port, "chromedriver started");
        Ok(Self { child, url: format!("http://127.0.0.1:{port}") })
    }

    /// The WebDriver URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
        }
    }
}

/// The prefix of the browser profile folders in the temporary folder.
const PROFILE_PREFIX: &str = "picseek-chromium-";
/// The file in a profile folder that names the process it belongs to: its pid and start
/// time, which together name one process even after the pid is reused.
const PROFILE_OWNER: &str = "picseek-owner";

/// `<pid> <start time>` of process `pid`, if it runs (the start time is field 22 of
/// `/proc/<pid>/stat`, in clock ticks since boot).
fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start_time = after_name.split_whitespace().nth(19)?;
    Some(format!("{pid} {start_time}"))
}

/// Whether the owner recorded in a profile still runs.
fn owner_runs(owner: &str) -> bool {
    let pid = owner.split_whitespace().next().and_then(|p| p.parse().ok());
    pid.and_then(process_identity).is_some_and(|identity| identity == owner.trim())
}

/// Stops the browsers of picseek runs that were killed (SIGKILL leaves no chance to
/// stop them) and removes their profile folders: every `picseek-chromium-*` folder of
/// the temporary folder whose owner process (by pid and start time) no longer runs.
/// Returns how many it removed.
pub fn reap_stale_profiles() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return 0 };
    let mut reaped = 0;
    for profile in entries.flatten().map(|e| e.path()) {
        let name = profile.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !name.starts_with(PROFILE_PREFIX) || !profile.is_dir() {
            continue;
        }
        let owner = std::fs::read_to_string(profile.join(PROFILE_OWNER)).unwrap_or_default();
        if owner_runs(&owner) {
            continue;
        }
        let needle = format!("--user-data-dir={}", profile.display());
        for (pid, cmdline) in processes() {
            if cmdline.contains(&needle) {
                // SAFETY: kill(2) on a process found running with the stale profile.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if std::fs::remove_dir_all(&profile).is_ok() {
            tracing::info!("removed the browser profile {} of a killed run", profile.display());
            reaped += 1;
        }
    }
    reaped
}

/// Every process's pid and command line.
fn processes() -> Vec<(libc::pid_t, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

/// One browser session with its own fresh profile folder (removed when dropped).
pub struct BrowserSession {
    /// The WebDriver client.
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl BrowserSession {
    /// Opens a Chromium session (headless unless `headful`) on the WebDriver server at
    /// `webdriver_url`, whose page loads give up after `page_load_timeout`.
    pub async fn open(
        webdriver_url: &str,
        chromium: Option<&Path>,
        headful: bool,
        page_load_timeout: Duration,
    ) -> Result<Self, CrawlError> {
        let profile = tempfile::Builder::new().prefix(PROFILE_PREFIX).tempdir().map_err(CrawlError::WebDriverStart)?;
        let owner = process_identity(std::process::id()).unwrap_or_default();
        std::fs::write(profile.path().join(PROFILE_OWNER), owner).map_err(CrawlError::WebDriverStart)?;
        let mut args = vec![
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".into(),
            // Without these Chromium keeps calling home, which a closed network refuses.
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            "--window-size=1280,1024".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if !headful {
            args.push("--headless=new".into());
        }
        // Chromium's sandbox cannot start as root; anyone else keeps it.
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            args.push("--no-sandbox".into());
        }
        let mut options = json!({ "args": args });
        if let Some(binary) = chromium {
            options["binary"] = json!(binary);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::rustls()
            .map_err(|e| CrawlError::Session(e.to_string()))?
            .capabilities(capabilities)
            .connect(webdriver_url)
            .await
            .map_err(|e| CrawlError::Session(format!("{webdriver_url}: {e}")))?;
        let timeouts = fantoccini::wd::TimeoutConfiguration::new(None, Some(page_load_timeout), None);
        client.update_timeouts(timeouts).await.map_err(|e| CrawlError::Session(e.to_string()))?;
        Ok(Self { client, _profile: profile })
    }

    /// Ends the session, which quits its Chromium, waiting at most `within`: a session
    /// stuck on a host that never answers is left to chromedriver, which picseek stops.
    pub async fn close(self, within: Duration) {
        match tokio::time::timeout(within, self.client.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("closing the browser session: {e}"),
            Err(_) => tracing::debug!("the browser session did not close in {within:?}; chromedriver will end it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_owned_by_a_running_process_only() {
        let me = process_identity(std::process::id()).unwrap();
        assert!(owner_runs(&me));
        let pid = me.split_whitespace().next().unwrap();
        assert!(!owner_runs(&format!("{pid} 1")), "the same pid, started at another time");
        assert!(!owner_runs(""));
        assert!(!owner_runs("4194305 1"), "no such process");
    }
}
