//! `picseek doctor` on this machine's real Chromium, chromedriver, ONNX Runtime and test
//! model, with the network checked against loopback ports (one listening, one closed).

use crate::support::{clip_test_model, copy_dir, picseek_command, picseek_json, write_class};
use serde_json::Value;

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn doctor_passes_a_ready_machine_and_names_each_fix_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_class(&data.join("train"), "red", [220, 40, 40], 2, 1);
    let model = dir.path().join("model");
    copy_dir(&clip_test_model(), &model);
    picseek_json(&["--data-dir", data.to_str().unwrap(), "--json", "index", "--model", model.to_str().unwrap()]);
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listening.local_addr().unwrap().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let data = data.to_str().unwrap();

    let ready = picseek_json(&["--data-dir", data, "--json", "doctor", "--network-host", &open]);
    for name in ["chromium", "chromedriver", "onnxruntime", "model", "index", "network"] {
        assert_eq!(check(&ready, name)["status"], "ok", "{name}: {ready}");
    }
    assert!(check(&ready, "model")["detail"].as_str().unwrap().contains("the index was built with"), "{ready}");
    assert_eq!(ready["failed"], false);

    // Model gone, no network, no ONNX Runtime: each named with its fix, one line each.
    std::fs::remove_dir_all(&model).unwrap();
    let out = picseek_command()
        .args(["--data-dir", data, "doctor", "--network-host", &closed, "--timeout", "2"])
        .env("ORT_DYLIB_PATH", dir.path().join("nowhere/libonnxruntime.so"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line =
        |name: &str| stdout.lines().position(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {stdout}"));
    for (name, fix) in
        [("onnxruntime", "ORT_DYLIB_PATH"), ("model", "--model DIR"), ("network", "`picseek clean --in DIR`")]
    {
        let at = line(name);
        assert!(stdout.lines().nth(at).unwrap().contains("FAIL"), "{name}: {stdout}");
        assert!(stdout.lines().nth(at + 1).unwrap().contains(fix), "{name}: {stdout}");
    }
    assert!(stdout.lines().nth(line("network")).unwrap().contains(&closed), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 check(s) failed"));
}
