//! The page's files: compiled into the binary, or read from a directory while working on them.
//!
//! The script is a set of JavaScript modules (`main.js` imports the others by relative paths,
//! no bundler); every one of them, and nothing else, is served under `/assets/`.

use std::path::Path;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

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
    asset!("main.js", JS),
    asset!("router.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("format.js", JS),
    asset!("forms.js", JS),
    asset!("signin.js", JS),
    asset!("dashboard.js", JS),
    asset!("files.js", JS),
    asset!("versions.js", JS),
    asset!("trash.js", JS),
    asset!("destinations.js", JS),
    asset!("users.js", JS),
    asset!("devices.js", JS),
    asset!("pair.js", JS),
    asset!("lan.js", JS),
    asset!("ssh.js", JS),
    asset!("system.js", JS),
];

/// The file `name` (one of [`ASSETS`], e.g. `index.html`, `main.js`) and its content type.
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
        let mut out = Vec::new();
        for lead in ["from ", "import ", "import("] {
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

    fn js_modules() -> impl Iterator<Item = (&'static str, &'static str)> {
        ASSETS
            .iter()
            .filter(|(_, _, kind)| *kind == JS)
            .map(|&(name, text, _)| (name, text))
    }

    #[test]
    fn every_import_names_a_served_module_and_every_module_is_reached_from_main() {
        let mut reached = BTreeSet::from(["main.js"]);
        let mut todo = vec!["main.js"];
        while let Some(name) = todo.pop() {
            let (_, text) = js_modules().find(|(n, _)| *n == name).unwrap();
            for spec in specifiers(text) {
                let target = spec.strip_prefix("./").unwrap_or_else(|| {
                    panic!("{name} imports {spec:?}: only ./<module>.js, served beside it")
                });
                let (_, kind) = get(None, target)
                    .unwrap_or_else(|| panic!("{name} imports {spec:?}, which is not served"));
                assert_eq!(kind, JS, "{name} imports {spec:?}, which is not a script");
                let target = ASSETS.iter().find(|(n, _, _)| *n == target).unwrap().0;
                if reached.insert(target) {
                    todo.push(target);
                }
            }
        }
        assert!(reached.len() > 1, "main.js imports nothing?");
        let all: BTreeSet<_> = js_modules().map(|(n, _)| n).collect();
        assert_eq!(reached, all, "modules no import reaches");
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
        let mut files = BTreeSet::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            files.insert(e.unwrap().file_name().into_string().unwrap());
        }
        let listed: BTreeSet<_> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
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
        ] {
            assert_eq!(get(None, name), None, "{name:?}");
            assert_eq!(get(Some(&dir), name), None, "{name:?}");
        }
    }
}
