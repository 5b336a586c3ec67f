//! `GET /api/v1/events/{event_id}/media?file_type=&skip=&limit=`: the event's media, newest
//! first, with the total in `X-Total-Count`.

use lambda_http::Request;

use super::{MediaJson, routes};
use crate::auth::Authenticator;
use crate::db::media::{self, TypeFilter};
use crate::db::{Database, events};
use crate::error::ApiError;
use crate::http::{ApiResult, json_response, path_uuid, single_query_param};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// Reads the database only: it is given no S3 client.
#[tracing::instrument(skip_all)]
pub async fn handle(auth: &Authenticator, db: &Database, request: Request) -> ApiResult {
    let user = auth.authenticate(request.headers()).await?;
    let event_id = path_uuid(&request, routes::MEDIA, "event_id")?;
    let query = ListQuery::from_request(&request)?;
    let client = db.get().await?;
    if !events::is_owned_by(&client, event_id, user.id).await? {
        return Err(ApiError::EventNotFound);
    }
    let (rows, total) =
        media::list(&client, event_id, &query.filter, query.skip, query.limit).await?;
    let items: Vec<MediaJson> = rows.into_iter().map(MediaJson::from).collect();
    let mut response = json_response(200, &items);
    response
        .headers_mut()
        .insert("x-total-count", http::HeaderValue::from(total));
    Ok(response)
}

#[derive(Debug, PartialEq, Eq)]
struct ListQuery {
    filter: TypeFilter,
    skip: i64,
    limit: i64,
}

impl ListQuery {
    fn from_request(request: &Request) -> Result<Self, ApiError> {
        let skip = number(request, "skip", 0, 0..=i64::from(i32::MAX))?;
        let limit = number(request, "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
        let filter = match single_query_param(request, "file_type")?.map(str::trim) {
            None | Some("") => TypeFilter::Any,
            Some(t) if t.len() > 255 || !t.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(ApiError::validation(
                    &["query", "file_type"],
                    "is not a MIME type",
                ));
            }
            Some(t) if t.ends_with('/') => TypeFilter::Prefix(t.to_ascii_lowercase()),
            Some(t) => TypeFilter::Exact(t.to_ascii_lowercase()),
        };
        Ok(Self {
            filter,
            skip,
            limit,
        })
    }
}

fn number(
    request: &Request,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    let Some(raw) = single_query_param(request, name)? else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    fn query(pairs: &[(&str, &str)]) -> Result<ListQuery, ApiError> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry((*k).to_owned())
                .or_default()
                .push((*v).to_owned());
        }
        let request = Request::default().with_query_string_parameters(map);
        ListQuery::from_request(&request)
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
