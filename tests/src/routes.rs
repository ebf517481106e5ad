//! The REST routes the function crates declare, read from their source: the one list the
//! SAM template and the OpenAPI document are both checked against.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
}

/// `{anything}` path parameters written as `{}`, and no trailing slash (API Gateway resources
/// cannot end in one; the code also answers the slashed spelling the old frontend used).
pub fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.trim_end_matches('/').chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            c => out.push(c),
        }
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `.route("PATH", get(..).post(..))` in the function crates, as (METHOD, path).
pub fn code_routes() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("functions"), &mut files);
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            // The call's text, up to its balanced closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("balanced .route(...)");
            let call = &rest[..end];
            let path = call.split('"').nth(1).expect("a path literal");
            for method in ["get", "post", "put", "patch", "delete"] {
                let needle = format!("{method}(");
                let found = call.match_indices(&needle).any(|(i, _)| {
                    i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if found {
                    routes.insert((method.to_uppercase(), normalize(path)));
                }
            }
        }
    }
    routes
}
