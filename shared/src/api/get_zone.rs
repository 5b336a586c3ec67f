//! `GET /api/v1/events/{event_id}/media/zones/{zone_id}?skip=&limit=`: one zone (album) in the
//! shape of the grouped list. Its files, oldest first, come [`MAX_FILES`] at a time at most
//! (`skip`/`limit` page through them, with a `Link` to the next page): at their field limits
//! 1000 files take ~2.2 MB of the 6 MB a Lambda answer may hold, so any zone fits.

use super::extract::{Input, OwnedZone};
use super::paging::{self, Window};
use super::zone_json::ZoneJson;
use crate::db::media::TypeFilter;
use crate::db::zones;
use crate::edge::ApiResult;

/// The default and largest `limit` on files.
pub const MAX_FILES: i64 = 1000;

#[tracing::instrument(skip_all, fields(zone_id = %zone.row.id))]
pub async fn handle(zone: OwnedZone, input: Input) -> ApiResult {
    let OwnedZone {
        row, client, shape, ..
    } = zone;
    let window = Window::from_input(&input, MAX_FILES, MAX_FILES)?;
    let (files, file_count) = zones::files(
        &client,
        shape,
        row.event_id,
        row.id,
        window.skip,
        window.limit,
    )
    .await?;
    let next_skip = window.skip + files.len() as i64;
    let link = (!files.is_empty() && next_skip < file_count).then(|| {
        let next = Window {
            skip: next_skip,
            limit: window.limit,
        };
        paging::next_link(input.path(), next, &TypeFilter::Any)
    });
    let json = ZoneJson::new(row, file_count, files);
    let body = serde_json::to_string(&json).expect("zone JSON serializes");
    Ok(paging::json_page(body, link.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::zone_json::tests::largest_zone;
    use crate::edge::EDGE_HEADER_BYTES;
    use crate::payload;

    #[test]
    fn a_zone_with_the_most_files_a_page_holds_fits_an_answer_twice_over() {
        let json = largest_zone(1, MAX_FILES as usize);
        let body = serde_json::to_string(&json).unwrap();
        let link = paging::next_link(
            &format!(
                "/api/v1/events/{}/media/zones/{}",
                uuid::Uuid::max(),
                uuid::Uuid::max()
            ),
            Window {
                skip: i64::from(i32::MAX),
                limit: MAX_FILES,
            },
            &TypeFilter::Any,
        );
        let size =
            payload::response_size(&paging::json_page(body, Some(&link))) + EDGE_HEADER_BYTES;
        assert!(2 * size < payload::RESPONSE_MAX_BYTES, "{size}");
    }
}
