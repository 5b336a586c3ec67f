//! One type check for both ways in: the same bytes get the same answer, and are stored with
//! the same headers, whether they come through `upload-media` or create → PUT → complete.

use serde_json::json;

use crate::support::*;

const BOM: &[u8] = b"\xef\xbb\xbf";
/// The window both paths check (`media_type::SNIFF_BYTES`).
const WINDOW: usize = 8192;

/// What both paths must answer: stored (with this Content-Disposition), or refused.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Stored(Option<&'static str>),
    Refused(u16, &'static str),
}

struct Case {
    what: &'static str,
    file_name: &'static str,
    /// The type a direct upload declares: the one its extension names.
    declared: &'static str,
    bytes: Vec<u8>,
    outcome: Outcome,
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn corpus() -> Vec<Case> {
    use Outcome::*;
    let attachment = Stored(Some("attachment"));
    let refused = Refused(415, "UNSUPPORTED_MEDIA_TYPE");
    let clean_window = vec![b'a'; WINDOW];
    let case = |what, file_name, declared, bytes, outcome| Case {
        what,
        file_name,
        declared,
        bytes,
        outcome,
    };
    vec![
        case("a JPEG", "a.jpg", "image/jpeg", jpeg(3000), Stored(None)),
        case("a PNG", "a.png", "image/png", png(), Stored(None)),
        case(
            "plain UTF-8 text",
            "notes.txt",
            "text/plain",
            "Grüße, 👋\n".as_bytes().to_vec(),
            attachment,
        ),
        case(
            "CSV",
            "data.csv",
            "text/csv",
            b"a,b\n1,2\n".to_vec(),
            attachment,
        ),
        case(
            "text behind a UTF-8 byte-order mark",
            "notes.txt",
            "text/plain",
            cat(&[BOM, b"hello\n"]),
            attachment,
        ),
        case(
            "text clean for the whole window, binary after it",
            "notes.txt",
            "text/plain",
            cat(&[&clean_window, b"\xff\xfe\x00\x81 binary tail"]),
            attachment,
        ),
        case(
            "a character cut by the window's end",
            "notes.txt",
            "text/plain",
            cat(&[&clean_window[1..], "é and more".as_bytes()]),
            attachment,
        ),
        case(
            "a byte that is not UTF-8 inside the window",
            "notes.txt",
            "text/plain",
            cat(&[b"hello \xff world", &clean_window]),
            refused,
        ),
        case(
            "binary named .csv",
            "a.csv",
            "text/csv",
            vec![0xff, 0xfe, 0x00, 0x81, 0x00],
            refused,
        ),
        case(
            "an HTML page named .txt",
            "page.txt",
            "text/plain",
            b"<html><script>alert(1)</script></html>".to_vec(),
            refused,
        ),
        case(
            "an HTML page behind a byte-order mark named .txt",
            "page.txt",
            "text/plain",
            cat(&[BOM, b"<html><script>alert(1)</script></html>"]),
            refused,
        ),
        case(
            "a shell script behind a byte-order mark named .txt",
            "run.txt",
            "text/plain",
            cat(&[BOM, b"#!/bin/sh\nrm -rf /\n"]),
            refused,
        ),
        case(
            "an SVG with script",
            "logo.svg",
            "image/svg+xml",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
            attachment,
        ),
        case(
            "an SVG behind a byte-order mark",
            "logo.svg",
            "image/svg+xml",
            cat(&[BOM, br#"<svg xmlns="http://www.w3.org/2000/svg"></svg>"#]),
            attachment,
        ),
        case(
            "XML named .svg",
            "a.svg",
            "image/svg+xml",
            b"<?xml version=\"1.0\"?><note/>".to_vec(),
            refused,
        ),
        case(
            "a PNG behind a byte-order mark",
            "a.png",
            "image/png",
            cat(&[BOM, &png()]),
            refused,
        ),
        case(
            "an executable named .png",
            "a.png",
            "image/png",
            cat(&[b"\x7fELF\x02\x01\x01\x00", &[0u8; 120]]),
            refused,
        ),
    ]
}

/// What a reply did, plus the stored object's Content-Disposition when it stored one.
async fn outcome_of(app: &TestApp, reply: Reply) -> Result<Outcome, String> {
    if reply.status >= 400 {
        let code = reply.code();
        return Ok(match code.as_str() {
            "UNSUPPORTED_MEDIA_TYPE" => Outcome::Refused(reply.status, "UNSUPPORTED_MEDIA_TYPE"),
            _ => return Err(format!("{} {}", reply.status, reply.text())),
        });
    }
    if reply.status != 201 {
        return Err(format!("{} {}", reply.status, reply.text()));
    }
    let key = reply.json()["s3_key"].as_str().unwrap().to_owned();
    let head = app.head(&key).await;
    Ok(Outcome::Stored(match head.content_disposition() {
        None => None,
        Some("attachment") => Some("attachment"),
        Some(other) => return Err(format!("stored with Content-Disposition {other:?}")),
    }))
}

async fn through_the_form(app: &TestApp, who: &Organiser, case: &Case) -> Reply {
    app.upload(who, case.file_name, &case.bytes, &[]).await
}

async fn through_s3(app: &TestApp, who: &Organiser, case: &Case) -> Reply {
    let ticket = app
        .create_upload(
            who,
            json!({"filename": case.file_name, "content_type": case.declared, "file_size": case.bytes.len()}),
        )
        .await;
    assert_eq!(ticket.status, 201, "{}: {}", case.what, ticket.text());
    let ticket = ticket.json();
    let (status, body) = put(&ticket, case.bytes.clone()).await;
    assert_eq!(status, 200, "{}: {body}", case.what);
    app.complete_upload(who, ticket["upload_id"].as_str().unwrap())
        .await
}

#[tokio::test]
async fn the_same_bytes_get_the_same_answer_on_both_paths() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let mut failures = Vec::new();
    for case in corpus() {
        let before = (app.object_keys().await, app.media_count().await);
        let form = outcome_of(&app, through_the_form(&app, &who, &case).await).await;
        let direct = outcome_of(&app, through_s3(&app, &who, &case).await).await;
        let wanted = Ok(case.outcome);
        if form != wanted || direct != wanted {
            failures.push(format!(
                "{}: wanted {wanted:?}, upload-media gave {form:?}, create→PUT→complete gave {direct:?}",
                case.what
            ));
        }
        if matches!(case.outcome, Outcome::Refused(..))
            && (app.object_keys().await, app.media_count().await) != before
        {
            failures.push(format!(
                "{}: a refused file left something behind",
                case.what
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
