//! What a person sees in a terminal during long work: run under a pseudo-terminal
//! (`script`), clean and index draw their one bar and no line per image, however many
//! images are rejected or skipped, and the summary follows.

use std::path::Path;

use crate::support::{SCRUBBED_VARIABLES, write_class};

/// The terminal transcript of `picseek args` at the default verbosity, with colour on.
fn under_a_terminal(args: &[&str]) -> String {
    let quoted: Vec<String> =
        std::iter::once(env!("CARGO_BIN_EXE_picseek")).chain(args.iter().copied()).map(|a| format!("'{a}'")).collect();
    let mut command = std::process::Command::new("script");
    command
        .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "120");
    for name in SCRUBBED_VARIABLES {
        command.env_remove(name);
    }
    let out = command.env_remove("RUST_LOG").output().expect("script (util-linux) runs");
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "picseek {args:?}: {transcript}");
    transcript
}

/// The lines a person reads, once the bar's redraws (carriage returns, escape codes)
/// are taken out.
fn log_lines(transcript: &str) -> Vec<&str> {
    transcript.lines().filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains("rejected ")).collect()
}

fn photos(dir: &Path) {
    write_class(dir, "red", [220, 40, 40], 40, 1);
    write_class(dir, "blue", [40, 60, 220], 40, 2);
    // Rejections and duplicates: each used to be a line of its own.
    std::fs::write(dir.join("red/broken.jpg"), b"not a jpeg").unwrap();
    for i in 0..5 {
        std::fs::copy(dir.join("blue/blue_0.jpg"), dir.join(format!("blue/copy_{i}.jpg"))).unwrap();
    }
}

#[test]
fn clean_and_index_draw_one_bar_and_no_line_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let (own, data) = (dir.path().join("photos"), dir.path().join("data"));
    photos(&own);
    let d = data.to_str().unwrap();

    let clean = under_a_terminal(&["--data-dir", d, "clean", "--in", own.to_str().unwrap()]);
    assert!(log_lines(&clean).is_empty(), "no line per image: {clean}");
    assert!(clean.contains("cleaning"), "the bar is drawn: {clean}");
    assert!(!clean.contains("embedding"), "one bar: {clean}");
    assert!(clean.contains("rejected: duplicate") && clean.contains("rejected: not a decodable image"), "{clean}");

    let split = under_a_terminal(&["--data-dir", d, "split", "--test-per-class", "5"]);
    assert!(split.contains("split 2 classes"), "{split}");
    let index = under_a_terminal(&["--data-dir", d, "index", "--embedder", "pixel", "--pixel-size", "32"]);
    assert!(log_lines(&index).is_empty(), "{index}");
    assert!(index.contains("embedding") && !index.contains("cleaning"), "one bar: {index}");
    assert!(index.contains("indexed "), "the summary follows: {index}");
}
