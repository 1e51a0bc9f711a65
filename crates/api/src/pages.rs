//! The pages people use: the event page and the admin console, one small single-page
//! app (`assets/`: HTML, a script, a style sheet, an icon) compiled into the binary, so
//! a node serves them with no files beside it and a browser loads nothing from
//! elsewhere (the page works offline). The app only calls the public API.
//!
//! Served with browser-grade headers: a Content-Security-Policy that allows this
//! origin's own files and nothing inline (an injected `<script>` or `onclick=` does not
//! run), `nosniff`, no referrer, and no framing (clickjacking). Each asset has an ETag
//! fixed at build time: a browser revalidates (`no-cache`) and gets 304 until the binary
//! changes.

use axum::Router;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The one document: everything the page needs comes from this origin, nothing runs
/// inline, and no other site may frame it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Paths of the pages and their assets (the page is one document; its views are
/// `#/…` fragments).
pub const INDEX_PATH: &str = "/";
pub const ASSETS_PREFIX: &str = "/assets/";

struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: &'static str,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {{
        const BODY: &str = include_str!(concat!("../assets/", $file));
        const ETAG: [u8; 18] = etag_of(BODY.as_bytes());
        Asset {
            body: BODY,
            content_type: $content_type,
            etag: match std::str::from_utf8(&ETAG) {
                Ok(s) => s,
                Err(_) => panic!("the ETag is ASCII"),
            },
        }
    }};
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
const SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
const STYLE: Asset = asset!("app.css", "text/css; charset=utf-8");
const ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// `"` + 16 hex digits of the content's FNV-1a hash + `"`: computed by the compiler, so
/// it changes exactly when an asset does.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut j = 0;
    while j < 16 {
        out[1 + j] = HEX[((hash >> (60 - 4 * j)) & 0xf) as usize];
        j += 1;
    }
    out
}

/// The pages' routes, to merge into the API's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            INDEX_PATH,
            get(|h: HeaderMap| async move { serve(&INDEX, &h) }),
        )
        .route(
            "/assets/app.js",
            get(|h: HeaderMap| async move { serve(&SCRIPT, &h) }),
        )
        .route(
            "/assets/app.css",
            get(|h: HeaderMap| async move { serve(&STYLE, &h) }),
        )
        .route(
            "/assets/icon.svg",
            get(|h: HeaderMap| async move { serve(&ICON, &h) }),
        )
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    add_browser_headers(headers, CONTENT_SECURITY_POLICY);
    response
}

/// The headers that keep a browser from running, sniffing, leaking or framing more
/// than the page means to.
pub fn add_browser_headers(headers: &mut HeaderMap, policy: &'static str) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_per_asset_and_are_quoted() {
        let tags = [INDEX.etag, SCRIPT.etag, STYLE.etag, ICON.etag];
        for tag in tags {
            assert_eq!(tag.len(), 18);
            assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        }
        let mut unique = tags.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), tags.len());
    }

    #[test]
    fn the_etag_follows_the_content() {
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"same"), etag_of(b"same"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_runs_nothing_inline() {
        for asset in [&INDEX, &SCRIPT, &STYLE, &ICON] {
            for needle in ["http://", "https://", "//cdn", "@import"] {
                // The SVG's XML namespace is a name, not a download.
                let body = asset
                    .body
                    .replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
                assert!(!body.contains(needle), "{needle} in {}", asset.content_type);
            }
        }
        // CSP forbids inline code: the document has no inline script, handler or style.
        for needle in ["<script>", " onclick=", " onload=", " style=", "<style"] {
            assert!(!INDEX.body.contains(needle), "{needle}");
        }
        // And the script never writes markup from strings (the API's data is text).
        for needle in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.body.contains(needle), "{needle}");
        }
    }

    #[test]
    fn tokens_never_go_to_storage() {
        // The script may remember where to go after logging in, never a token.
        assert!(!SCRIPT.body.contains("localStorage."));
        assert!(!SCRIPT.body.contains("document.cookie"));
        for line in SCRIPT
            .body
            .lines()
            .filter(|l| l.contains("sessionStorage.setItem"))
        {
            assert!(line.contains("'after-login'"), "{line}");
        }
    }

    #[test]
    fn the_place_ticket_is_kept_in_memory_and_sent_back_with_both_calls() {
        // Kept from QUEUED and from WAITING, like the tokens only in the script's memory
        // (the storage check above covers it too), and sent with the issue request and
        // the poll, so a server that lost its line can put the user back.
        for needle in [
            "place.ticket = r.data.placeTicket",
            "place.ticket = q.placeTicket",
            "headers['Place-Ticket'] = place.ticket",
            "{ 'Place-Ticket': place.ticket }",
        ] {
            assert!(SCRIPT.body.contains(needle), "{needle}");
        }
        assert!(!SCRIPT.body.contains("sessionStorage.setItem('place"));
    }
}
