//! `PATCH /api/v1/events/{event_id}/media/zones/{zone_id}` with `{title?, description?,
//! tags?}`: edits the zone's metadata, shared by all its files, and answers `{zone_id, title,
//! description, tags, file_count, updated_at}`.
//!
//! A field left out is left as it is; `null` clears it (as does `[]` for tags, and an empty
//! or blank text). The fields have the upload form's limits and checks (`upload_form`).
//! Fields this endpoint does not know are ignored: The Plugs' clients may send more than
//! these three, as with the upload form, and refusing them would break those clients.

use lambda_http::Body;
use serde_json::{Map, Value};

use super::extract::{Input, OwnedZone};
use super::upload_form::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, optional_text, parse_tags};
use super::zone_json::ZoneEdited;
use crate::db::zones::{self, ZoneEdit};
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;

#[tracing::instrument(skip_all, fields(zone_id = %zone.row.id))]
pub async fn handle(zone: OwnedZone, input: Input) -> ApiResult {
    let edit = parse_edit(input.body())?;
    let OwnedZone {
        row, client, shape, ..
    } = zone;
    // The zone was live when it was looked up; a delete that finished since wins.
    let (edited, file_count) = zones::update(&client, shape, row.id, &edit)
        .await?
        .ok_or(ApiError::ZoneNotFound)?;
    tracing::info!(event_id = %edited.event_id, "zone edited");
    Ok(json_response(200, &ZoneEdited::new(edited, file_count)))
}

/// The body: a JSON object (400 when it is no JSON at all, 422 when it is JSON of another
/// kind or a field is wrong).
fn parse_edit(body: &Body) -> Result<ZoneEdit, ApiError> {
    let bytes: &[u8] = match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|err| ApiError::MalformedRequest(format!("the body is not valid JSON: {err}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::validation(&["body"], "must be a JSON object"));
    };
    Ok(ZoneEdit {
        title: text_field(&fields, "title", MAX_TITLE_CHARS)?,
        description: text_field(&fields, "description", MAX_DESCRIPTION_CHARS)?,
        tags: tags_field(&fields)?,
    })
}

/// `None` when absent, `Some(None)` to clear (null, empty or blank).
fn text_field(
    fields: &Map<String, Value>,
    name: &str,
    max_chars: usize,
) -> Result<Option<Option<String>>, ApiError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => optional_text(Some(text.clone()), name, max_chars).map(Some),
        Some(_) => Err(ApiError::validation(
            &["body", name],
            "must be a string or null",
        )),
    }
}

/// `None` when absent; otherwise the tags as stored (`", "`-joined, empty to clear).
fn tags_field(fields: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let list = match fields.get("tags") {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(String::new())),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ApiError::validation(
                &["body", "tags"],
                "must be a list of strings",
            ));
        }
    };
    let texts: Vec<&str> = list
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::validation(&["body", "tags"], "must be a list of strings"))?;
    // The form's rules, on the list as the form would send it: a tag holding a comma is
    // two tags, as it would be once stored.
    Ok(Some(parse_tags(&texts.join(","))?.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(body: &str) -> Result<ZoneEdit, ApiError> {
        parse_edit(&Body::Text(body.to_owned()))
    }

    #[test]
    fn a_missing_field_is_left_alone_and_null_clears_it() {
        assert_eq!(edit("{}").unwrap(), ZoneEdit::default());
        assert_eq!(
            edit(r#"{"title": null, "description": "  ", "tags": []}"#).unwrap(),
            ZoneEdit {
                title: Some(None),
                description: Some(None),
                tags: Some(String::new()),
            }
        );
        assert_eq!(
            edit(r#"{"title": " Stage ", "tags": ["a", " b", "c,d"], "color": 3}"#).unwrap(),
            ZoneEdit {
                title: Some(Some("Stage".into())),
                description: None,
                tags: Some("a, b, c, d".into()),
            }
        );
    }

    #[test]
    fn broken_json_is_malformed_and_wrong_json_is_invalid() {
        for body in ["", "{", "not json", "{\"title\": }"] {
            assert_eq!(
                edit(body).unwrap_err().code(),
                "MALFORMED_REQUEST",
                "{body:?}"
            );
        }
        let too_many = format!("{{\"tags\": {:?}}}", vec!["t"; 51]);
        for body in [
            "[]",
            "\"title\"",
            "null",
            r#"{"title": 5}"#,
            r#"{"description": ["x"]}"#,
            r#"{"tags": "a,b"}"#,
            r#"{"tags": [1]}"#,
            r#"{"tags": [null]}"#,
            r#"{"title": "a\u0007b"}"#,
            r#"{"tags": ["a\nb"]}"#,
            &format!("{{\"title\": \"{}\"}}", "x".repeat(MAX_TITLE_CHARS + 1)),
            &too_many,
        ] {
            assert_eq!(
                edit(body).unwrap_err().code(),
                "VALIDATION_ERROR",
                "{body:?}"
            );
        }
    }
}
