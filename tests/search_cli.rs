//! Searching from the command line as rclip users expect: an index that remembers how
//! it was made (and where its model is), paths-only output and table headers, query
//! images by URL, combined and weighted queries, batches of queries, and plots laid out
//! as a grid.

use std::path::Path;

use crate::support::image_server::ImageServer;
use crate::support::{clip_test_model, index_pixel, picseek, picseek_fails, picseek_json, write_class};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Three colour classes of `n` images each in `data/train/`.
fn write_train(data: &Path, n: usize) {
    for (i, (class, colour)) in
        [("red", [220, 40, 40]), ("green", [40, 200, 60]), ("blue", [40, 60, 220])].iter().enumerate()
    {
        write_class(&data.join("train"), class, *colour, n, i as u64);
    }
}

fn stdout(args: &[&str]) -> String {
    let out = picseek(args);
    assert!(out.status.success(), "picseek {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_pixel_index_is_continued_without_restating_how_it_was_built() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_train(data, 3);
    index_pixel(data, &[]);
    write_class(&data.join("train"), "yellow", [230, 220, 30], 2, 9);
    write_class(&data.join("train/red"), "nested", [220, 40, 40], 1, 5);
    // No --embedder, no --pixel-size: the index's own (pixel, 32 px) are used.
    let again = picseek_json(&["--data-dir", s(data), "--json", "index"]);
    assert_eq!((again["embedded"].as_u64(), again["reused"].as_u64()), (Some(3), Some(9)), "{again}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("index/index.json")).unwrap()).unwrap();
    let nested =
        manifest["items"].as_array().unwrap().iter().find(|i| i["path"].as_str().unwrap().contains("red/nested/"));
    assert_eq!(nested.expect("a nested folder is indexed")["class"], "nested", "the folder it is in is its class");
    assert_eq!((manifest["embedder"].as_str(), manifest["image_size"].as_u64()), (Some("pixel"), Some(32)));
    // Saying something else is still refused, naming the one setting.
    let err = picseek_fails(&["--data-dir", s(data), "index", "--pixel-size", "16"]);
    assert!(err.contains("32x32") && err.contains("16x16") && err.contains("--rebuild") && err.len() < 300, "{err}");
}

#[test]
fn a_clip_index_finds_its_model_also_after_the_folder_moved() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_train(&data, 2);
    let model = dir.path().join("models/clip-small");
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    crate::support::copy_dir(&clip_test_model(), &model);
    picseek_json(&["--data-dir", s(&data), "--json", "index", "--model", s(&model)]);
    let query = data.join("train/red/red_0.jpg");

    // search, eval and a re-run of index, with no --model.
    let found = picseek_json(&["--data-dir", s(&data), "--json", "search", "--image", s(&query), "-k", "2"]);
    assert_eq!(found["results"][0]["class"], "red", "{found}");
    let text = picseek_json(&["--data-dir", s(&data), "--json", "search", "--text", "a red car", "-k", "2"]);
    assert_eq!(text["results"].as_array().unwrap().len(), 2);
    let again = picseek_json(&["--data-dir", s(&data), "--json", "index"]);
    assert_eq!(again["reused"].as_u64(), Some(6), "{again}");

    // Moved beside where it was: found by its SHA-256.
    let moved = dir.path().join("models/clip-renamed");
    std::fs::rename(&model, &moved).unwrap();
    let found = picseek_json(&["--data-dir", s(&data), "--json", "search", "--image", s(&query), "-k", "1"]);
    assert_eq!(found["results"][0]["class"], "red");

    // Gone: the error names the model, where it was, and the flag.
    std::fs::remove_dir_all(&moved).unwrap();
    let err = picseek_fails(&["--data-dir", s(&data), "search", "--image", s(&query)]);
    assert!(err.contains("clip-small") && err.contains("SHA-256") && err.contains("--model DIR"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn results_print_as_a_table_paths_only_or_json_and_k_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_train(data, 3);
    index_pixel(data, &[]);
    let query = data.join("train/green/green_0.jpg");
    let table = stdout(&["--data-dir", s(data), "search", "--image", s(&query), "-k", "2", "--metric", "l1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("rank") && lines[0].contains("l1 score") && lines[0].contains("path"), "{table}");
    assert!(table.contains("smaller l1 scores are closer"), "{table}");

    let paths = stdout(&["--data-dir", s(data), "search", "--image", s(&query), "-k", "3", "--paths"]);
    let paths: Vec<&str> = paths.lines().collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths.iter().all(|p| Path::new(p).is_file()), "one existing path per line: {paths:?}");

    let out = picseek(&["--data-dir", s(data), "--json", "search", "--image", s(&query), "-k", "50"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than the 9 images"));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["results"].as_array().unwrap().len(), 9);

    let hidden = picseek_json(&["--data-dir", s(data), "--json", "search", "--image", s(&query), "--exclude-query"]);
    assert!(
        hidden["results"].as_array().unwrap().iter().all(|r| !r["path"].as_str().unwrap().ends_with("green_0.jpg"))
    );

    let err = picseek_fails(&["--data-dir", s(data), "search", "--image", s(&query), "--text", "x"]);
    assert!(err.contains("CLIP"), "a pixel index takes no text: {err}");
    let err = picseek_fails(&["--data-dir", s(data), "search", "--image", s(&query), "--image", s(&query)]);
    assert!(err.contains("combined") && err.contains("CLIP"), "{err}");
    let err = picseek_fails(&["--data-dir", s(data), "search", "--queries", "/dev/zero"]);
    assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");
    let err = picseek_fails(&["--data-dir", s(data), "search"]);
    assert!(err.contains("--image") && err.contains("--queries"), "{err}");
}

#[test]
fn a_query_image_can_be_a_url_fetched_with_the_download_checks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_train(data, 2);
    index_pixel(data, &[]);
    let server = ImageServer::start();
    let found =
        picseek_json(&["--data-dir", s(data), "--json", "search", "--image", &server.url("img/1.jpg"), "-k", "2"]);
    assert_eq!(found["query"], server.url("img/1.jpg"));
    assert_eq!(found["results"].as_array().unwrap().len(), 2);
    // In words, never the manifest's codes (`http_404`).
    for (path, needle) in [
        ("page.jpg", "the response is not an image"),
        ("missing.jpg", "HTTP 404 (not found)"),
        ("noai.jpg", "the host opts out of AI use (noai in the X-Robots-Tag header)"),
    ] {
        let err = picseek_fails(&["--data-dir", s(data), "search", "--image", &server.url(path)]);
        assert!(err.contains(&server.url(path)) && err.contains(needle), "{path}: {err}");
        assert!(!err.contains("http_") && !err.contains("not_an_image"), "{path}: {err}");
    }
    let err = picseek_fails(&["--data-dir", s(data), "search", "--image", "ftp://example.org/x.jpg"]);
    assert!(err.contains("ftp://example.org/x.jpg"), "{err}");
}

#[test]
fn combined_weighted_and_batched_queries_on_a_clip_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_train(data, 3);
    let model = clip_test_model();
    picseek_json(&["--data-dir", s(data), "--json", "index", "--model", s(&model)]);
    let red = data.join("train/red/red_0.jpg");
    let blue = data.join("train/blue/blue_0.jpg");
    let search = |extra: &[&str]| {
        let mut args = vec!["--data-dir", s(data), "--json", "search", "--exact", "-k", "9"];
        args.extend_from_slice(extra);
        picseek_json(&args)
    };
    let plain = search(&["--image", s(&red)]);
    let combined = search(&["--image", s(&red), "--text", "a red car"]);
    assert_eq!(combined["query"], format!("{} + \"a red car\"", s(&red)));
    assert_ne!(plain["results"], combined["results"], "the text term changes the scores");
    // Steering away from blue pushes blue images down.
    let away = search(&["--image", s(&red), "--image", &format!("-:{}", s(&blue))]);
    let rank_of_blue =
        |doc: &Value| doc["results"].as_array().unwrap().iter().position(|r| r["class"] == "blue").unwrap();
    assert!(rank_of_blue(&away) >= rank_of_blue(&plain), "{away}");
    assert_eq!(away["results"].as_array().unwrap().last().unwrap()["class"], "blue");
    let err =
        picseek_fails(&["--data-dir", s(data), "search", "--image", s(&red), "--image", &format!("-:{}", s(&red))]);
    assert!(err.contains("cancel"), "{err}");

    // A text longer than the model's context is cut, with a warning naming what was left out.
    let long = format!("a red car {}", "and a very long tail of words ".repeat(20));
    let out = picseek(&["--data-dir", s(data), "--json", "search", "--text", &long]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("longer than the model's") && stderr.contains("tail of words"), "{stderr}");

    // A batch: one JSON line per query, a bad line answered with its error.
    let queries = data.join("queries.jsonl");
    std::fs::write(
        &queries,
        format!(
            "{{\"id\": \"q1\", \"text\": \"a red car\", \"k\": 2}}\n\n# a comment\n{{\"image\": [{:?}], \"text\": \"-0.5:a blue sky\", \"class\": \"red\"}}\nnot json\n{{\"image\": \"missing.jpg\"}}\n",
            s(&red)
        ),
    )
    .unwrap();
    let out = picseek(&["--data-dir", s(data), "search", "--queries", s(&queries)]);
    assert!(!out.status.success(), "two queries failed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 of 4 queries failed"));
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!((lines[0]["id"].as_str(), lines[0]["results"].as_array().unwrap().len()), (Some("q1"), 2));
    assert!(lines[1]["results"].as_array().unwrap().iter().all(|r| r["class"] == "red"), "{}", lines[1]);
    assert_eq!(lines[1]["line"], 4);
    assert!(lines[2]["error"].as_str().unwrap().contains(":5: not a query"), "{}", lines[2]);
    assert!(lines[3]["error"].as_str().unwrap().contains("missing.jpg"), "{}", lines[3]);
}

#[test]
fn the_plot_is_a_grid_with_wrapped_labels_marks_the_class_and_follows_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    write_class(&data.join("train"), "recreation_sports", [40, 60, 220], 8, 1);
    write_class(&data.join("train"), "red", [220, 40, 40], 4, 2);
    index_pixel(data, &[]);
    let query = data.join("train/recreation_sports/recreation_sports_0.jpg");
    let plot = data.join("out/plot.png");
    let found =
        picseek_json(&["--data-dir", s(data), "--json", "search", "--image", s(&query), "-k", "7", "--plot", s(&plot)]);
    assert_eq!(found["results"].as_array().unwrap().len(), 7);
    let sheet = image::open(&plot).unwrap().into_rgb8();
    // Eight cells, five to a row: two rows of 224 px pictures with labels under them.
    assert_eq!(sheet.width(), 8 + 5 * (224 + 8));
    // Runs of blue down the middle of the second column: one picture per row.
    let is_blue = |y: u32| {
        let p = sheet.get_pixel(8 + 232 + 112, y).0;
        i32::from(p[2]) > i32::from(p[0]) + 60
    };
    let mut starts = Vec::new();
    let mut run = 0;
    for y in 0..sheet.height() {
        run = if is_blue(y) { run + 1 } else { 0 };
        if run == 100 {
            starts.push(y - 99);
        }
    }
    assert_eq!(starts.len(), 2, "the second column has a picture in each of two rows: {starts:?}");
    let second_row = starts[1];
    assert!(second_row > 8 + 224 + 3 * 18, "the first row's labels take several lines: {second_row}");
    // The fifth column of the second row is empty; the third has a result.
    let empty = sheet.get_pixel(8 + 4 * 232 + 112, second_row + 112).0;
    assert_eq!(empty, [255, 255, 255]);
    // Results of the query's class (it is in the index) get a green bar.
    let bar = sheet.get_pixel(8 + 232 + 112, 8 + 224 + 2).0;
    assert_eq!(bar, [40, 170, 70], "result 1 is marked as of the query's class");
    // The label runs over several lines: rank and score, the class wrapped, the file name.
    let inked_lines = (0..6)
        .filter(|line| {
            let y0 = 8 + 224 + 6 + 4 + line * 18;
            (0..224).any(|x| (y0..y0 + 16).any(|y| sheet.get_pixel(8 + 232 + x, y).0 == [20, 20, 20]))
        })
        .count();
    assert!(inked_lines >= 4, "rank, class over two lines and the file name: {inked_lines}");

    let jpeg = data.join("out/plot.JPG");
    picseek_json(&["--data-dir", s(data), "--json", "search", "--image", s(&query), "--plot", s(&jpeg)]);
    assert_eq!(&std::fs::read(&jpeg).unwrap()[..2], &[0xFF, 0xD8], "a JPEG for .jpg");
    let err = picseek_fails(&["--data-dir", s(data), "search", "--image", s(&query), "--plot", s(&data.join("p.gif"))]);
    assert!(err.contains("p.gif") && err.contains(".png"), "{err}");
    assert!(!data.join("p.gif").exists());
}
