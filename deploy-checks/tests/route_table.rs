//! One route table: template.yaml (what API Gateway serves), the `cargo lambda watch` router
//! (what the local stack and the end-to-end tests serve) and openapi.yaml (what client teams
//! read) must name the same routes, each to the same function, and every function folder
//! must be deployed.

mod common;

use std::collections::BTreeSet;

use common::{Route, function_folder, functions, logical_id};

/// The routes in `left` missing from `right` and the other way round, for the message.
fn differences(left: &BTreeSet<Route>, right: &BTreeSet<Route>) -> String {
    let only = |a: &BTreeSet<Route>, b: &BTreeSet<Route>| {
        a.difference(b)
            .map(|r| format!("    {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "  only in the first:\n{}\n  only in the second:\n{}",
        only(left, right),
        only(right, left)
    )
}

#[test]
fn the_template_and_the_local_router_serve_the_same_routes() {
    let template = common::template_routes(&common::template());
    let router = common::router_routes(&common::cargo_manifest());
    assert!(!template.is_empty(), "template.yaml routes nothing");
    assert_eq!(
        template,
        router,
        "template.yaml and Cargo.toml's cargo lambda watch router disagree:\n{}",
        differences(&template, &router)
    );
}

#[test]
fn the_openapi_document_describes_exactly_the_deployed_routes() {
    let template = common::template_routes(&common::template());
    let openapi = common::openapi_routes(&common::openapi(), &common::function_folders());
    assert!(!openapi.is_empty(), "openapi.yaml documents nothing");
    assert_eq!(
        template,
        openapi,
        "template.yaml and openapi.yaml disagree (openapi's operationId names the function, \
         e.g. uploadMedia for upload-media):\n{}",
        differences(&template, &openapi)
    );
}

#[test]
fn every_function_folder_is_a_template_function_named_after_it() {
    let template = common::template();
    let deployed = functions(&template);
    for folder in common::function_folders() {
        let id = logical_id(&folder);
        let function = deployed
            .get(&id)
            .unwrap_or_else(|| panic!("functions/{folder} has no {id} in template.yaml"));
        assert_eq!(
            function_folder(function).as_deref(),
            Some(folder.as_str()),
            "{id} must be built from functions/{folder}"
        );
    }
}

#[test]
fn every_template_function_is_built_from_a_function_folder() {
    let template = common::template();
    let folders = common::function_folders();
    for (id, function) in functions(&template) {
        let folder = function_folder(function)
            .unwrap_or_else(|| panic!("{id}: CodeUri is not functions/<name>"));
        assert!(
            folders.contains(&folder),
            "{id} is built from functions/{folder}, which is not a function crate"
        );
        assert_eq!(
            id,
            logical_id(&folder),
            "the logical id must follow the folder"
        );
    }
}

#[test]
fn every_routed_function_exists() {
    let folders = common::function_folders();
    let routes = common::router_routes(&common::cargo_manifest());
    for route in routes {
        assert!(
            folders.contains(&route.function),
            "Cargo.toml routes {route}, but there is no functions/{}",
            route.function
        );
    }
}

#[test]
fn the_name_conversions_follow_the_house_style() {
    assert_eq!(logical_id("upload-media"), "UploadMediaFunction");
    assert_eq!(logical_id("sweep-uploads"), "SweepUploadsFunction");
    assert_eq!(common::operation_id("download-media"), "downloadMedia");
}
