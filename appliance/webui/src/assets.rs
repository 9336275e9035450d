//! The page's files: compiled into the binary, or read from a directory while working on them.

use std::path::Path;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The file `name` (`index.html`, `app.js`, `app.css`) and its content type.
pub fn get(dir: Option<&Path>, name: &str) -> Option<(Vec<u8>, &'static str)> {
    let (compiled, kind) = match name {
        "index.html" => (INDEX, "text/html; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    match dir {
        Some(d) => std::fs::read(d.join(name)).ok().map(|b| (b, kind)),
        None => Some((compiled.as_bytes().to_vec(), kind)),
    }
}
