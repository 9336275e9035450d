//! The files page's first screen, in a real Chromium (`tests/web/firstrows.mjs`): on a fresh load
//! of a folder, the inline script draws its first rows from the two answers it asked for early,
//! before the page's modules run; the live list then takes their place. Checked: with the modules
//! held back, the first screen alone shows the folder's first rows; the live list's first rows
//! carry the same names in the same order, at the same place on screen (no jump), at tablet and
//! phone size; and the page logs no error (a refused inline script would be one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use microcloud_tests::dav_mkcol;
use microcloud_tests::page::{box_with_users, browser_tools};
use serde_json::Value;

/// Runs firstrows.mjs on `folder` and returns its JSON (failing the test if the run fails).
async fn first_rows(
    web: &Path,
    chromium: &str,
    url: &str,
    cookie: &str,
    folder: &str,
    extra: &[&str],
    viewport: &str,
) -> Value {
    let child = tokio::process::Command::new("node")
        .arg("firstrows.mjs")
        .arg(folder)
        .args(["--runs", "2"])
        .args(extra)
        .current_dir(web)
        .env("CHROMIUM", chromium)
        .env("MC_URL", url)
        .env("MC_COOKIE", cookie)
        .env("MC_VIEWPORT", viewport)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("the browser run ended within 180 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "firstrows.mjs {folder} {extra:?} at {viewport} failed:\n{stdout}{stderr}"
    );
    println!("{viewport} {extra:?}: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_load_shows_the_first_rows_before_the_modules_and_they_stay_in_place() {
    let repo: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let (web, chromium) = browser_tools(&repo);
    let data = tempfile::tempdir().unwrap();
    let (gw, _admin, users) = box_with_users(data.path(), &["ann"]).await;
    let ann = &users[0];
    let cookie = ann.cookie.clone().expect("ann's session");

    // A folder of 240 files and 3 folders, more than a screen and more than the first page of 200.
    let http = reqwest::Client::new();
    dav_mkcol(&http, &gw, "ann", "/Big").await;
    for d in ["Albums", "Bills", "Work notes"] {
        dav_mkcol(&http, &gw, "ann", &format!("/Big/{d}")).await;
    }
    let mut puts = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let http = http.clone();
        let url = gw.dav();
        puts.spawn(async move {
            for i in (chunk * 30)..(chunk * 30 + 30) {
                let r = http
                    .put(format!("{url}Big/file-{i:04}.txt"))
                    .basic_auth("ann", Some(microcloud_tests::PASSWORD))
                    .body(format!("file {i}\n"))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    r.status().is_success(),
                    "PUT file-{i:04}.txt: {}",
                    r.status()
                );
            }
        });
    }
    while let Some(r) = puts.join_next().await {
        r.unwrap();
    }
    let url = format!("http://{}", gw.addr);

    for viewport in ["1024x768", "390x844"] {
        // The modules held back: what shows first can only be the first screen's.
        let held = first_rows(
            &web,
            &chromium,
            &url,
            &cookie,
            "/Big",
            &["--hold-modules"],
            viewport,
        )
        .await;
        assert_eq!(held["total"], 243, "{held}");
        assert_eq!(
            held["first_from"],
            serde_json::json!(["first-screen", "first-screen"]),
            "{held}"
        );
        assert_eq!(
            held["names_disagree"], 0,
            "the first screen's names are the live list's: {held}"
        );
        assert_eq!(
            held["shift_px_max"], 0,
            "the live rows replace the first screen's in place: {held}"
        );
        assert_eq!(held["errors"], serde_json::json!([]), "{held}");

        // As it comes: whichever draws first, the rows agree and do not move.
        let free = first_rows(&web, &chromium, &url, &cookie, "/Big", &[], viewport).await;
        assert_eq!(free["total"], 243, "{free}");
        assert_eq!(free["names_disagree"], 0, "{free}");
        assert_eq!(free["shift_px_max"], 0, "{free}");
        assert_eq!(free["errors"], serde_json::json!([]), "{free}");
    }
}
