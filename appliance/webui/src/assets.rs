//! The page's files: compiled into the binary, or read from a directory while working on them.
//!
//! The script is a set of JavaScript modules (`main.js` imports the others by relative paths,
//! no bundler); every one of them, and nothing else, is served under `/assets/`. Third-party code
//! the page uses is vendored under `assets/vendor/` (see its README: versions, licenses, hashes)
//! and served the same way, from `/assets/vendor/...`.

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

/// Every file of the page. A new module is one line here (the tests below check that each
/// file in `assets/` is listed and that every module's imports name one listed here).
const ASSETS: &[(&str, &str, &str)] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("boot.js", JS),
    asset!("main.js", JS),
    asset!("router.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("forms.js", JS),
    asset!("paths.js", JS),
    asset!("kinds.js", JS),
    asset!("dialog.js", JS),
    asset!("signin.js", JS),
    asset!("dashboard.js", JS),
    asset!("files.js", JS),
    asset!("filelist.js", JS),
    asset!("fileops.js", JS),
    asset!("versions.js", JS),
    asset!("trash.js", JS),
    asset!("viewer.js", JS),
    asset!("viewkinds.js", JS),
    asset!("pdfview.js", JS),
    asset!("open.js", JS),
    asset!("send.js", JS),
    asset!("inbox.js", JS),
    asset!("events.js", JS),
    asset!("workspace.js", JS),
    asset!("continue.js", JS),
    asset!("live.js", JS),
    asset!("destinations.js", JS),
    asset!("users.js", JS),
    asset!("devices.js", JS),
    asset!("pair.js", JS),
    asset!("lan.js", JS),
    asset!("ssh.js", JS),
    asset!("system.js", JS),
    // pdf.js, loaded by pdfview.js when a PDF is opened (its worker by URL).
    asset!("vendor/pdfjs/pdf.min.mjs", JS),
    asset!("vendor/pdfjs/pdf.worker.min.mjs", JS),
    asset!("vendor/pdfjs/LICENSE", TEXT),
];

/// Files in `assets/` that are documentation, not served.
#[cfg(test)]
const NOT_SERVED: &[&str] = &["vendor/README.md"];

/// The file `name` (one of [`ASSETS`], e.g. `index.html`, `main.js`,
/// `vendor/pdfjs/pdf.min.mjs`) and its content type. Only listed names are served, so no name
/// reaches outside the folder.
pub fn get(dir: Option<&Path>, name: &str) -> Option<(Vec<u8>, &'static str)> {
    let &(_, compiled, kind) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    match dir {
        Some(d) => std::fs::read(d.join(name)).ok().map(|b| (b, kind)),
        None => Some((compiled.as_bytes().to_vec(), kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The module specifiers in a script: `import … from '…'`, `export … from '…'`,
    /// `import '…'` and `import('…')`.
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

    /// Third-party code: served as it came, never scanned or changed by our rules.
    fn vendored(name: &str) -> bool {
        name.starts_with("vendor/")
    }

    /// The page's own modules.
    fn js_modules() -> impl Iterator<Item = (&'static str, &'static str)> {
        ASSETS
            .iter()
            .filter(|(name, _, kind)| *kind == JS && !vendored(name))
            .map(|&(name, text, _)| (name, text))
    }

    /// `spec` as imported by `from` (both under `assets/`): "./x.js" and "./vendor/y/z.mjs" only.
    fn resolve(from: &str, spec: &str) -> String {
        let rest = spec.strip_prefix("./").unwrap_or_else(|| {
            panic!("{from} imports {spec:?}: only ./<module>.js and ./vendor/..., served beside it")
        });
        assert!(
            !rest
                .split('/')
                .any(|s| s == ".." || s == "." || s.is_empty()),
            "{from} imports {spec:?}"
        );
        match from.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{rest}"),
            None => rest.to_owned(),
        }
    }

    #[test]
    fn every_import_names_a_served_module_and_every_module_is_reached_from_main() {
        // The page loads two modules: boot.js (imports nothing) and main.js.
        let mut reached = BTreeSet::from(["boot.js", "main.js"]);
        let mut todo = vec!["main.js"];
        while let Some(name) = todo.pop() {
            let (_, text) = js_modules().find(|(n, _)| *n == name).unwrap();
            for spec in specifiers(text) {
                let target = resolve(name, &spec);
                let (_, kind) = get(None, &target)
                    .unwrap_or_else(|| panic!("{name} imports {spec:?}, which is not served"));
                assert_eq!(kind, JS, "{name} imports {spec:?}, which is not a script");
                let target = ASSETS.iter().find(|(n, _, _)| *n == target).unwrap().0;
                // A vendored module is a leaf: its own imports are its business (pdf.js names
                // Node's modules for Node, which a browser never loads).
                if reached.insert(target) && !vendored(target) {
                    todo.push(target);
                }
            }
        }
        assert!(reached.len() > 1, "main.js imports nothing?");
        let ours: BTreeSet<_> = js_modules().map(|(n, _)| n).collect();
        assert_eq!(
            reached
                .iter()
                .filter(|n| !vendored(n))
                .copied()
                .collect::<BTreeSet<_>>(),
            ours,
            "modules no import reaches"
        );
        // Every vendored script is imported, or loaded by its address (pdf.js's worker).
        for &(name, _, _) in ASSETS.iter().filter(|(n, _, k)| vendored(n) && *k == JS) {
            let url = format!("/assets/{name}");
            assert!(
                reached.contains(name) || js_modules().any(|(_, text)| text.contains(&url)),
                "{name} is served but nothing loads it"
            );
        }
    }

    #[test]
    fn the_page_asks_at_once_for_the_modules_it_starts_with_and_for_no_other() {
        // Without a preload the browser finds the modules one import level at a time, and the
        // first rows of a folder wait for the deepest one; a preloaded page module that is
        // imported only when its page shows would be fetched for nothing.
        let mut start = BTreeSet::from(["main.js"]);
        let mut todo = vec!["main.js"];
        while let Some(name) = todo.pop() {
            let (_, text) = js_modules().find(|(n, _)| *n == name).unwrap();
            for spec in static_specifiers(text) {
                let target = resolve(name, &spec);
                let target = ASSETS.iter().find(|(n, _, _)| *n == target).unwrap().0;
                if !vendored(target) && start.insert(target) {
                    todo.push(target);
                }
            }
        }
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
        start.remove("main.js");
        assert_eq!(preloaded, start, "index.html's modulepreload links");
    }

    #[test]
    fn the_page_never_writes_markup_from_text_nor_makes_code() {
        // Names come from users and devices: they go into the page as text (dom.js's h()).
        for (name, text) in js_modules() {
            for banned in [
                ".innerHTML",
                ".outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute('style'",
            ] {
                assert!(!text.contains(banned), "{name} uses {banned}");
            }
        }
        // pdf.js makes no code either: the CSP has no 'unsafe-eval'.
        let (_, pdfview) = js_modules().find(|(n, _)| *n == "pdfview.js").unwrap();
        assert!(pdfview.contains("isEvalSupported: false"));
    }

    #[test]
    fn the_page_loads_main_as_a_module_and_names_only_served_files() {
        let (html, _) = get(None, "index.html").unwrap();
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains(r#"<script type="module" src="/assets/main.js"></script>"#));
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
        let mut listed: BTreeSet<_> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        listed.extend(NOT_SERVED.iter().map(|n| n.to_string()));
        assert_eq!(files, listed, "assets/ and the ASSETS table differ");
        for &(name, text, kind) in ASSETS {
            assert_eq!(
                get(Some(&dir), name),
                Some((text.as_bytes().to_vec(), kind))
            );
        }
    }

    #[test]
    fn unknown_names_are_not_served() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        for name in [
            "app.js",
            "nope.js",
            "",
            "../Cargo.toml",
            "./main.js",
            "main.js/",
            "vendor",
            "vendor/",
            "vendor/README.md",
            "vendor/pdfjs/../../main.js",
            "vendor//pdfjs/pdf.min.mjs",
            "/vendor/pdfjs/pdf.min.mjs",
        ] {
            assert_eq!(get(None, name), None, "{name:?}");
            assert_eq!(get(Some(&dir), name), None, "{name:?}");
        }
    }
}
