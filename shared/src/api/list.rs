//! `GET /api/v1/events/{event_id}/media?file_type=&skip=&limit=`: the event's media, newest
//! first, with the total in `X-Total-Count`. A page holds at most `limit` items and stops
//! early where the next item would take the answer past Lambda's response limit (1000 items
//! at their field limits are ~55 MB); `Link: <...>; rel="next"` then says where to go on.

use lambda_http::{Body, Response};

use super::MediaJson;
use super::extract::{Input, OwnedEvent};
use super::paging::{self, Window};
use crate::db::media::{self, MediaRow, TypeFilter};
use crate::edge::ApiResult;
use crate::error::ApiError;
use crate::preview_link::PreviewLinks;

#[tracing::instrument(skip_all)]
pub async fn handle(event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        event_id,
        client,
        shape,
        links,
        ..
    } = event;
    let query = ListQuery::from_input(&input)?;
    let (rows, total) = media::list(
        &client,
        shape,
        event_id,
        &query.filter,
        query.skip,
        query.limit,
    )
    .await?;
    Ok(page_response(input.path(), &query, rows, total, &links))
}

/// The leading rows that fit one answer, as a JSON array, with `X-Total-Count` and, when rows
/// follow, a `Link` to the next page that starts right after the last item sent.
fn page_response(
    path: &str,
    query: &ListQuery,
    rows: Vec<MediaRow>,
    total: i64,
    links: &PreviewLinks,
) -> Response<Body> {
    let items: Vec<String> = rows
        .into_iter()
        .map(|row| {
            serde_json::to_string(&MediaJson::new(row, links)).expect("media JSON serializes")
        })
        .collect();
    // The link is sized for the largest skip it can name, so the real one never needs more.
    let longest_link = next_link(path, query, query.skip + items.len() as i64);
    let budget = paging::budget(&page(String::from("[]"), total, Some(&longest_link)));
    let taken = paging::items_within(&items, budget);
    let next_skip = query.skip + taken as i64;
    let link = (next_skip < total).then(|| next_link(path, query, next_skip));
    page(
        format!("[{}]", items[..taken].join(",")),
        total,
        link.as_deref(),
    )
}

fn page(body: String, total: i64, link: Option<&str>) -> Response<Body> {
    let mut response = paging::json_page(body, link);
    response.headers_mut().insert("x-total-count", total.into());
    response
}

/// `</api/v1/events/{id}/media?skip=N&limit=L&file_type=T>; rel="next"` (RFC 8288), with the
/// request's own path and filter.
fn next_link(path: &str, query: &ListQuery, skip: i64) -> String {
    let window = Window {
        skip,
        limit: query.limit,
    };
    paging::next_link(path, window, &query.filter)
}

#[derive(Debug, PartialEq, Eq)]
struct ListQuery {
    filter: TypeFilter,
    skip: i64,
    limit: i64,
}

impl ListQuery {
    fn from_input(input: &Input) -> Result<Self, ApiError> {
        let Window { skip, limit } =
            Window::from_input(input, paging::DEFAULT_LIMIT, paging::MAX_LIMIT)?;
        Ok(Self {
            filter: paging::type_filter(input)?,
            skip,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::EDGE_HEADER_BYTES;
    use crate::payload;
    use http::header::LINK;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> Result<ListQuery, ApiError> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        let request = lambda_http::Request::default().with_query_string_parameters(map);
        ListQuery::from_input(&Input::unchecked(request))
    }

    /// A row with every field at its own limit, in the characters that grow most on the way
    /// out: `"` is 2 bytes in the body and 4 in Lambda's response JSON (`\\\"`), so is an emoji.
    fn largest_row(n: u32) -> MediaRow {
        let created_at =
            chrono::DateTime::from_timestamp(1_700_000_000 - i64::from(n), 999_999_000).unwrap();
        MediaRow {
            id: uuid::Uuid::from_u128(u128::from(n)),
            event_id: uuid::Uuid::nil(),
            title: Some("😀".repeat(crate::api::upload_form::MAX_TITLE_CHARS)),
            description: Some("\"".repeat(crate::api::upload_form::MAX_DESCRIPTION_CHARS)),
            file_url: "\"".repeat(512),
            s3_key: Some("\"".repeat(512)),
            file_type: "\"".repeat(255),
            file_size: Some(i32::MAX),
            tags: Some(
                vec![
                    "\"".repeat(crate::api::upload_form::MAX_TAG_CHARS);
                    crate::api::upload_form::MAX_TAGS
                ]
                .join(", "),
            ),
            original_filename: Some("\"".repeat(255)),
            created_at,
            updated_at: Some(created_at),
            batch_id: Some(uuid::Uuid::max()),
            width: Some(i32::MIN),
            height: Some(i32::MIN),
            duration_ms: Some(i64::MIN),
        }
    }

    /// Preview links on the longest origin a request can give them (a 255-character `Host`).
    fn links() -> PreviewLinks {
        let key = secrecy::SecretString::from("k".repeat(32));
        let signer = crate::preview_link::PreviewSigner::new(&key).unwrap();
        let origin = format!("https://{}", "h".repeat(255));
        PreviewLinks::new(Some(std::sync::Arc::new(signer)), origin, 1_800_000_000)
    }

    fn item_cost(row: MediaRow) -> usize {
        let json = serde_json::to_string(&MediaJson::new(row, &links())).unwrap();
        payload::json_escaped_len(&json) + 1
    }

    #[test]
    fn the_largest_image_costs_less_than_the_largest_item() {
        // An image's previews (two URLs of ~390 characters on the longest origin) weigh less
        // than the 245 characters its short file_type saves at 4 bytes each.
        let mut image = largest_row(1);
        image.file_type = "image/jpeg".to_owned();
        assert!(item_cost(image) < item_cost(largest_row(1)));
    }

    #[test]
    fn the_largest_item_costs_59_6_kb_so_1000_cannot_share_an_answer() {
        // In Lambda's response JSON each of these characters costs 4 bytes:
        //   title 256 × 4 = 1,024; description 10,000 × 4 = 40,000;
        //   tags 50 × (64 × 4 + 4 for the escaped quotes + 1 comma) = 13,050;
        //   file_url 512 × 4 + s3_key 512 × 4 + file_type 255 × 4 = 5,116;
        //   ids, size, dates, field names and the comma: 377 (each `"` of the JSON is 2 bytes);
        //   width, height and duration_ms at their longest (i32::MIN, i64::MIN) with their
        //   names: 22 + 23 + 37 = 82;
        //   `,"previews":null` (not an image): 18.
        // 59,667 bytes, so 6,291,556 / 59,667 = 105 items per answer at worst, while the 1000
        // items `limit` allows would be ~59.5 MB: pages are cut by size, not only by count.
        let cost = item_cost(largest_row(1));
        assert_eq!(cost, 1_024 + 40_000 + 13_050 + 5_116 + 377 + 82 + 18);
        assert!(1000 * cost > payload::RESPONSE_MAX_BYTES);
        assert!(payload::RESPONSE_MAX_BYTES / cost >= 100);
    }

    #[test]
    fn a_page_of_the_largest_items_stops_where_the_next_would_not_fit() {
        let rows: Vec<MediaRow> = (0..1000).map(largest_row).collect();
        let query = ListQuery {
            filter: TypeFilter::Prefix("image/".into()),
            skip: 7,
            limit: 1000,
        };
        let path = "/api/v1/events/e/media";
        let response = page_response(path, &query, rows, 1007, &links());
        let size = payload::response_size(&response) + EDGE_HEADER_BYTES;
        assert!(size <= payload::RESPONSE_MAX_BYTES, "{size}");
        assert!(size + item_cost(largest_row(0)) > payload::RESPONSE_MAX_BYTES);
        let Body::Text(body) = response.body() else {
            panic!("JSON is text")
        };
        let sent = serde_json::from_str::<Vec<serde_json::Value>>(body)
            .unwrap()
            .len();
        assert!((100..1000).contains(&sent), "{sent}");
        assert_eq!(
            response.headers()[LINK],
            format!(
                "<{path}?skip={}&limit=1000&file_type=image%2F>; rel=\"next\"",
                7 + sent
            )
        );
    }

    #[test]
    fn the_last_page_has_no_next_link() {
        let rows: Vec<MediaRow> = (0..3).map(largest_row).collect();
        let query = query(&[("skip", "2")]).unwrap();
        let response = page_response("/p", &query, rows, 5, &links());
        assert!(!response.headers().contains_key(LINK));
        assert_eq!(response.headers()["x-total-count"], "5");
        let rows: Vec<MediaRow> = (0..3).map(largest_row).collect();
        let response = page_response("/p", &query, rows, 6, &links());
        assert_eq!(
            response.headers()[LINK],
            "</p?skip=5&limit=100>; rel=\"next\""
        );
    }

    #[test]
    fn defaults_are_skip_0_and_limit_100() {
        let q = query(&[]).unwrap();
        assert_eq!((q.skip, q.limit, q.filter), (0, 100, TypeFilter::Any));
    }

    #[test]
    fn a_trailing_slash_filters_by_prefix() {
        assert_eq!(
            query(&[("file_type", "image/")]).unwrap().filter,
            TypeFilter::Prefix("image/".into())
        );
        assert_eq!(
            query(&[("file_type", "image/JPEG")]).unwrap().filter,
            TypeFilter::Exact("image/jpeg".into())
        );
    }

    #[test]
    fn a_file_type_with_spaces_or_non_ascii_is_refused() {
        for value in [
            " image/png",
            "image/png ",
            "image /png",
            "\u{a0}image/",
            "imagé/",
        ] {
            let err = query(&[("file_type", value)]).unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR", "{value:?}");
        }
    }

    #[test]
    fn out_of_range_or_repeated_numbers_are_refused() {
        for pairs in [
            vec![("skip", "-1")],
            vec![("limit", "0")],
            vec![("limit", "1001")],
            vec![("limit", "ten")],
            vec![("limit", "99999999999999999999999")],
            vec![("skip", "1"), ("skip", "2")],
        ] {
            let err = query(&pairs).unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR", "{pairs:?}");
        }
        assert_eq!(query(&[("limit", "1000")]).unwrap().limit, 1000);
    }
}
