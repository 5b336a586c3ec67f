//! Reading the places the API's routes are written down (template.yaml, the
//! `cargo lambda watch` router made from the registry, openapi.yaml) and the function folders, plus
//! helpers for CloudFormation's intrinsic functions in either spelling (`!Sub x` or
//! `Fn::Sub: x`).

#![allow(dead_code)] // each test file uses its own part of this module

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use serde_norway::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("deploy-checks sits in the workspace root")
        .to_path_buf()
}

pub fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

pub fn template() -> Value {
    load_yaml(&repo_root().join("template.yaml"))
}

pub fn openapi() -> Value {
    load_yaml(&repo_root().join("openapi.yaml"))
}

/// The `cargo lambda watch` configuration the local stacks run with (`scripts/lib.sh` writes
/// it with `plugs-media watch-router`), parsed as cargo-lambda reads it.
pub fn watch_config() -> toml::Table {
    shared::endpoint::watch_router_toml()
        .parse()
        .unwrap_or_else(|e| panic!("the generated watch router is not valid TOML: {e}"))
}

/// The folders under functions/ that are crates: one Lambda function each.
pub fn function_folders() -> BTreeSet<String> {
    let dir = repo_root().join("functions");
    let folders: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        !folders.is_empty(),
        "no function crates under {}",
        dir.display()
    );
    folders
}

/// `upload-media` -> `UploadMediaFunction`: the one name used everywhere.
pub fn logical_id(folder: &str) -> String {
    let mut id: String = folder.split('-').map(capitalized).collect();
    id.push_str("Function");
    id
}

/// `upload-media` -> `uploadMedia`, the function's operationId in openapi.yaml.
pub fn operation_id(folder: &str) -> String {
    let mut words = folder.split('-');
    let mut id = words.next().unwrap_or_default().to_owned();
    id.extend(words.map(capitalized));
    id
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The intrinsic function a value is, by its short name (`Ref`, `Sub`, `GetAtt`, `If`…),
/// with its argument; `None` for a plain value.
pub fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            if key == "Ref" {
                Some(("Ref".to_owned(), arg))
            } else {
                key.strip_prefix("Fn::").map(|name| (name.to_owned(), arg))
            }
        }
        _ => None,
    }
}

/// The text of a plain string or of a `!Sub` (its template string).
pub fn string_or_sub(value: &Value) -> Option<&str> {
    match intrinsic(value) {
        Some((name, arg)) if name == "Sub" => match arg {
            Value::Sequence(parts) => parts.first()?.as_str(),
            other => other.as_str(),
        },
        Some(_) => None,
        None => value.as_str(),
    }
}

/// A scalar's text: YAML numbers and booleans as written.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One item or a list of them, as IAM and CloudFormation allow.
pub fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The template's resources of one type, by logical id.
pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> BTreeMap<String, &'a Value> {
    template["Resources"]
        .as_mapping()
        .expect("the template has Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| {
            (
                id.as_str().expect("string logical ids").to_owned(),
                resource,
            )
        })
        .collect()
}

pub fn functions(template: &Value) -> BTreeMap<String, &Value> {
    resources_of_type(template, "AWS::Serverless::Function")
}

/// A function property as deployed: the function's own value, else the Globals one.
pub fn effective_property<'a>(template: &'a Value, function: &'a Value, name: &str) -> &'a Value {
    match &function["Properties"][name] {
        Value::Null => &template["Globals"]["Function"][name],
        own => own,
    }
}

/// An environment variable as deployed: SAM merges the function's variables over the
/// Globals ones.
pub fn environment_variable<'a>(template: &'a Value, function: &'a Value, name: &str) -> &'a Value {
    match &function["Properties"]["Environment"]["Variables"][name] {
        Value::Null => &template["Globals"]["Function"]["Environment"]["Variables"][name],
        own => own,
    }
}

/// The function folder a template function is built from (its CodeUri, or the binary it
/// names when the CodeUri is the workspace root).
pub fn function_folder(function: &Value) -> Option<String> {
    if let Some(binary) = function["Metadata"]["BuildProperties"]["Binary"].as_str() {
        return Some(binary.to_owned());
    }
    let code_uri = function["Properties"]["CodeUri"].as_str()?;
    code_uri
        .trim_end_matches('/')
        .strip_prefix("functions/")
        .map(str::to_owned)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.function)
    }
}

/// Every HttpApi event of every function in template.yaml.
pub fn template_routes(template: &Value) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    for (id, function) in functions(template) {
        let folder = function_folder(function)
            .unwrap_or_else(|| panic!("{id}: cannot tell which function folder it is built from"));
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            let (Some(method), Some(path)) = (props["Method"].as_str(), props["Path"].as_str())
            else {
                panic!("{id}.Events.{name:?}: an HttpApi event needs a literal Method and Path");
            };
            routes.insert(Route {
                method: method.to_ascii_uppercase(),
                path: path.to_owned(),
                function: folder.clone(),
            });
        }
    }
    routes
}

/// `[watch.router]` of a cargo-lambda configuration (see [`watch_config`]).
pub fn router_routes(config: &toml::Table) -> BTreeSet<Route> {
    let router = config
        .get("watch")
        .and_then(|w| w.get("router"))
        .and_then(toml::Value::as_table)
        .expect("the watch configuration has [watch.router]");
    let mut routes = BTreeSet::new();
    for (path, entries) in router {
        let entries = entries
            .as_array()
            .unwrap_or_else(|| panic!("router {path}: expected an array of {{method, function}}"));
        for entry in entries {
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(toml::Value::as_str)
                    .unwrap_or_else(|| panic!("router {path}: an entry without `{name}`"))
                    .to_owned()
            };
            routes.insert(Route {
                method: field("method").to_ascii_uppercase(),
                path: path.clone(),
                function: field("function"),
            });
        }
    }
    routes
}

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation in openapi.yaml; the function is read back from the operationId.
pub fn openapi_routes(openapi: &Value, folders: &BTreeSet<String>) -> BTreeSet<Route> {
    let by_operation: BTreeMap<String, &String> =
        folders.iter().map(|f| (operation_id(f), f)).collect();
    let paths = openapi["paths"]
        .as_mapping()
        .expect("openapi.yaml has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("string paths");
        let item = item.as_mapping().expect("a path item is a mapping");
        for (key, operation) in item {
            let key = key.as_str().unwrap_or_default();
            if !HTTP_METHODS.contains(&key) {
                continue;
            }
            let operation_id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("openapi {key} {path}: no operationId"));
            let function = by_operation
                .get(operation_id)
                .map(|f| (*f).clone())
                .unwrap_or_else(|| format!("<no function folder for operationId {operation_id}>"));
            routes.insert(Route {
                method: key.to_ascii_uppercase(),
                path: path.to_owned(),
                function,
            });
        }
    }
    routes
}

/// A value with CloudFormation's short tags spelled out (`!Ref x` -> `{Ref: x}`, `!Sub s` ->
/// `{Fn::Sub: s}`, `!GetAtt a.b` -> `{Fn::GetAtt: [a, b]}`), as the SAM transform writes
/// them, so the source template and the translated one compare equal.
pub fn long_form(value: &Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string().trim_start_matches('!').to_owned();
            let arg = match (&*name, &tagged.value) {
                ("GetAtt", Value::String(path)) => match path.split_once('.') {
                    Some((resource, attribute)) => Value::Sequence(vec![
                        Value::String(resource.to_owned()),
                        Value::String(attribute.to_owned()),
                    ]),
                    None => Value::String(path.clone()),
                },
                (_, arg) => long_form(arg),
            };
            let key = if name == "Ref" {
                name
            } else {
                format!("Fn::{name}")
            };
            let mut map = serde_norway::Mapping::new();
            map.insert(Value::String(key), arg);
            Value::Mapping(map)
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(long_form).collect()),
        Value::Mapping(map) => {
            Value::Mapping(map.iter().map(|(k, v)| (k.clone(), long_form(v))).collect())
        }
        other => other.clone(),
    }
}

/// Every environment variable a function gets as deployed: the Globals ones, overridden by
/// the function's own.
pub fn environment(template: &Value, function: &Value) -> BTreeMap<String, Value> {
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let own = &function["Properties"]["Environment"]["Variables"];
    [globals, own]
        .into_iter()
        .filter_map(Value::as_mapping)
        .flatten()
        .map(|(name, value)| {
            (
                name.as_str().expect("string variable names").to_owned(),
                long_form(value),
            )
        })
        .collect()
}

/// The names of the response headers openapi.yaml documents, lowercased.
pub fn openapi_response_headers(openapi: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_response_headers(openapi, &mut names);
    names
}

fn collect_response_headers(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                if key.as_str() == Some("responses") {
                    for response in child.as_mapping().into_iter().flat_map(|r| r.values()) {
                        let headers = response["headers"].as_mapping();
                        names.extend(
                            headers
                                .into_iter()
                                .flat_map(|h| h.keys())
                                .filter_map(Value::as_str)
                                .map(str::to_ascii_lowercase),
                        );
                    }
                }
                collect_response_headers(child, names);
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|item| collect_response_headers(item, names)),
        _ => {}
    }
}

/// A function's policy statements, and its other policies (SAM policy templates, managed
/// policy ARNs) as text.
pub fn policy_entries(function: &Value) -> (Vec<&Value>, Vec<String>) {
    let mut statements = Vec::new();
    let mut others = Vec::new();
    for policy in one_or_many(&function["Properties"]["Policies"]) {
        match policy {
            Value::Mapping(map) if map.contains_key("Statement") => {
                statements.extend(one_or_many(&policy["Statement"]));
            }
            other => others.push(serde_norway::to_string(other).unwrap()),
        }
    }
    (statements, others)
}

pub fn actions(statement: &Value) -> Vec<String> {
    one_or_many(&statement["Action"])
        .into_iter()
        .map(|a| a.as_str().unwrap_or("<not a string>").to_owned())
        .collect()
}

pub fn is_s3_action(action: &str) -> bool {
    action == "*" || action.to_ascii_lowercase().starts_with("s3:")
}

/// Every S3 action a function's policies grant (a SAM policy template that mentions S3
/// counts as one).
pub fn s3_actions(function: &Value) -> Vec<String> {
    let (statements, others) = policy_entries(function);
    let mut found: Vec<String> = statements
        .iter()
        .flat_map(|s| actions(s))
        .filter(|a| is_s3_action(a))
        .collect();
    found.extend(
        others
            .into_iter()
            .filter(|o| o.to_ascii_lowercase().contains("s3")),
    );
    found
}
