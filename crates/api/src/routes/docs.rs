//! `/api-docs`: the OpenAPI document and the interactive Swagger UI page over it. The
//! page's assets are compiled in (utoipa-swagger-ui's vendored build), so it works with
//! no network, and they are served here rather than through the crate's own router so
//! that an unknown file answers the JSON 404 every other route does.

use crate::error::{ApiError, ErrorCode};
use crate::openapi;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::Config;

/// Where the document is served; the page loads it from there.
pub const DOCUMENT_PATH: &str = "/api-docs/openapi.json";
/// The page. It must end with a slash: its assets are linked relative to it.
pub const PAGE_PATH: &str = "/api-docs/";

/// Serialized once: the document is the same for the life of the process.
static DOCUMENT: LazyLock<Bytes> = LazyLock::new(|| {
    Bytes::from(serde_json::to_vec(&openapi::document()).expect("the document serializes"))
});

/// The Swagger page's policy: its own files only, as the event page's, except that its
/// style sheet uses `data:` images and its bundle injects one `<style>` element, allowed
/// by that element's hash (Swagger UI 5.17.14; a new bundle with another element shows
/// unstyled parts, and the browser's console names the new hash).
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::from(DOCUMENT_PATH)));

pub async fn document() -> Response {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.clone()).into_response()
}

pub async fn to_page() -> Redirect {
    Redirect::permanent(PAGE_PATH)
}

pub async fn page() -> Result<Response, ApiError> {
    file("index.html")
}

pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    file(&name)
}

fn file(name: &str) -> Result<Response, ApiError> {
    match utoipa_swagger_ui::serve(name, CONFIG.clone()) {
        Ok(Some(file)) => {
            let mut response =
                ([(CONTENT_TYPE, file.content_type)], file.bytes.into_owned()).into_response();
            crate::pages::add_browser_headers(response.headers_mut(), DOCS_CONTENT_SECURITY_POLICY);
            Ok(response)
        }
        Ok(None) => Err(ApiError::new(ErrorCode::NotFound, "no such file")),
        // Only the configuration's JSON can fail, and it is built from constants.
        Err(e) => {
            tracing::error!(error = %e, "the Swagger UI configuration does not serialize");
            Err(ApiError::new(ErrorCode::InternalError, "internal error"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_compiled_in() {
        for name in [
            "index.html",
            "swagger-ui.css",
            "swagger-ui-bundle.js",
            "swagger-initializer.js",
        ] {
            assert!(file(name).is_ok(), "{name}");
        }
        let init = utoipa_swagger_ui::serve("swagger-initializer.js", CONFIG.clone())
            .unwrap()
            .unwrap();
        let init = String::from_utf8(init.bytes.into_owned()).unwrap();
        assert!(init.contains(DOCUMENT_PATH), "{init}");
        assert_eq!(
            file("nope.js").unwrap_err().code,
            ErrorCode::NotFound,
            "an unknown file is the JSON 404"
        );
    }
}
