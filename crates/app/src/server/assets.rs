//! The web viewer, embedded: `web/dist` as built by `npm run build` (index.html and its hashed
//! assets), served at `/` with the right content types. When the bundle was not built before
//! `cargo build`, `/` answers with a page saying how to build it, and everything else is 404.

use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct WebDist;

/// The page served at `/` when the binary was built without the web bundle.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tensor-trace: viewer not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:4em auto;padding:0 1em}
code,pre{background:#f2f2f2;padding:.1em .3em;border-radius:3px}pre{padding:.8em}</style></head>
<body><h1>The web viewer was not built into this binary</h1>
<p>This <code>tensor-trace</code> was compiled before the viewer bundle (<code>web/dist</code>)
existed, so there is nothing to show here. The API under <code>/api/</code> works.</p>
<p>From the repository root, build everything and start again with:</p>
<pre>make run</pre>
<p>or by hand:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ..
cargo run --release -p tensor-trace -- serve</pre>
</body></html>
"#;

/// True when the binary contains the viewer.
pub fn bundled() -> bool {
    WebDist::get("index.html").is_some()
}

/// Fallback handler: a file of the bundle, `index.html` for `/`, else 404.
pub async fn static_file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match WebDist::get(path) {
        Some(file) => {
            let cache = if path == "index.html" {
                "no-cache"
            } else if path.starts_with("assets/") {
                // Vite puts a content hash in every asset name.
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, file.metadata.mimetype().to_string()),
                    (header::CACHE_CONTROL, cache.to_string()),
                ],
                file.data,
            )
                .into_response()
        }
        None if path == "index.html" => Html(NOT_BUILT).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
