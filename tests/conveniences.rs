//! The command line as a new user types it: positional and piped queries, and each
//! error that has a usual fix saying it, word for word.

use std::io::Write;
use std::process::Stdio;

use crate::support::{index_pixel, picseek, picseek_command, picseek_fails, write_class};

/// A data directory with a pixel index of two classes.
fn indexed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_class(&dir.path().join("train"), "red", [220, 30, 30], 4, 1);
    write_class(&dir.path().join("train"), "blue", [30, 30, 220], 4, 2);
    index_pixel(dir.path(), &[]);
    dir
}

#[test]
fn a_query_can_be_positional_or_piped_in() {
    let dir = indexed();
    let data = dir.path().to_str().unwrap();
    let query = dir.path().join("train/red/red_0.jpg");
    let out = picseek(&["--data-dir", data, "search", query.to_str().unwrap(), "-k", "1", "--paths"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).trim().ends_with("red/red_0.jpg"));

    let mut child = picseek_command()
        .args(["--data-dir", data, "search", "--image", "-", "-k", "1", "--paths"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(dir.path().join("train/blue/blue_0.jpg")).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).trim().ends_with("blue/blue_0.jpg"));

    // Not a file: a text, which a pixel index cannot answer.
    let err = picseek_fails(&["--data-dir", data, "search", "a red square"]);
    assert_eq!(err.trim(), "picseek: text queries need a CLIP index; this one uses the pixel embedder");
}

#[test]
fn each_usual_mistake_says_its_fix() {
    let dir = indexed();
    let data = dir.path().to_str().unwrap();
    let train = dir.path().join("train");
    let err = picseek_fails(&["--data-dir", data, "search", "--image", train.to_str().unwrap()]);
    assert_eq!(
        err.trim(),
        format!(
            "picseek: --image {}: a folder, not an image; give one image file (to query with many, write them into a --queries file)",
            train.display()
        )
    );
    let err = picseek_fails(&["--data-dir", data, "download"]);
    assert_eq!(
        err.trim(),
        format!(
            "picseek: {}: no such file of URLs; run `picseek crawl` first (or pass --urls FILE)",
            dir.path().join("urls.json").display()
        )
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = picseek_fails(&["--data-dir", data, "serve", "--addr", &addr]);
    assert!(
        err.trim().ends_with(
            "another program listens there (another `picseek serve`?): pass --addr with a free port, as --addr 127.0.0.1:8081"
        ),
        "{err}"
    );
    let err = picseek_fails(&["--data-dir", data, "serve", "--addr", "example.org:80"]);
    assert!(err.contains("\"example.org\" is not an IP address: give 127.0.0.1:PORT"), "{err}");
}

#[test]
fn serve_takes_an_address_as_people_type_it_and_says_where_to_open_it() {
    let dir = indexed();
    let data = dir.path().to_str().unwrap();
    for (addr, shown) in
        [(":0", "http://127.0.0.1:"), ("localhost:0", "http://127.0.0.1:"), ("0.0.0.0:0", "http://127.0.0.1:")]
    {
        let mut child = picseek_command()
            .args(["--data-dir", data, "serve", "--addr", addr])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let line = lines.find(|l| l.as_ref().is_ok_and(|l| l.contains("serving"))).unwrap().unwrap();
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        child.wait().unwrap();
        assert!(line.contains(&format!("on {shown}")), "{addr}: {line}");
        assert!(!line.contains("0.0.0.0"), "{addr}: an address a browser can open, not 0.0.0.0: {line}");
    }
}
