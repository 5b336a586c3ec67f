//! The endpoint registry (`shared::endpoint`) is the one table of functions: each of its
//! entries must appear, the same, in every place a function is written down, and nothing
//! else may. Each failure names the file to edit.

mod common;

use std::collections::BTreeSet;

use common::{Route, repo_root};
use shared::endpoint::{self, Endpoint};

/// The registry's HTTP routes, in the form the other tables are read into.
fn registry_routes() -> BTreeSet<Route> {
    endpoint::functions()
        .filter_map(|spec| {
            spec.route.map(|route| Route {
                method: route.method.to_owned(),
                path: route.path.to_owned(),
                function: spec.name.to_owned(),
            })
        })
        .collect()
}

fn assert_same_routes(place: &str, found: &BTreeSet<Route>) {
    let registry = registry_routes();
    let missing: Vec<String> = registry
        .difference(found)
        .map(|r| format!("    {r}"))
        .collect();
    let extra: Vec<String> = found
        .difference(&registry)
        .map(|r| format!("    {r}"))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{place} disagrees with the registry (shared/src/endpoint.rs):\n  add to {place}:\n{}\n  \
         not in the registry:\n{}",
        missing.join("\n"),
        extra.join("\n")
    );
}

#[test]
fn the_local_router_serves_exactly_the_registry() {
    let router = common::router_routes(&common::watch_config());
    assert_same_routes(
        "the generated watch router (shared::endpoint::watch_router_toml)",
        &router,
    );
}

#[test]
fn the_template_routes_exactly_the_registry() {
    assert_same_routes(
        "template.yaml",
        &common::template_routes(&common::template()),
    );
}

#[test]
fn the_openapi_document_has_an_operation_per_endpoint() {
    let folders = common::function_folders();
    assert_same_routes(
        "openapi.yaml (operationId = the function's name in camelCase)",
        &common::openapi_routes(&common::openapi(), &folders),
    );
}

#[test]
fn every_function_folder_is_in_the_registry_and_the_other_way_round() {
    let folders = common::function_folders();
    let registry: BTreeSet<String> = endpoint::functions().map(|s| s.name.to_owned()).collect();
    let unbuilt: Vec<_> = registry.difference(&folders).collect();
    assert!(
        unbuilt.is_empty(),
        "the registry names {unbuilt:?}, but functions/<name>/ is no crate: add the function folder"
    );
    let unregistered: Vec<_> = folders.difference(&registry).collect();
    assert!(
        unregistered.is_empty(),
        "functions/{unregistered:?} are not in the registry: add them to shared/src/endpoint.rs"
    );
}

#[test]
fn every_endpoint_binary_serves_its_own_registry_entry() {
    for endpoint in Endpoint::ALL {
        let name = endpoint.name();
        let path = repo_root().join(format!("functions/{name}/src/main.rs"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The variant, and the entry point named after the function, so that the binary
        // links only its own handler; through the macro, so that whether it makes an S3
        // client is decided from the same variant at compile time.
        let call = format!(
            "shared::serve!(Endpoint::{endpoint:?}, entry::{})",
            name.replace('-', "_")
        );
        assert!(text.contains(&call), "{} must call {call}", path.display());
    }
}

/// `events/{name}/{fixture}.json` exists, is an event the runtime accepts, and an HTTP
/// endpoint's fixture is routed to that endpoint.
#[test]
fn every_function_has_its_fixture() {
    for spec in endpoint::functions() {
        let path = repo_root().join(format!("events/{}/{}.json", spec.name, spec.fixture));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: add the fixture the registry names for {}",
                path.display(),
                spec.name
            )
        });
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let Some(route) = spec.route else { continue };
        let route_key = format!("{} {}", route.method, route.path);
        assert_eq!(
            json["routeKey"].as_str(),
            Some(route_key.as_str()),
            "{}: routeKey must be the registry's route",
            path.display()
        );
        lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not an API Gateway event: {e}", path.display()));
    }
}

/// The README's endpoint table is the one `plugs-media readme-endpoints` makes from the
/// registry: a new endpoint, or a changed route or answer, reaches it only through the command.
#[test]
fn the_readme_endpoint_table_is_made_from_the_registry() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let generated =
        endpoint::readme_with_endpoint_table(&readme).unwrap_or_else(|e| panic!("README.md: {e}"));
    assert!(
        generated == readme,
        "README.md's endpoint table is not the registry's (shared/src/endpoint.rs): run \
         `cargo run -p plugs-media -- readme-endpoints` and commit README.md. The table \
         should be:\n{}",
        endpoint::readme_endpoint_table()
    );
}

/// A function that declares neither S3 nor presigning gets no S3 permission at all; one
/// that declares either gets some.
#[test]
fn s3_permissions_follow_the_declared_capabilities() {
    let template = common::template();
    let functions = common::functions(&template);
    for spec in endpoint::functions() {
        let id = common::logical_id(spec.name);
        let function = functions
            .get(&id)
            .unwrap_or_else(|| panic!("template.yaml has no {id} for {}", spec.name));
        let grants_s3 = common::s3_actions(function);
        assert_eq!(
            !grants_s3.is_empty(),
            spec.builds_s3_client(),
            "{id}: the registry declares {:?}, but template.yaml grants S3 actions {grants_s3:?}",
            spec.needs
        );
    }
}
