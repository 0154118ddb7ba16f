//! The router in-process (tower's `oneshot`, no socket): the page, the API's answers
//! and refusals, over a small pixel index.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use image::{Rgb, RgbImage};
use picseek_embed::EmbedderSettings;
use picseek_index::{IndexOptions, build_index};
use tower::ServiceExt;

use super::*;

/// A data directory with two classes of flat-coloured images, indexed by pixels.
fn indexed() -> (tempfile::TempDir, ServeOptions) {
    let dir = tempfile::tempdir().unwrap();
    for (class, colour) in [("red", [220, 30, 30]), ("blue", [30, 30, 220])] {
        let folder = dir.path().join("train").join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..3u8 {
            let shade = Rgb([colour[0] + i, colour[1] + i, colour[2] + i]);
            RgbImage::from_pixel(16, 16, shade).save(folder.join(format!("{i}.png"))).unwrap();
        }
    }
    let index_dir = dir.path().join("index");
    let opts = IndexOptions {
        train: dir.path().join("train"),
        index_dir: index_dir.clone(),
        embedder: EmbedderSettings::Pixel { size: 8 },
        graphs: Vec::new(),
        ..IndexOptions::default()
    };
    build_index(&opts).unwrap();
    (dir, ServeOptions { index_dir, ..ServeOptions::default() })
}

fn get(uri: &str, host: &str) -> Request<Body> {
    Request::get(uri).header(header::HOST, host).body(Body::empty()).unwrap()
}

/// A multipart search with `fields` (name, value) and a PNG in `image`.
fn search_request(fields: &[(&str, &str)], image: Option<&[u8]>) -> Request<Body> {
    const BOUNDARY: &str = "picseek-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    if let Some(image) = image {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n")
                .bytes(),
        );
        body.extend_from_slice(image);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    Request::post("/api/search")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .unwrap()
}

async fn json_of(response: Response) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_page_and_the_index_description_are_served() {
    let (_dir, opts) = indexed();
    let app = router(&opts).unwrap();
    let page = app.clone().oneshot(get("/", "localhost:8080")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (status, info) = json_of(app.oneshot(get("/api/info", "127.0.0.1:8080")).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((info["items"].as_u64(), info["text_queries"].as_bool()), (Some(6), Some(false)), "{info}");
    assert_eq!(info["classes"], serde_json::json!(["blue", "red"]));
}

#[tokio::test]
async fn an_image_query_finds_its_class_first() {
    let (_dir, opts) = indexed();
    let app = router(&opts).unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    RgbImage::from_pixel(16, 16, Rgb([30, 31, 221])).write_to(&mut png, image::ImageFormat::Png).unwrap();
    let request = search_request(&[("k", "3"), ("metric", "l2")], Some(png.get_ref()));
    let (status, answer) = json_of(app.oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let classes: Vec<&str> =
        answer["results"].as_array().unwrap().iter().map(|r| r["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["blue", "blue", "blue"], "{answer}");
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let (_dir, opts) = indexed();
    let app = router(&opts).unwrap();
    let foreign = app.clone().oneshot(get("/api/info", "evil.example")).await.unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN, "another site's name is refused");
    for (fields, needle) in [
        (vec![("text", "a red square")], "need a CLIP index"),
        (vec![("key", "0"), ("metric", "bogus")], "metric"),
        (vec![("key", "0"), ("k", "0")], "k must be"),
        (vec![("key", "999")], "no item 999"),
        (vec![], "send an image"),
    ] {
        let (status, answer) = json_of(app.clone().oneshot(search_request(&fields, None)).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}: {answer}");
        assert!(answer["error"].as_str().unwrap_or("").contains(needle), "{fields:?}: {answer}");
    }
    let (status, answer) = json_of(app.oneshot(search_request(&[], Some(b"not an image"))).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("not a usable image"), "{answer}");
}
