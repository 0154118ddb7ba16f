//! `picseek doctor`: checks, before a long run, what the stages need from this machine:
//! Chromium and its driver (crawl), ONNX Runtime and the CLIP model (index, search), the
//! index and the model it was built with, disk space under the data directory, and
//! whether the photo site can be reached.
//!
//! Every check ends `ok`, `warn` (the stages work, with a caveat) or `fail`, with a
//! one-line detail and, unless ok, a typed [`Problem`] that a caller turns into the
//! fix in its own terms (the binary names flags and commands). Checks never change
//! anything and each is bounded in time.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picseek_clip::ModelFiles;
use picseek_embed::{EmbedderKind, ModelOptions};
use picseek_index::RecordedBuild;
use picseek_manifest::DataDir;
use serde::Serialize;

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The data directory (disk space is checked where it is, or would be).
    pub data_dir: PathBuf,
    /// The index folder.
    pub index_dir: PathBuf,
    /// The CLIP model folder; `None`: the one the index records, else `models/clip`.
    pub model_dir: Option<PathBuf>,
    /// `host:port`s that crawl and download need, tried in turn.
    pub network_hosts: Vec<String>,
    /// How long each network attempt may take.
    pub timeout: Duration,
    /// Below this much free space the disk check fails (a crawl of a few thousand
    /// photos, their clean copies and an index need about this).
    pub min_free_bytes: u64,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            index_dir: PathBuf::from("data/index"),
            model_dir: None,
            network_hosts: vec!["www.flickr.com:443".into(), "live.staticflickr.com:443".into()],
            timeout: Duration::from_secs(5),
            min_free_bytes: 2_000_000_000,
        }
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ready.
    Ok,
    /// Works, with a caveat.
    Warn,
    /// A stage that needs it will fail.
    Fail,
}

/// What is wrong, by kind: the caller words the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Problem {
    /// Chromium is not installed (or not on `PATH`).
    BrowserMissing,
    /// chromedriver is not installed (or not on `PATH`).
    DriverMissing,
    /// Chromium and chromedriver are of different major versions.
    DriverMismatch {
        /// Chromium's major version.
        browser: String,
        /// chromedriver's major version.
        driver: String,
    },
    /// A program is there but does not run.
    ProgramBroken {
        /// The program.
        program: PathBuf,
    },
    /// ONNX Runtime's library is not found, or does not load.
    RuntimeMissing,
    /// The CLIP model folder lacks files.
    ModelMissing {
        /// The folder.
        dir: PathBuf,
    },
    /// The model is not the one the index was built with (or cannot be found).
    ModelMismatch,
    /// There is no index yet.
    NoIndex,
    /// The index cannot be read.
    IndexDamaged,
    /// Little free disk space.
    LowDisk {
        /// Free bytes.
        free: u64,
    },
    /// The photo site cannot be reached.
    Offline,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`chromium`, `chromedriver`, `onnxruntime`, `model`, `index`,
    /// `disk`, `network`).
    pub name: &'static str,
    /// How it ended.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What is wrong, unless ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, status: Status::Ok, detail: detail.into(), problem: None }
    }

    fn bad(name: &'static str, status: Status, detail: impl Into<String>, problem: Problem) -> Self {
        Self { name, status, detail: detail.into(), problem: Some(problem) }
    }
}

/// Every check, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// The checks.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// Runs every check.
pub fn doctor(opts: &DoctorOptions) -> DoctorReport {
    let mut checks = browser_checks();
    checks.push(runtime_check());
    checks.extend(model_and_index_checks(opts));
    checks.push(disk_check(&opts.data_dir, opts.min_free_bytes));
    checks.push(network_check(&opts.network_hosts, opts.timeout));
    DoctorReport { checks }
}

/// The first line a program prints for `--version`, within `timeout`, or why not.
fn version_of(program: &Path, timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot be started: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => return Err(format!("--version ended with {status}")),
            Err(e) => return Err(format!("--version: {e}")),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("--version gave no answer within {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.stdout.take().map(std::io::read_to_string).transpose().map_err(|e| e.to_string())?;
    Ok(out.unwrap_or_default().lines().next().unwrap_or_default().trim().to_owned())
}

/// How long a program may take to print its version: a browser's first start after
/// boot reads a lot from a cold disk.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(20);

/// The major version in a `--version` line ("Chromium 131.0.6778.85 built on ..." → "131").
fn major_version(line: &str) -> Option<String> {
    line.split_whitespace().find_map(|w| {
        let major = w.split('.').next()?;
        (w.contains('.') && !major.is_empty() && major.chars().all(|c| c.is_ascii_digit())).then(|| major.to_owned())
    })
}

fn browser_checks() -> Vec<Check> {
    let program_check = |name: &'static str, names: &[&str], missing: Problem| {
        let Some(program) = picseek_crawl::find_program(names) else {
            return (Check::bad(name, Status::Fail, format!("none of {} on PATH", names.join(", ")), missing), None);
        };
        match version_of(&program, PROGRAM_TIMEOUT) {
            Ok(version) => (Check::ok(name, format!("{version} ({})", program.display())), major_version(&version)),
            Err(reason) => (
                Check::bad(
                    name,
                    Status::Fail,
                    format!("{}: {reason}", program.display()),
                    Problem::ProgramBroken { program },
                ),
                None,
            ),
        }
    };
    let (browser, browser_major) =
        program_check("chromium", &["chromium", "chromium-browser", "google-chrome"], Problem::BrowserMissing);
    let (mut driver, driver_major) = program_check("chromedriver", &["chromedriver"], Problem::DriverMissing);
    if let (Some(b), Some(d)) = (browser_major, driver_major)
        && b != d
    {
        driver = Check::bad(
            "chromedriver",
            Status::Fail,
            format!("{}; Chromium is version {b}, the driver {d}", driver.detail),
            Problem::DriverMismatch { browser: b, driver: d },
        );
    }
    vec![browser, driver]
}

fn runtime_check() -> Check {
    match picseek_clip::runtime::environment(picseek_clip::Device::Cpu) {
        Ok(_) => Check::ok(
            "onnxruntime",
            picseek_clip::runtime::library_path(picseek_clip::Device::Cpu)
                .map_or("loaded".into(), |p| format!("loads from {}", p.display())),
        ),
        Err(e) => Check::bad("onnxruntime", Status::Fail, e.to_string(), Problem::RuntimeMissing),
    }
}

fn model_and_index_checks(opts: &DoctorOptions) -> Vec<Check> {
    let recorded = RecordedBuild::read(&opts.index_dir);
    let index = match (&recorded, DataDir::index_manifest(&opts.index_dir).is_file()) {
        (Some(r), _) => Check::ok(
            "index",
            format!(
                "{}: {} embedder{}",
                opts.index_dir.display(),
                r.embedder,
                if r.embedder == EmbedderKind::Pixel { format!(" at {} px", r.image_size) } else { String::new() }
            ),
        ),
        (None, true) => Check::bad(
            "index",
            Status::Fail,
            format!("{} cannot be read", DataDir::index_manifest(&opts.index_dir).display()),
            Problem::IndexDamaged,
        ),
        (None, false) => {
            Check::bad("index", Status::Warn, format!("no index in {} yet", opts.index_dir.display()), Problem::NoIndex)
        }
    };
    let wanted = recorded.as_ref().filter(|r| r.embedder == EmbedderKind::Clip).and_then(|r| r.model.clone());
    let named = ModelOptions { model_dir: opts.model_dir.clone(), ..ModelOptions::default() };
    let dir = match named.resolved(wanted.as_ref().map(|model| (opts.index_dir.as_path(), model))) {
        Ok(resolved) => resolved.dir().to_owned(),
        Err(e) => return vec![Check::bad("model", Status::Fail, e.to_string(), Problem::ModelMismatch), index],
    };
    // Without a CLIP index the model is optional (the pixel embedder needs none).
    let missing_status = if wanted.is_some() { Status::Fail } else { Status::Warn };
    let files = ModelFiles::at(&dir, wanted.as_ref().map(|m| m.precision).unwrap_or_default());
    for name in files.all() {
        if let Err(e) = files.require(name) {
            return vec![Check::bad("model", missing_status, e.to_string(), Problem::ModelMissing { dir }), index];
        }
    }
    let model = match files.vision_sha256() {
        Ok(sha) => match &wanted {
            Some(w) if w.sha256 != sha => Check::bad(
                "model",
                Status::Fail,
                format!(
                    "{}: {} has SHA-256 {sha}; the index was built with {}",
                    dir.display(),
                    files.vision(),
                    w.sha256
                ),
                Problem::ModelMismatch,
            ),
            Some(_) => Check::ok("model", format!("{}: the model the index was built with", dir.display())),
            None => Check::ok("model", format!("{}: every file of a {} CLIP folder", dir.display(), files.layout)),
        },
        Err(e) => Check::bad("model", Status::Fail, e.to_string(), Problem::ModelMissing { dir }),
    };
    vec![model, index]
}

/// The free space where `dir` is, or the nearest folder above it that exists.
fn disk_check(dir: &Path, min_free: u64) -> Check {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let Some(existing) = absolute.ancestors().find(|p| p.exists()) else {
        return Check::bad(
            "disk",
            Status::Warn,
            format!("{}: no folder to measure", dir.display()),
            Problem::LowDisk { free: 0 },
        );
    };
    match fs4::available_space(existing) {
        Ok(free) if free < min_free => Check::bad(
            "disk",
            Status::Fail,
            format!("{:.1} GB free under {} (want {:.1} GB)", gb(free), existing.display(), gb(min_free)),
            Problem::LowDisk { free },
        ),
        Ok(free) if free < 4 * min_free => Check::bad(
            "disk",
            Status::Warn,
            format!("{:.1} GB free under {}", gb(free), existing.display()),
            Problem::LowDisk { free },
        ),
        Ok(free) => Check::ok("disk", format!("{:.1} GB free under {}", gb(free), existing.display())),
        Err(e) => {
            Check::bad("disk", Status::Warn, format!("{}: {e}", existing.display()), Problem::LowDisk { free: 0 })
        }
    }
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

/// Resolves and connects to each host in turn (name resolution bounded too: it runs on
/// a thread that is left behind if the resolver hangs).
fn network_check(hosts: &[String], timeout: Duration) -> Check {
    let mut failures = Vec::new();
    for host in hosts {
        let target = host.clone();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(target.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        });
        let addrs = match receiver.recv_timeout(timeout) {
            Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
            Ok(Ok(_)) => {
                failures.push(format!("{host}: the name has no address"));
                continue;
            }
            Ok(Err(e)) => {
                failures.push(format!("{host}: cannot resolve the name ({e})"));
                continue;
            }
            Err(_) => {
                failures.push(format!("{host}: no answer from the name resolver within {}s", timeout.as_secs()));
                continue;
            }
        };
        match std::net::TcpStream::connect_timeout(&addrs[0], timeout) {
            Ok(_) => return Check::ok("network", format!("{host} answers")),
            Err(e) => failures.push(format!("{host}: {e}")),
        }
    }
    Check::bad("network", Status::Fail, failures.join("; "), Problem::Offline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_are_read_from_version_lines() {
        assert_eq!(major_version("Chromium 131.0.6778.85 built on Debian"), Some("131".into()));
        assert_eq!(major_version("ChromeDriver 131.0.6778.85 (3b01a5c7c0a4)"), Some("131".into()));
        assert_eq!(major_version("no version here"), None);
    }

    #[test]
    fn the_network_check_names_the_host_that_cannot_be_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let ok = network_check(&[closed.clone(), open.clone()], Duration::from_secs(2));
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        let bad = network_check(std::slice::from_ref(&closed), Duration::from_secs(2));
        assert_eq!((bad.status, bad.problem), (Status::Fail, Some(Problem::Offline)));
        assert!(bad.detail.contains(&closed), "{}", bad.detail);
    }

    #[test]
    fn disk_space_is_measured_where_the_data_directory_would_be() {
        let dir = tempfile::tempdir().unwrap();
        let check = disk_check(&dir.path().join("not/yet"), 1);
        assert_eq!(check.status, Status::Ok, "{check:?}");
        let check = disk_check(dir.path(), u64::MAX);
        assert_eq!(check.status, Status::Fail);
    }
}
