//! Paging that the list endpoints share: `skip`/`limit` and `file_type` read from the query,
//! pages cut where the next item would take the answer past Lambda's response limit, and the
//! `Link: <...>; rel="next"` (RFC 8288) that says where the next page starts.

use http::HeaderValue;
use http::header::{CONTENT_TYPE, LINK};
use lambda_http::{Body, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::extract::Input;
use crate::db::media::TypeFilter;
use crate::edge::EDGE_HEADER_BYTES;
use crate::error::ApiError;
use crate::payload;

/// The page of an event's lists (list-media, list-zones) when `limit` is not given, and the
/// largest `limit` they accept, as openapi.yaml documents both.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// `skip` and `limit` of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub skip: i64,
    pub limit: i64,
}

impl Window {
    /// `skip` (0 to i32::MAX, default 0) and `limit` (1 to `max_limit`, default
    /// `default_limit`) of the query.
    pub fn from_input(input: &Input, default_limit: i64, max_limit: i64) -> Result<Self, ApiError> {
        Ok(Self {
            skip: number(input, "skip", 0, 0..=i64::from(i32::MAX))?,
            limit: number(input, "limit", default_limit, 1..=max_limit)?,
        })
    }
}

/// `file_type`: an exact MIME type, or a prefix when it ends in `/` (`image/`).
pub fn type_filter(input: &Input) -> Result<TypeFilter, ApiError> {
    // Not trimmed: the OpenAPI pattern (`^[!-~]*$`) promises that a space is refused.
    Ok(match input.query("file_type")? {
        None | Some("") => TypeFilter::Any,
        Some(t) if t.len() > 255 || !t.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(ApiError::validation(
                &["query", "file_type"],
                "is not a MIME type",
            ));
        }
        Some(t) if t.ends_with('/') => TypeFilter::Prefix(t.to_ascii_lowercase()),
        Some(t) => TypeFilter::Exact(t.to_ascii_lowercase()),
    })
}

fn number(
    input: &Input,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    let Some(raw) = input.query(name)? else {
        return Ok(default);
    };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ApiError::validation(
                &["query", name],
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

/// How many leading items fit in `budget` bytes of response JSON, where each costs its
/// escaped length and a comma. At least one, so paging always moves on: a single item over
/// the limit is left to the edge's RESPONSE_TOO_LARGE.
pub fn items_within(items: &[String], budget: usize) -> usize {
    let mut used = 0;
    let fitting = items
        .iter()
        .take_while(|item| {
            used += payload::json_escaped_len(item) + 1;
            used <= budget
        })
        .count();
    fitting.max(1).min(items.len())
}

/// What is left of the response limit for the items of a page, once `frame` (the answer
/// with no item and the longest `Link` it can carry) and the edge's headers are counted.
pub fn budget(frame: &Response<Body>) -> usize {
    payload::RESPONSE_MAX_BYTES.saturating_sub(payload::response_size(frame) + EDGE_HEADER_BYTES)
}

/// `<{path}?skip=N&limit=L&file_type=T>; rel="next"`, with the request's own path and filter.
pub fn next_link(path: &str, window: Window, filter: &TypeFilter) -> String {
    let mut target = format!("{path}?skip={}&limit={}", window.skip, window.limit);
    if let TypeFilter::Exact(value) | TypeFilter::Prefix(value) = filter {
        target.push_str("&file_type=");
        target.extend(utf8_percent_encode(value, NON_ALPHANUMERIC));
    }
    format!("<{target}>; rel=\"next\"")
}

/// A 200 JSON answer with `body`, and `link` as its `Link` header when given.
pub fn json_page(body: String, link: Option<&str>) -> Response<Body> {
    let mut response = Response::builder()
        .status(200)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("static response parts are valid");
    if let Some(value) = link.and_then(|link| HeaderValue::from_str(link).ok()) {
        response.headers_mut().insert(LINK, value);
    }
    response
}
