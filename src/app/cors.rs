//! CORS for the partner frontends: pages of the configured origins
//! (`PERMANENCE_CORS_ORIGINS`) may call `/graphql` and `/export/…` from a browser.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//! by the layer itself, before authentication. For an allowed origin, responses carry
//! `Access-Control-Allow-Origin` with that origin; for any other, they carry none, and the
//! browser keeps the page from reading them. No credentials are allowed: requests carry
//! their bearer token in `Authorization`, not in cookies. With no origins configured there
//! is no layer and no CORS header at all.
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;

/// How long a browser may cache a preflight answer (browsers cap it: Chromium at 2 hours).
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// The request headers a page may send: the token, the body's type, the response types it
/// accepts, a request id of its own, and those Apollo Client sends (its client name and
/// version, and the header Apollo's CSRF prevention asks for).
const ALLOWED_HEADERS: [HeaderName; 7] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("apollographql-client-name"),
    HeaderName::from_static("apollographql-client-version"),
    HeaderName::from_static("apollo-require-preflight"),
];

/// The response headers a page may read besides the safelisted ones: the request id (to
/// quote to support), how long to wait before retrying, and the CSV file's name.
const EXPOSED_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-request-id"),
    header::RETRY_AFTER,
    header::CONTENT_DISPOSITION,
];

/// The CORS layer for `origins`; `None` when no origin is configured.
pub fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .allow_credentials(false)
            .max_age(MAX_AGE),
    )
}
