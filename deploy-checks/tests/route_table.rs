//! Every function folder is deployed under the one name the house style gives it. (The
//! routes themselves are checked against the endpoint registry in registry.rs.)

mod common;

use common::{function_folder, functions, logical_id};

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
fn the_name_conversions_follow_the_house_style() {
    assert_eq!(logical_id("upload-media"), "UploadMediaFunction");
    assert_eq!(logical_id("sweep-uploads"), "SweepUploadsFunction");
    assert_eq!(common::operation_id("download-media"), "downloadMedia");
}
