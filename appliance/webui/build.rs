//! Lists the page's bundle (`assets/dist/`, written by `ci/bundle-page`) for `src/assets.rs`:
//! its file names change with its content, so the table is made from the folder at build time.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut names: Vec<String> = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| panic!("reading {}: {e} (ci/bundle-page writes it)", dist.display()))
        .map(|e| {
            let e = e.unwrap_or_else(|e| panic!("reading {}: {e}", dist.display()));
            e.file_name()
                .into_string()
                .unwrap_or_else(|n| panic!("{}: a name that is not UTF-8: {n:?}", dist.display()))
        })
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for name in &names {
        assert!(
            name.ends_with(".js") && !name.contains(['"', '\\', '/']),
            "{}: {name:?} is not a bundled module",
            dist.display()
        );
        let path = dist.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        // Not the absolute path: the text of this file goes into the crate's hashes, and the
        // same commit built in another folder would give other bytes (image/check-reproducible).
        writeln!(
            out,
            "    (\"dist/{name}\", include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/assets/dist/{name}\"))),"
        )
        .unwrap();
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("dist.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
}
