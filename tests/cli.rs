//! The command line as a whole: help, the contract's subcommands, and failures that
//! must be one clear line, never a panic.

use crate::support::{picseek, picseek_fails};

#[test]
fn help_lists_every_subcommand_of_the_spec() {
    let out = picseek(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in
        ["crawl", "download", "clean", "split", "index", "search", "eval", "run", "serve", "doctor", "report"]
    {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "--help lacks {command}:\n{help}");
        assert!(picseek(&[command, "--help"]).status.success(), "{command} --help failed");
    }
}

#[test]
fn search_without_an_index_names_the_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let stderr = picseek_fails(&["--data-dir", data, "search", "--image", "q.jpg"]);
    assert!(stderr.contains("no index here") && stderr.contains(data), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_malformed_index_manifest_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("index")).unwrap();
    std::fs::write(dir.path().join("index/index.json"), b"{\"format_version\": 1,").unwrap();
    let stderr = picseek_fails(&["--data-dir", dir.path().to_str().unwrap(), "eval"]);
    assert!(stderr.contains("index.json") && stderr.contains("not a valid manifest"), "{stderr}");
}

#[test]
fn a_bad_metric_is_refused_with_the_choices() {
    let stderr = picseek_fails(&["search", "--image", "q.jpg", "--metric", "hamming"]);
    assert!(stderr.contains("l1, l2, cosine, correlation"), "{stderr}");
}

#[test]
fn out_of_range_rates_and_timeouts_are_refused_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("urls.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("categories.json"), br#"{"a": ["b"]}"#).unwrap();
    let categories = dir.path().join("categories.json");
    for rate in ["1e12", "1e-300", "-1", "NaN"] {
        let flag = format!("--rate={rate}");
        let stderr = picseek_fails(&["--data-dir", data, "crawl", "--categories", categories.to_str().unwrap(), &flag]);
        assert!(stderr.contains("--rate must be"), "{rate}: {stderr}");
        let stderr = picseek_fails(&["--data-dir", data, "download", &flag]);
        assert!(stderr.contains("--rate must be"), "{rate}: {stderr}");
    }
    for timeout in ["0", "1e30", "NaN", "-5"] {
        let flag = format!("--timeout={timeout}");
        let stderr = picseek_fails(&["--data-dir", data, "download", &flag]);
        assert!(stderr.contains("--timeout must be"), "{timeout}: {stderr}");
    }
}
