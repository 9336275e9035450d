//! The page's files: compiled into the binary, or read from a directory while working on them.
//!
//! The page's script is written as JavaScript modules in `page/` and served as their bundle,
//! `assets/dist/` (made by `ci/bundle-page` with esbuild and committed, so that building needs
//! no Node): one file for the first screen with the chunks it shares, and one per page loaded
//! later. Every file of `assets/` but documentation is served under `/assets/`, and nothing
//! else. Third-party code the page uses is vendored under `assets/vendor/` (see its README:
//! versions, licenses, hashes) and served as it came, from `/assets/vendor/...`.

use std::path::Path;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// One served file: its name under `assets/`, its compiled-in text, its content type.
macro_rules! asset {
    ($name:literal, $kind:expr) => {
        ($name, include_str!(concat!("../assets/", $name)), $kind)
    };
}

/// The page's files but its bundle.
const ASSETS: &[(&str, &str, &str)] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    // pdf.js, loaded by the viewer when a PDF is opened (its worker by URL).
    asset!("vendor/pdfjs/pdf.min.mjs", JS),
    asset!("vendor/pdfjs/pdf.worker.min.mjs", JS),
    asset!("vendor/pdfjs/LICENSE", TEXT),
];

/// The bundle: `dist/<name>.js` and its text, listed by `build.rs` from `assets/dist/`.
const DIST: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/dist.rs"));

/// Files in `assets/` that are documentation, not served.
#[cfg(test)]
const NOT_SERVED: &[&str] = &["vendor/README.md"];

/// Every served file: name, compiled-in text, content type.
fn served() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    ASSETS
        .iter()
        .copied()
        .chain(DIST.iter().map(|&(name, text)| (name, text, JS)))
}

/// The file `name` (e.g. `index.html`, `dist/main.js`, `vendor/pdfjs/pdf.min.mjs`) and its
/// content type. Only listed names are served, so no name reaches outside the folder.
pub fn get(dir: Option<&Path>, name: &str) -> Option<(Vec<u8>, &'static str)> {
    let (_, compiled, kind) = served().find(|(n, _, _)| *n == name)?;
    match dir {
        Some(d) => std::fs::read(d.join(name)).ok().map(|b| (b, kind)),
        None => Some((compiled.as_bytes().to_vec(), kind)),
    }
}

/// The base64 SHA-256 of each inline `<script>` of `html` (one without `src`), as a
/// Content-Security-Policy names it (`'sha256-…'`): the text between the tags, byte for byte.
pub fn inline_script_hashes(html: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let html = String::from_utf8_lossy(html);
    let mut out = Vec::new();
    let mut rest = &*html;
    while let Some(i) = rest.find("<script") {
        rest = &rest[i..];
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let tag = &rest[..open_end];
        rest = &rest[open_end + 1..];
        let Some(close) = rest.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = sha2::Sha256::digest(&rest.as_bytes()[..close]);
            out.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        rest = &rest[close..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The module specifiers in a script: `import … from '…'`, `} from "…"`, `import '…'` and
    /// `import('…')`.
    fn specifiers(js: &str) -> Vec<String> {
        let mut out = static_specifiers(js);
        out.extend(specifiers_after(js, &["import("]));
        out
    }

    /// Those the browser fetches before the script runs (not `import('…')`, fetched when run).
    fn static_specifiers(js: &str) -> Vec<String> {
        specifiers_after(js, &["from ", "import "])
    }

    fn specifiers_after(js: &str, leads: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for lead in leads {
            let mut rest = js;
            while let Some(i) = rest.find(lead) {
                rest = &rest[i + lead.len()..];
                let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                    continue;
                };
                if let Some(end) = rest[1..].find(q) {
                    out.push(rest[1..1 + end].to_string());
                }
            }
        }
        out
    }

    /// `spec` as imported by the bundled module `from` (under `dist/`): `./x.js` beside it, or
    /// `/assets/...` (the vendored code).
    fn resolve(from: &str, spec: &str) -> String {
        if let Some(rest) = spec.strip_prefix("/assets/") {
            return rest.to_owned();
        }
        let rest = spec.strip_prefix("./").unwrap_or_else(|| {
            panic!("{from} imports {spec:?}: only ./<module>.js and /assets/...")
        });
        assert!(
            !rest.contains('/') && !rest.is_empty(),
            "{from} imports {spec:?}"
        );
        format!("dist/{rest}")
    }

    fn source_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("page")
    }

    /// The page's modules as written (`page/*.js`): name and text.
    fn sources() -> Vec<(String, String)> {
        let mut out: Vec<_> = std::fs::read_dir(source_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".js"))
            .map(|n| {
                let text = std::fs::read_to_string(source_dir().join(&n)).unwrap();
                (n, text)
            })
            .collect();
        out.sort();
        assert!(out.len() > 10, "page/ holds {} modules?", out.len());
        out
    }

    /// The bundled modules reached from `start` by static imports only (`start` included).
    fn static_closure(start: &str) -> BTreeSet<&'static str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_owned()];
        while let Some(name) = todo.pop() {
            let (name, text) = *DIST.iter().find(|(n, _)| *n == name).unwrap();
            if !seen.insert(name) {
                continue;
            }
            for spec in static_specifiers(text) {
                let target = resolve(name, &spec);
                if target.starts_with("dist/") {
                    todo.push(target);
                }
            }
        }
        seen
    }

    #[test]
    fn every_import_in_the_bundle_names_a_served_script_and_every_file_is_reached() {
        // The page loads one module, dist/main.js (and boot.js is inline in index.html).
        let mut reached = BTreeSet::from(["dist/main.js"]);
        let mut todo = vec!["dist/main.js"];
        while let Some(name) = todo.pop() {
            let (_, text) = DIST.iter().find(|(n, _)| *n == name).unwrap();
            for spec in specifiers(text) {
                let target = resolve(name, &spec);
                let (_, kind) = get(None, &target)
                    .unwrap_or_else(|| panic!("{name} imports {spec:?}, which is not served"));
                assert_eq!(kind, JS, "{name} imports {spec:?}, which is not a script");
                let target = served().find(|(n, _, _)| *n == target).unwrap().0;
                // A vendored module is a leaf: its own imports are its business (pdf.js names
                // Node's modules for Node, which a browser never loads).
                if reached.insert(target) && target.starts_with("dist/") {
                    todo.push(target);
                }
            }
        }
        let bundle: BTreeSet<_> = DIST.iter().map(|(n, _)| *n).collect();
        assert!(bundle.len() > 2, "the bundle has {} files", bundle.len());
        assert_eq!(
            reached
                .iter()
                .filter(|n| n.starts_with("dist/"))
                .copied()
                .collect::<BTreeSet<_>>(),
            bundle,
            "bundled files no import reaches"
        );
        // Every vendored script is imported, or loaded by its address (pdf.js's worker).
        for (name, _, _) in served().filter(|(n, _, k)| n.starts_with("vendor/") && *k == JS) {
            let url = format!("/assets/{name}");
            assert!(
                reached.contains(name) || DIST.iter().any(|(_, text)| text.contains(&url)),
                "{name} is served but nothing loads it"
            );
        }
    }

    #[test]
    fn every_module_of_the_page_is_in_the_bundle_once() {
        // esbuild marks each module it bundles with a `// <name>` line: a module written in
        // page/ but missing from the bundle is one the bundle predates.
        let (html, _) = get(None, "index.html").unwrap();
        let html = String::from_utf8(html).unwrap();
        let marks = |text: &str, mark: &str| text.lines().filter(|l| l.trim() == mark).count();
        for (name, _) in sources() {
            let mark = format!("// {name}");
            let mut count: usize = DIST.iter().map(|(_, text)| marks(text, &mark)).sum();
            count += marks(&html, &mark);
            assert_eq!(
                count, 1,
                "page/{name} is in the bundle {count} times (run ci/bundle-page)"
            );
        }
    }

    #[test]
    fn the_page_asks_at_once_for_the_modules_it_starts_with_and_for_no_other() {
        // Without a preload the browser finds the modules one import level at a time, and the
        // first rows of a folder wait for the deepest one; a preloaded module that only a later
        // page imports would be fetched for nothing.
        let mut start = static_closure("dist/main.js");
        start.remove("dist/main.js");
        let (html, _) = get(None, "index.html").unwrap();
        let html = String::from_utf8(html).unwrap();
        let lead = r#"<link rel="modulepreload" href="/assets/"#;
        let preloaded: BTreeSet<&str> = html
            .match_indices(lead)
            .map(|(i, _)| {
                let rest = &html[i + lead.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        assert_eq!(preloaded, start, "index.html's modulepreload links");
    }

    #[test]
    fn the_page_never_writes_markup_from_text_nor_makes_code() {
        // Names come from users and devices: they go into the page as text (dom.js's h()).
        let bundle = DIST.iter().map(|&(n, t)| (n.to_owned(), t.to_owned()));
        for (name, text) in sources().into_iter().chain(bundle) {
            for banned in [
                ".innerHTML",
                ".outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute('style'",
                "setAttribute(\"style\"",
            ] {
                assert!(!text.contains(banned), "{name} uses {banned}");
            }
        }
        // pdf.js makes no code either: the CSP has no 'unsafe-eval'.
        let (_, pdfview) = sources()
            .into_iter()
            .find(|(n, _)| n == "pdfview.js")
            .unwrap();
        assert!(pdfview.contains("isEvalSupported: false"));
    }

    #[test]
    fn the_page_loads_its_module_runs_boot_inline_and_names_only_served_files() {
        let (html, _) = get(None, "index.html").unwrap();
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains(r#"<script type="module" src="/assets/dist/main.js"></script>"#));
        // One inline script, boot.js, before the stylesheet (an inline script after it would
        // wait for it).
        assert_eq!(inline_script_hashes(html.as_bytes()).len(), 1);
        let boot = html
            .find("<script>\n(() => {\n  // boot.js\n")
            .expect("boot.js inline");
        assert!(boot < html.find("rel=\"stylesheet\"").unwrap());
        let mut rest = html.as_str();
        while let Some(i) = rest.find("/assets/") {
            rest = &rest[i + "/assets/".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(get(None, name).is_some(), "index.html names {name}");
        }
    }

    #[test]
    fn every_file_in_the_folder_is_listed_and_the_folder_serves_the_same_bytes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        fn walk(root: &Path, sub: &str, out: &mut BTreeSet<String>) {
            for e in std::fs::read_dir(root.join(sub)).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let rel = if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                };
                if e.file_type().unwrap().is_dir() {
                    walk(root, &rel, out);
                } else {
                    out.insert(rel);
                }
            }
        }
        let mut files = BTreeSet::new();
        walk(&dir, "", &mut files);
        let mut listed: BTreeSet<_> = served().map(|(n, _, _)| n.to_string()).collect();
        listed.extend(NOT_SERVED.iter().map(|n| n.to_string()));
        assert_eq!(files, listed, "assets/ and the served files differ");
        for (name, text, kind) in served() {
            assert_eq!(
                get(Some(&dir), name),
                Some((text.as_bytes().to_vec(), kind))
            );
        }
    }

    #[test]
    fn inline_scripts_are_hashed_as_a_content_security_policy_names_them() {
        // SHA-256 of nothing, and of "alert(1)" (the hashes CSP's documentation shows).
        assert_eq!(
            inline_script_hashes(b"<p><script></script><script src=\"/a.js\"></script>"),
            ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]
        );
        assert_eq!(
            inline_script_hashes(b"<script type=\"module\">alert(1)</script><script>"),
            ["bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI="]
        );
        assert!(inline_script_hashes(b"<script src=/x.js></script>").is_empty());
    }

    #[test]
    fn unknown_names_are_not_served() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        for name in [
            "app.js",
            "nope.js",
            "main.js",
            "",
            "../Cargo.toml",
            "./dist/main.js",
            "dist/main.js/",
            "dist",
            "dist/",
            "dist/../index.html",
            "../page/main.js",
            "vendor",
            "vendor/",
            "vendor/README.md",
            "vendor/pdfjs/../../index.html",
            "vendor//pdfjs/pdf.min.mjs",
            "/vendor/pdfjs/pdf.min.mjs",
        ] {
            assert_eq!(get(None, name), None, "{name:?}");
            assert_eq!(get(Some(&dir), name), None, "{name:?}");
        }
    }
}
