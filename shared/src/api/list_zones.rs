//! `GET /api/v1/events/{event_id}/media/grouped?file_type=&skip=&limit=`: the event's media
//! grouped by zone (album), as The Plugs answers it: `{zones, total_zones, total_files}`.
//!
//! A zone is listed when it is live and holds at least one live file of the `file_type`
//! filter (the syntax of list-media); `file_count`, `total_zones` and `total_files` count what
//! the filter matches. Zones come newest first, their files oldest first. Two bounds keep the
//! answer under Lambda's response limit: each zone lists at most [`FILES_PER_ZONE`] files
//! (`file_count` still counts them all; GET on the zone pages through the rest), and a page
//! stops early where the next zone would not fit, with a `Link` to the next page.

use lambda_http::{Body, Response};

use super::extract::{Input, OwnedEvent};
use super::paging::{self, Window};
use super::zone_json::ZoneJson;
use crate::db::media::TypeFilter;
use crate::db::zones::{self, ZonePage};
use crate::edge::ApiResult;

/// The most files one zone lists in the grouped answer.
pub const FILES_PER_ZONE: i64 = 100;

#[tracing::instrument(skip_all)]
pub async fn handle(event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        event_id,
        client,
        shape,
        ..
    } = event;
    let window = Window::from_input(&input, paging::DEFAULT_LIMIT, paging::MAX_LIMIT)?;
    let filter = paging::type_filter(&input)?;
    let page = zones::list(
        &client,
        shape,
        event_id,
        &filter.like_pattern(),
        window.skip,
        window.limit,
        FILES_PER_ZONE,
    )
    .await?;
    Ok(page_response(input.path(), window, &filter, page))
}

/// The leading zones that fit one answer, and, when zones follow, a `Link` to the next page
/// that starts right after the last zone sent.
fn page_response(
    path: &str,
    window: Window,
    filter: &TypeFilter,
    page: ZonePage,
) -> Response<Body> {
    let ZonePage {
        zones,
        total_zones,
        total_files,
    } = page;
    let items: Vec<String> = zones
        .into_iter()
        .map(|z| ZoneJson::new(z.zone, z.file_count, z.files))
        .map(|zone| serde_json::to_string(&zone).expect("zone JSON serializes"))
        .collect();
    let at = |skip: i64| Window {
        skip,
        limit: window.limit,
    };
    // The link is sized for the largest skip it can name, so the real one never needs more.
    let longest_link = paging::next_link(path, at(window.skip + items.len() as i64), filter);
    let frame = body(&[], total_zones, total_files);
    let budget = paging::budget(&paging::json_page(frame, Some(&longest_link)));
    let taken = paging::items_within(&items, budget);
    let next_skip = window.skip + taken as i64;
    let link = (next_skip < total_zones).then(|| paging::next_link(path, at(next_skip), filter));
    paging::json_page(
        body(&items[..taken], total_zones, total_files),
        link.as_deref(),
    )
}

fn body(zones: &[String], total_zones: i64, total_files: i64) -> String {
    format!(
        "{{\"zones\":[{}],\"total_zones\":{total_zones},\"total_files\":{total_files}}}",
        zones.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::zone_json::tests::largest_zone;
    use crate::db::zones::{ZoneFile, ZoneRow, ZoneWithFiles};
    use crate::edge::EDGE_HEADER_BYTES;
    use crate::payload;
    use http::header::LINK;

    /// The largest zone the list can send, as the database would hand it over.
    fn largest(n: u32) -> ZoneWithFiles {
        let json = largest_zone(n, FILES_PER_ZONE as usize);
        ZoneWithFiles {
            zone: ZoneRow {
                id: json.zone_id,
                event_id: uuid::Uuid::nil(),
                title: json.title,
                description: json.description,
                tags: Some(json.tags.join(", ")),
                created_at: json.created_at,
                updated_at: Some(json.updated_at),
            },
            file_count: i64::MAX,
            files: json
                .media_files
                .into_iter()
                .map(|f| ZoneFile {
                    id: f.id,
                    file_url: f.file_url,
                })
                .collect(),
        }
    }

    #[test]
    fn a_page_of_the_largest_zones_stops_where_the_next_would_not_fit() {
        let zones: Vec<ZoneWithFiles> = (0..1000).map(largest).collect();
        let page = ZonePage {
            zones,
            total_zones: 1003,
            total_files: i64::MAX,
        };
        let window = Window {
            skip: 3,
            limit: 1000,
        };
        let path = "/api/v1/events/e/media/grouped";
        let filter = TypeFilter::Prefix("image/".into());
        let response = page_response(path, window, &filter, page);
        let size = payload::response_size(&response) + EDGE_HEADER_BYTES;
        assert!(size <= payload::RESPONSE_MAX_BYTES, "{size}");
        let one =
            serde_json::to_string(&ZoneJson::new(largest(0).zone, i64::MAX, largest(0).files))
                .unwrap();
        assert!(size + payload::json_escaped_len(&one) + 1 > payload::RESPONSE_MAX_BYTES);
        let Body::Text(text) = response.body() else {
            panic!("JSON is text")
        };
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let sent = json["zones"].as_array().unwrap().len();
        assert!((10..1000).contains(&sent), "{sent}");
        assert_eq!(json["total_zones"], 1003);
        assert_eq!(
            response.headers()[LINK],
            format!(
                "<{path}?skip={}&limit=1000&file_type=image%2F>; rel=\"next\"",
                3 + sent
            )
        );
    }

    #[test]
    fn the_last_page_has_no_next_link_and_an_empty_page_keeps_the_totals() {
        let page = ZonePage {
            zones: vec![],
            total_zones: 2,
            total_files: 5,
        };
        let window = Window { skip: 10, limit: 5 };
        let response = page_response("/p", window, &TypeFilter::Any, page);
        assert!(!response.headers().contains_key(LINK));
        let Body::Text(text) = response.body() else {
            panic!("JSON is text")
        };
        assert_eq!(text, "{\"zones\":[],\"total_zones\":2,\"total_files\":5}");
    }
}
