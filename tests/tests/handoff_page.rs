//! Several tablets and handing work on, on the page, in a real Chromium (`tests/web/handoff.mjs`)
//! with three browsers at once: ann's two paired tablets and bob's. ann's PDF follows her from
//! tablet 1 to tablet 2 at page 7; a video she sends to tablet 2 while it is off opens there, at
//! her moment in it, when it comes back; a folder she hands to bob is his, byte for byte, once he
//! accepts. Every screen is saved at tablet and phone size (`target/screenshots/handoff/`).

use std::path::{Path, PathBuf};

use microcloud_tests::page::{
    box_with_users, browser_tools, pair_tablet, run_browser_script, Client,
};
use microcloud_tests::{content_for, dav_mkcol, dav_put};
use reqwest::Method;
use serde_json::Value;

/// Where the video is paused before it is sent (seconds).
const SEEK: f64 = 7.5;

/// A PDF of `pages` pages written by hand (Helvetica, a line of text and a box on each page),
/// with a correct cross-reference table: what pdf.js reads with Range requests.
fn pdf(pages: usize) -> Vec<u8> {
    let mut objs: Vec<String> = vec![
        String::new(),
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        String::new(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    let mut kids = Vec::new();
    for i in 0..pages {
        let page = objs.len();
        kids.push(format!("{page} 0 R"));
        let text = format!(
            "BT /F1 48 Tf 72 700 Td (Page {}) Tj ET BT /F1 14 Tf 72 660 Td (of {pages}: a page made by hand for the test.) Tj ET 0.9 0.3 0.2 rg 72 {} 200 30 re f",
            i + 1,
            100 + i * 40
        );
        objs.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>", page + 1));
        objs.push(format!(
            "<< /Length {} >>\nstream\n{text}\nendstream",
            text.len()
        ));
    }
    objs[2] = format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    );
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = vec![0];
    for (n, o) in objs.iter().enumerate().skip(1) {
        offsets.push(out.len());
        out.extend_from_slice(format!("{n} 0 obj\n{o}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len()).as_bytes());
    for o in &offsets[1..] {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len()
        )
        .as_bytes(),
    );
    out
}

/// A 12-second WebM (VP8, a keyframe every second, so seeking lands where asked), kept in
/// `tests/web/fixtures/` (made once with `ffmpeg -f lavfi -i testsrc=duration=12:size=160x120:rate=25
/// -c:v libvpx -b:v 80k -g 25 clip.webm`).
fn video(_dir: &Path) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/fixtures/clip.webm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A file's bytes through the page's WebDAV (`/api/dav/`), as `c`'s session sees them.
async fn page_get(c: &Client, path: &str) -> (reqwest::StatusCode, Vec<u8>) {
    let r = c
        .request(Method::GET, &format!("/api/dav{path}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

/// Width and height of a PNG (its IHDR chunk), if it is one.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_continues_on_another_tablet_sends_to_an_offline_one_and_hands_a_folder_over() {
    let repo: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let (web, chromium) = browser_tools(&repo);
    let data = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (gw, _admin, mut users) = box_with_users(data.path(), &["ann", "bob"]).await;
    let mut bob = users.pop().unwrap();
    let mut ann = users.pop().unwrap();
    let (mut t1, _) = pair_tablet(&gw, &mut ann, "tablet-1").await;
    let (t2, _) = pair_tablet(&gw, &mut ann, "tablet-2").await;
    let (mut bt, _) = pair_tablet(&gw, &mut bob, "bob-tablet").await;

    // ann's files: the report, the video, and a folder with a sub-folder, content large enough
    // for blob files and small enough to sit in the catalog.
    let report = pdf(10);
    let http = reqwest::Client::new();
    dav_put(&http, &gw, "ann", "/report.pdf", &report).await;
    dav_put(&http, &gw, "ann", "/clip.webm", &video(scratch.path())).await;
    let folder: Vec<(&str, Vec<u8>)> = vec![
        ("plan.txt", b"the plan, in one line\n".to_vec()),
        ("notes.md", b"# Notes\n\nfor bob\n".to_vec()),
        ("drawing.bin", content_for("drawing", 300_000)),
        ("Sub/deep.bin", content_for("deep", 120_000)),
    ];
    dav_mkcol(&http, &gw, "ann", "/Projects").await;
    dav_mkcol(&http, &gw, "ann", "/Projects/Sub").await;
    for (name, body) in &folder {
        dav_put(&http, &gw, "ann", &format!("/Projects/{name}"), body).await;
    }

    let shots = repo.join("target/screenshots/handoff");
    let _ = std::fs::remove_dir_all(&shots);
    let url = format!("http://{}", gw.addr);
    let shots_dir = shots.display().to_string();
    let seek = SEEK.to_string();
    let (ok, stdout, stderr) = run_browser_script(
        &web,
        &chromium,
        "handoff.mjs",
        &[],
        &[
            ("MC_URL", url.as_str()),
            ("MC_T1_COOKIE", t1.cookie.as_deref().unwrap()),
            ("MC_T2_COOKIE", t2.cookie.as_deref().unwrap()),
            ("MC_BOB_COOKIE", bt.cookie.as_deref().unwrap()),
            ("MC_PDF", "/report.pdf"),
            ("MC_VIDEO", "/clip.webm"),
            ("MC_FOLDER", "/Projects"),
            ("MC_SEEK", seek.as_str()),
            ("MC_SCREENSHOTS", shots_dir.as_str()),
        ],
        240,
    )
    .await;
    println!("{stdout}{stderr}");
    assert!(ok, "the browser run failed (see above)");

    // The send counts as opened on tablet 2, at ann's moment in the video.
    let sent = t1.call(Method::GET, "/api/inbox", None).await.json()["sent"].clone();
    let send = sent
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mode"] == "open")
        .unwrap_or_else(|| panic!("no send among {sent}"));
    assert_eq!(
        (send["state"].as_str(), send["to"]["device"].as_str()),
        (Some("opened"), Some("tablet-2")),
        "{send}"
    );
    assert!(
        (send["view"]["time"].as_f64().unwrap() - SEEK).abs() < 0.5,
        "{send}"
    );

    // bob accepted the folder: the bytes are his now (and ann's copy is still hers).
    let received = bt.call(Method::GET, "/api/inbox", None).await.json()["received"].clone();
    let handed: &Value = received
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mode"] == "copy")
        .unwrap_or_else(|| panic!("bob received no hand-off: {received}"));
    assert_eq!(handed["state"], "accepted", "{handed}");
    let at = handed["result_path"].as_str().unwrap().to_owned();
    for (name, body) in &folder {
        let (status, got) = page_get(&bt, &format!("{at}/{name}")).await;
        assert_eq!(status, 200, "bob's {at}/{name}");
        assert_eq!(blake3::hash(&got), blake3::hash(body), "bob's {at}/{name}");
        let (status, got) = page_get(&t1, &format!("/Projects/{name}")).await;
        assert_eq!(
            (status, blake3::hash(&got)),
            (reqwest::StatusCode::OK, blake3::hash(body)),
            "ann's /Projects/{name}"
        );
    }

    // Every screen at both sizes, each a real picture of that size.
    println!("screenshots in {}", shots.display());
    for name in [
        "files",
        "pdf-page-7",
        "continue-banner",
        "continued-pdf",
        "send-dialog",
        "video-opened",
        "inbox-sent",
        "handoff-dialog",
        "inbox-received",
        "inbox-accepted",
        "bob-files",
    ] {
        for (size, dims) in [("tablet", (1024, 768)), ("phone", (390, 844))] {
            let f = shots.join(format!("{size}-{name}.png"));
            let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(png_size(&bytes), Some(dims), "{}", f.display());
            assert!(bytes.len() > 8 * 1024, "{} is nearly empty", f.display());
        }
    }
}
