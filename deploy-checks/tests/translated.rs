//! What AWS runs: template.yaml after the SAM transform. The other checks read the template
//! as written; these read the CloudFormation template SAM makes of it (the pinned
//! aws-sam-translator, run offline by scripts/translate_template.py), so a property SAM
//! drops, moves or merges differently than the template suggests is caught before a deploy:
//! the HTTP API's CORS object, its routes and integrations, each function's memory, timeout,
//! architecture and environment.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Route, Value, intrinsic, one_or_many, resources_of_type, scalar_text};

/// API Gateway's HTTP API gives up on an integration after 30 s.
const HTTP_API_TIMEOUT_SECONDS: u64 = 30;

/// API Gateway caps an HTTP API's CORS max-age at one day.
const MAX_CORS_MAX_AGE: u64 = 86_400;

/// Response headers a browser lets scripts read without CORS exposing them (Fetch's
/// CORS-safelisted response-header names).
const SAFELISTED_RESPONSE_HEADERS: &[&str] = &[
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// Request body types a browser sends without a preflight naming content-type.
const SAFELISTED_CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// Variables Lambda sets itself and refuses in a function's configuration ("Defined runtime
/// environment variables" in the Lambda developer guide): a deploy fails on any of them.
const LAMBDA_RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Where the translation is written, for a reader who wants to see what AWS will get.
fn output_path() -> PathBuf {
    common::repo_root().join("target/template.translated.json")
}

/// The translated template, made once per test run (the transform takes a second or two).
fn translated() -> &'static Value {
    static TRANSLATED: OnceLock<Value> = OnceLock::new();
    TRANSLATED.get_or_init(|| {
        let output = output_path();
        translate(&common::repo_root().join("template.yaml"), &output);
        let text = std::fs::read_to_string(&output)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", output.display()));
        // JSON is YAML: one Value type, and one set of helpers, for both templates.
        serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", output.display()))
    })
}

/// Runs scripts/translate_template.py with the project's Python (its .venv holds the pinned
/// SAM CLI and translator), with no network at all where a network namespace can be made.
fn translate(template: &Path, output: &Path) {
    let root = common::repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run ./scripts/check-deploy.sh once, it installs the pinned SAM tools",
        python.display()
    );
    let script = root.join("scripts/translate_template.py");
    let offline = Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut command = if offline {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(&python);
        c
    } else {
        Command::new(&python)
    };
    let result = command
        .arg(&script)
        .arg(template)
        .arg(output)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        result.status.success(),
        "the SAM transform failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The one HTTP API SAM made, by logical id.
fn http_api(translated: &Value) -> (String, &Value) {
    let apis = resources_of_type(translated, "AWS::ApiGatewayV2::Api");
    assert_eq!(
        apis.len(),
        1,
        "one AWS::ApiGatewayV2::Api after the transform"
    );
    apis.into_iter().next().unwrap()
}

/// The HTTP API's CORS configuration as API Gateway receives it: the OpenAPI body's
/// `x-amazon-apigateway-cors` or the API's `CorsConfiguration`, whichever is there.
fn cors(translated: &Value) -> (&'static str, &Value) {
    let (_, api) = http_api(translated);
    let in_body = &api["Properties"]["Body"]["x-amazon-apigateway-cors"];
    let property = &api["Properties"]["CorsConfiguration"];
    match (in_body, property) {
        (Value::Null, Value::Null) => panic!("the HTTP API has no CORS configuration"),
        (body, Value::Null) => ("Body.x-amazon-apigateway-cors", body),
        (Value::Null, property) => ("CorsConfiguration", property),
        _ => panic!("CORS is set both in the OpenAPI body and as CorsConfiguration"),
    }
}

/// A CORS field by its camelCase name (the body's spelling) or PascalCase (the property's).
fn cors_field<'a>(cors: &'a Value, camel_case: &str) -> &'a Value {
    let mut pascal_case = camel_case.to_owned();
    pascal_case[..1].make_ascii_uppercase();
    match &cors[camel_case] {
        Value::Null => &cors[pascal_case.as_str()],
        value => value,
    }
}

/// A CORS list field as lowercase strings; panics on anything CloudFormation would have to
/// resolve first.
fn cors_list(cors: &Value, field: &str) -> BTreeSet<String> {
    let value = cors_field(cors, field);
    let items = value
        .as_sequence()
        .unwrap_or_else(|| panic!("CORS {field} must be a list, got {value:?}"));
    items
        .iter()
        .map(|item| {
            item.as_str()
                .unwrap_or_else(|| panic!("CORS {field}: {item:?} is not a string"))
                .to_ascii_lowercase()
        })
        .collect()
}

#[test]
fn the_http_api_cors_is_a_complete_object() {
    let translated = translated();
    let (place, cors) = cors(translated);
    assert!(
        intrinsic(cors).is_none() && cors.as_mapping().is_some(),
        "{place} is {cors:?}: SAM took an intrinsic function as the whole CORS object, so \
         API Gateway gets no methods, headers, expose-headers or max-age (an intrinsic in \
         CorsConfiguration.AllowOrigins does that)"
    );
    for field in [
        "allowOrigins",
        "allowMethods",
        "allowHeaders",
        "exposeHeaders",
        "maxAge",
    ] {
        let value = cors_field(cors, field);
        assert!(
            !value.is_null() && value.as_sequence().is_none_or(|items| !items.is_empty()),
            "{place}: {field} is missing or empty in {cors:?}"
        );
    }
}

#[test]
fn the_cors_origins_are_a_list_cloudformation_can_resolve() {
    let translated = translated();
    let (place, cors) = cors(translated);
    let origins = cors_field(cors, "allowOrigins");
    match intrinsic(origins) {
        Some((name, parameter)) if name == "Ref" => {
            let parameter = parameter.as_str().unwrap_or_default();
            let kind = translated["Parameters"][parameter]["Type"].as_str();
            assert_eq!(
                kind,
                Some("CommaDelimitedList"),
                "{place}: allowOrigins is !Ref {parameter}, which must be a CommaDelimitedList \
                 so CloudFormation turns it into a list"
            );
        }
        Some((name, _)) => panic!("{place}: allowOrigins is a Fn::{name}; expected a list"),
        None => {
            let origins = cors_list(cors, "allowOrigins");
            assert!(!origins.is_empty(), "{place}: no origins");
        }
    }
}

/// The routes API Gateway serves: each OpenAPI path and method of the body with its Lambda
/// proxy integration, read back to the function folder it invokes.
/// What SAM appends to a function's logical id for the alias `AutoPublishAlias: live` makes:
/// the HTTP API invokes that alias, so CodeDeploy's traffic shifting applies to every request.
const LIVE_ALIAS: &str = "Aliaslive";

fn translated_routes(translated: &Value) -> BTreeSet<Route> {
    let by_logical_id: BTreeMap<String, String> = common::function_folders()
        .into_iter()
        .map(|folder| (common::logical_id(&folder), folder))
        .collect();
    let (_, api) = http_api(translated);
    let paths = api["Properties"]["Body"]["paths"]
        .as_mapping()
        .expect("the HTTP API's body has paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("string paths");
        for (method, operation) in item.as_mapping().expect("a path item is a mapping") {
            let method = method
                .as_str()
                .expect("string methods")
                .to_ascii_uppercase();
            let integration = &operation["x-amazon-apigateway-integration"];
            assert_eq!(
                (
                    integration["type"].as_str(),
                    integration["payloadFormatVersion"].as_str()
                ),
                (Some("aws_proxy"), Some("2.0")),
                "{method} {path}: a Lambda proxy integration with payload format 2.0"
            );
            let uri = common::string_or_sub(&integration["uri"]).unwrap_or_else(|| {
                panic!("{method} {path}: the integration uri is not a !Sub of a function ARN")
            });
            // The alias, not the function: only traffic through the alias follows a canary.
            let function = uri
                .split("${")
                .skip(1)
                .filter_map(|s| s.split_once('}').map(|(id, _)| id))
                .find_map(|id| by_logical_id.get(id.strip_suffix(LIVE_ALIAS)?))
                .unwrap_or_else(|| {
                    panic!("{method} {path}: {uri} invokes no function folder's `live` alias")
                });
            routes.insert(Route {
                method,
                path: path.to_owned(),
                function: function.clone(),
            });
        }
    }
    routes
}

#[test]
fn the_translated_api_serves_exactly_the_router_and_openapi_routes() {
    let served = translated_routes(translated());
    assert!(!served.is_empty(), "the translated API routes nothing");
    let router = common::router_routes(&common::watch_config());
    assert_eq!(
        served, router,
        "API Gateway (after the transform) and the registry's watch router disagree"
    );
    let openapi = common::openapi_routes(&common::openapi(), &common::function_folders());
    assert_eq!(
        served, openapi,
        "API Gateway (after the transform) and openapi.yaml disagree"
    );
}

#[test]
fn api_gateway_may_invoke_every_routed_function() {
    let translated = translated();
    let (api_id, _) = http_api(translated);
    let permitted: BTreeSet<String> = resources_of_type(translated, "AWS::Lambda::Permission")
        .values()
        .filter(|p| p["Properties"]["Principal"].as_str() == Some("apigateway.amazonaws.com"))
        .filter(|p| {
            let source = &p["Properties"]["SourceArn"]["Fn::Sub"];
            one_or_many(&source[1]).iter().any(|vars| {
                matches!(intrinsic(&vars["__ApiId__"]),
                         Some((ref f, arg)) if f == "Ref" && arg.as_str() == Some(api_id.as_str()))
            })
        })
        .filter_map(|p| match intrinsic(&p["Properties"]["FunctionName"]) {
            Some((f, arg)) if f == "Ref" => {
                arg.as_str()?.strip_suffix(LIVE_ALIAS).map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    for route in translated_routes(translated) {
        let id = common::logical_id(&route.function);
        assert!(
            permitted.contains(&id),
            "{route}: no AWS::Lambda::Permission lets {api_id} invoke {id}'s `live` alias"
        );
    }
}

/// The request headers a browser names in a preflight to call the API as openapi.yaml
/// describes it: Authorization for the bearer token, Content-Type for a non-form body, and
/// every header parameter.
fn request_headers_browsers_send(openapi: &Value) -> BTreeSet<String> {
    let mut headers = BTreeSet::new();
    let bearer = openapi["components"]["securitySchemes"]
        .as_mapping()
        .into_iter()
        .flat_map(|schemes| schemes.values())
        .any(|s| s["type"].as_str() == Some("http") && s["scheme"].as_str() == Some("bearer"));
    if bearer {
        headers.insert("authorization".to_owned());
    }
    for item in openapi["paths"].as_mapping().expect("paths").values() {
        for operation in item.as_mapping().expect("a path item").values() {
            let body_types = operation["requestBody"]["content"].as_mapping();
            let non_form_body = body_types
                .into_iter()
                .flat_map(|c| c.keys())
                .filter_map(Value::as_str)
                .any(|t| !SAFELISTED_CONTENT_TYPES.contains(&t));
            if non_form_body {
                headers.insert("content-type".to_owned());
            }
            for parameter in one_or_many(&operation["parameters"]) {
                if parameter["in"].as_str() == Some("header") {
                    let name = parameter["name"].as_str().unwrap_or_default();
                    headers.insert(name.to_ascii_lowercase());
                }
            }
        }
    }
    headers
}

#[test]
fn the_cors_lets_a_browser_call_every_route_and_read_every_documented_header() {
    let translated = translated();
    let (place, cors) = cors(translated);
    let openapi = common::openapi();

    let methods = cors_list(cors, "allowMethods");
    for route in translated_routes(translated) {
        assert!(
            methods.contains("*") || methods.contains(&route.method.to_ascii_lowercase()),
            "{place}: allowMethods {methods:?} lacks {route}"
        );
    }

    let allowed = cors_list(cors, "allowHeaders");
    for header in request_headers_browsers_send(&openapi) {
        assert!(
            allowed.contains("*") || allowed.contains(&header),
            "{place}: allowHeaders {allowed:?} lacks {header}, which browsers send"
        );
    }

    let exposed = cors_list(cors, "exposeHeaders");
    for header in common::openapi_response_headers(&openapi) {
        if SAFELISTED_RESPONSE_HEADERS.contains(&header.as_str()) {
            continue;
        }
        assert!(
            exposed.contains("*") || exposed.contains(&header),
            "{place}: exposeHeaders {exposed:?} lacks {header}, which openapi.yaml documents: \
             a browser app could not read it"
        );
    }

    let max_age = cors_field(cors, "maxAge").as_u64();
    assert!(
        max_age.is_some_and(|age| (1..=MAX_CORS_MAX_AGE).contains(&age)),
        "{place}: maxAge must be 1..={MAX_CORS_MAX_AGE} seconds, got {max_age:?}"
    );
}

/// Uppy (examples/uppy-upload.html) PUTs each part of a multipart upload straight to the
/// bucket from the page's origin and needs the part's ETag to complete the upload: without
/// `ExposedHeaders: [ETag]` the browser hides it and Uppy stalls after the first part.
#[test]
fn the_bucket_cors_lets_a_browser_put_parts_and_read_their_etag() {
    let id = "MediaBucket";
    let bucket = resource(translated(), id, "AWS::S3::Bucket");
    let rules = &bucket["Properties"]["CorsConfiguration"]["CorsRules"];
    let rules = rules
        .as_sequence()
        .unwrap_or_else(|| panic!("{id}: no CorsConfiguration.CorsRules for browser uploads"));
    let lists = |rule: &Value, field: &str| -> BTreeSet<String> {
        one_or_many(&rule[field])
            .into_iter()
            .filter_map(|item| item.as_str().map(str::to_ascii_lowercase))
            .collect()
    };
    let serves_parts = rules.iter().any(|rule| {
        let methods = lists(rule, "AllowedMethods");
        let exposed = lists(rule, "ExposedHeaders");
        methods.contains("put")
            && exposed.contains("etag")
            && intrinsic(&rule["AllowedOrigins"]).is_some_and(|(name, _)| name == "Ref")
    });
    assert!(
        serves_parts,
        "{id}: no CORS rule allows PUT from AllowedCorsOrigins and exposes ETag: {rules:?}"
    );
}

/// The template's functions next to what SAM made of each.
fn function_pairs() -> Vec<(String, Value, &'static Value)> {
    let source = common::template();
    let deployed = resources_of_type(translated(), "AWS::Lambda::Function");
    common::functions(&source)
        .into_iter()
        .map(|(id, function)| {
            let made = *deployed
                .get(&id)
                .unwrap_or_else(|| panic!("{id}: no AWS::Lambda::Function after the transform"));
            (id, function.clone(), made)
        })
        .collect()
}

#[test]
fn every_function_runs_with_the_memory_timeout_and_platform_the_template_gives_it() {
    let source = common::template();
    for (id, function, made) in function_pairs() {
        for property in [
            "MemorySize",
            "Timeout",
            "Architectures",
            "Runtime",
            "Handler",
            "LoggingConfig",
        ] {
            let intended =
                common::long_form(common::effective_property(&source, &function, property));
            assert!(!intended.is_null(), "{id}: the template sets no {property}");
            assert_eq!(
                made["Properties"][property], intended,
                "{id}: {property} after the transform"
            );
        }
        let architectures: Vec<_> = one_or_many(&made["Properties"]["Architectures"])
            .into_iter()
            .map(Value::as_str)
            .collect();
        assert_eq!(architectures, [Some("arm64")], "{id}: Architectures");
    }
}

#[test]
fn every_routed_function_answers_before_the_http_api_gives_up() {
    let routed: BTreeSet<String> = translated_routes(translated())
        .into_iter()
        .map(|route| common::logical_id(&route.function))
        .collect();
    assert!(!routed.is_empty());
    for (id, _, made) in function_pairs() {
        let timeout = made["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or_else(|| panic!("{id}: Timeout is not a number after the transform"));
        if routed.contains(&id) {
            assert!(
                timeout < HTTP_API_TIMEOUT_SECONDS,
                "{id}: Timeout {timeout} s must be under the HTTP API's {HTTP_API_TIMEOUT_SECONDS} s"
            );
        }
    }
}

#[test]
fn every_function_gets_exactly_the_environment_the_template_gives_it() {
    let source = common::template();
    for (id, function, made) in function_pairs() {
        let intended = common::environment(&source, &function);
        let deployed: BTreeMap<String, Value> = made["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{id}: no Environment.Variables after the transform"))
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
            .collect();
        assert_eq!(deployed, intended, "{id}: Environment.Variables");
    }
}

#[test]
fn no_function_sets_a_variable_lambda_reserves() {
    for (id, _, made) in function_pairs() {
        for name in made["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flat_map(|v| v.keys())
            .filter_map(Value::as_str)
        {
            assert!(
                !LAMBDA_RESERVED_VARIABLES.contains(&name),
                "{id}: Lambda sets {name} itself and refuses it in a function's configuration"
            );
        }
    }
}

/// Every variable name `.env.example` mentions, set or commented out.
fn documented_variables() -> BTreeSet<String> {
    let path = common::repo_root().join(".env.example");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|line| line.trim_start_matches(['#', ' ']))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_variable_a_function_gets_is_documented_in_env_example() {
    let documented = documented_variables();
    for (id, _, made) in function_pairs() {
        for (name, value) in made["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            assert!(
                documented.contains(name),
                "{id}: {name} = {:?} is not documented in .env.example",
                scalar_text(value).unwrap_or_else(|| format!("{value:?}"))
            );
        }
    }
}

// --- Operations: logs, alarms, dashboard, deployments (docs/operations.md) ----------------

/// A resource of the translated template by logical id, of the type expected.
fn resource<'a>(translated: &'a Value, id: &str, kind: &str) -> &'a Value {
    let found = &translated["Resources"][id];
    assert_eq!(found["Type"].as_str(), Some(kind), "{id} is no {kind}");
    found
}

/// The logical id `value` refers to with `function` (`Ref`, or `GetAtt` of any attribute).
fn referred(value: &Value, function: &str) -> Option<String> {
    match intrinsic(value) {
        Some((f, arg)) if f == function => match f.as_str() {
            "Ref" => arg.as_str().map(str::to_owned),
            _ => one_or_many(arg).first()?.as_str().map(str::to_owned),
        },
        _ => None,
    }
}

/// The log group `id` keeps its events for the `LogRetentionDays` parameter's days.
fn assert_retained(translated: &Value, id: &str) {
    let group = resource(translated, id, "AWS::Logs::LogGroup");
    assert_eq!(
        referred(&group["Properties"]["RetentionInDays"], "Ref").as_deref(),
        Some("LogRetentionDays"),
        "{id}: RetentionInDays must be !Ref LogRetentionDays"
    );
}

#[test]
fn every_function_logs_json_to_a_log_group_of_its_own_with_the_retention_parameter() {
    let translated = translated();
    let mut groups = BTreeSet::new();
    for (id, _, made) in function_pairs() {
        let logging = &made["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"].as_str(), Some("JSON"), "{id}");
        let group = referred(&logging["LogGroup"], "Ref")
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup is no !Ref to a log group"));
        assert_retained(translated, &group);
        assert!(groups.insert(group.clone()), "{id} shares {group}");
    }
    let parameter = &common::template()["Parameters"]["LogRetentionDays"];
    assert_eq!(parameter["Type"].as_str(), Some("Number"));
}

#[test]
fn the_http_api_writes_json_access_logs_to_a_retained_log_group() {
    let translated = translated();
    let stages = resources_of_type(translated, "AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1, "one stage");
    let settings = &stages.values().next().unwrap()["Properties"]["AccessLogSettings"];
    let group = referred(&settings["DestinationArn"], "GetAtt")
        .expect("AccessLogSettings.DestinationArn is !GetAtt <log group>.Arn");
    assert_retained(translated, &group);
    let format = settings["Format"].as_str().expect("a Format string");
    let line: serde_json::Value = serde_json::from_str(format)
        .unwrap_or_else(|e| panic!("the access log format is not one JSON object ({e}): {format}"));
    for key in [
        "requestId",
        "routeKey",
        "status",
        "responseLatency",
        "integrationErrorMessage",
    ] {
        assert!(
            line.get(key).is_some(),
            "the access log has no {key}: {format}"
        );
    }
}

/// Every alarm's notification goes to the optional topic parameter, and nowhere without it.
fn assert_notifies_the_topic(id: &str, alarm: &Value) {
    let actions = &alarm["Properties"]["AlarmActions"]["Fn::If"];
    assert_eq!(
        actions[0].as_str(),
        Some("HasAlarmTopic"),
        "{id}: AlarmActions"
    );
    assert_eq!(
        referred(&actions[1][0], "Ref").as_deref(),
        Some("AlarmTopicArn"),
        "{id}: AlarmActions"
    );
    assert_eq!(
        referred(&actions[2], "Ref").as_deref(),
        Some("AWS::NoValue")
    );
}

/// The alarms on the request metrics, by metric name, and the rest by logical id.
fn alarms(translated: &Value) -> BTreeMap<String, &Value> {
    resources_of_type(translated, "AWS::CloudWatch::Alarm")
}

fn dimension(alarm: &Value, name: &str) -> Option<String> {
    one_or_many(&alarm["Properties"]["Dimensions"])
        .into_iter()
        .find(|d| d["Name"].as_str() == Some(name))
        .and_then(|d| referred(&d["Value"], "Ref"))
}

#[test]
fn the_alarms_watch_what_the_functions_write_and_notify_the_topic() {
    let translated = translated();
    let alarms = alarms(translated);
    let mut on_request_metrics = BTreeMap::new();
    for (id, alarm) in &alarms {
        assert_notifies_the_topic(id, alarm);
        let properties = &alarm["Properties"];
        if properties["Namespace"].as_str() == Some(shared::metrics::NAMESPACE) {
            let metric = properties["MetricName"].as_str().unwrap().to_owned();
            assert!(
                shared::metrics::name::ALL.contains(&metric.as_str()),
                "{id}: no function writes {metric}"
            );
            assert_eq!(
                dimension(alarm, "Service").as_deref(),
                Some("AWS::StackName"),
                "{id}: the Service dimension is the stack's name, as METRICS_SERVICE"
            );
            on_request_metrics.insert(metric, (id.as_str(), properties));
        }
    }
    for (id, _, made) in function_pairs() {
        assert_eq!(
            referred(
                &made["Properties"]["Environment"]["Variables"][shared::metrics::SERVICE_VARIABLE],
                "Ref"
            )
            .as_deref(),
            Some("AWS::StackName"),
            "{id}: {}",
            shared::metrics::SERVICE_VARIABLE
        );
    }

    // Rates (the average of a 0-or-1 per request) under the canary's 10 % share: a canary
    // failing every request it gets is caught.
    for metric in [
        shared::metrics::name::STATUS_5XX,
        shared::metrics::name::SERVICE_BUSY,
    ] {
        let (id, properties) = on_request_metrics
            .get(metric)
            .unwrap_or_else(|| panic!("no alarm on {metric}"));
        assert_eq!(properties["Statistic"].as_str(), Some("Average"), "{id}");
        let threshold = properties["Threshold"].as_f64().unwrap();
        assert!(threshold > 0.0 && threshold < 0.1, "{id}: {threshold}");
    }
    // p99 latency near, but under, the shortest timeout of a routed function.
    let (id, latency) = on_request_metrics
        .get(shared::metrics::name::LATENCY)
        .expect("no alarm on Latency");
    assert_eq!(latency["ExtendedStatistic"].as_str(), Some("p99"), "{id}");
    let shortest_timeout_ms = function_pairs()
        .iter()
        .filter(|(id, _, _)| id != "SweepUploadsFunction")
        .map(|(_, _, made)| made["Properties"]["Timeout"].as_f64().unwrap() * 1000.0)
        .fold(f64::INFINITY, f64::min);
    let threshold = latency["Threshold"].as_f64().unwrap();
    assert!(
        threshold >= shortest_timeout_ms * 0.5 && threshold < shortest_timeout_ms,
        "{id}: {threshold} ms against a {shortest_timeout_ms} ms timeout"
    );

    // Lambda's own metrics: each function's throttles, and the scheduled sweep's failures.
    let lambda_alarms: Vec<(String, String)> = alarms
        .values()
        .filter(|a| a["Properties"]["Namespace"].as_str() == Some("AWS/Lambda"))
        .filter_map(|a| {
            Some((
                a["Properties"]["MetricName"].as_str()?.to_owned(),
                dimension(a, "FunctionName")?,
            ))
        })
        .collect();
    for (id, _, _) in function_pairs() {
        assert!(
            lambda_alarms.contains(&("Throttles".into(), id.clone())),
            "{id}: no alarm on its throttles"
        );
        // A panic, timeout or out-of-memory writes no metrics line: only Lambda's Errors
        // metric sees it (the sweep's is SweepFailuresAlarm).
        assert!(
            lambda_alarms.contains(&("Errors".into(), id.clone())),
            "{id}: no alarm on its errors"
        );
    }
    for metric in ["Errors", "AsyncEventsDropped"] {
        assert!(
            lambda_alarms.contains(&(metric.into(), "SweepUploadsFunction".into())),
            "no alarm on the sweep's {metric}"
        );
    }
}

#[test]
fn every_function_is_deployed_through_its_live_alias_and_rolled_back_by_the_alarms() {
    let translated = translated();
    let aliases = resources_of_type(translated, "AWS::Lambda::Alias");
    let groups = resources_of_type(translated, "AWS::CodeDeploy::DeploymentGroup");
    let rollback_alarms: BTreeSet<String> = [
        shared::metrics::name::STATUS_5XX,
        shared::metrics::name::LATENCY,
        shared::metrics::name::SERVICE_BUSY,
    ]
    .into_iter()
    .map(|metric| {
        alarms(translated)
            .into_iter()
            .find(|(_, a)| a["Properties"]["MetricName"].as_str() == Some(metric))
            .unwrap_or_else(|| panic!("no alarm on {metric}"))
            .0
    })
    .collect();
    for (id, _, _) in function_pairs() {
        let alias_id = format!("{id}{LIVE_ALIAS}");
        let alias = aliases
            .get(&alias_id)
            .unwrap_or_else(|| panic!("{id}: no alias `live` (AutoPublishAlias)"));
        assert_eq!(alias["Properties"]["Name"].as_str(), Some("live"));
        let update = &alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"];
        let group_id = referred(&update["DeploymentGroupName"], "Ref")
            .unwrap_or_else(|| panic!("{id}: its alias is not updated through CodeDeploy"));
        let group = &groups[&group_id]["Properties"];
        let rollback = &group["AutoRollbackConfiguration"];
        assert_eq!(rollback["Enabled"].as_bool(), Some(true), "{group_id}");
        assert!(
            one_or_many(&rollback["Events"])
                .iter()
                .any(|e| e.as_str() == Some("DEPLOYMENT_STOP_ON_ALARM")),
            "{group_id}: not rolled back on alarm"
        );
        let watched: BTreeSet<String> = one_or_many(&group["AlarmConfiguration"]["Alarms"])
            .iter()
            .filter_map(|a| referred(&a["Name"], "Ref"))
            .collect();
        assert_eq!(
            watched, rollback_alarms,
            "{group_id}: the alarms that roll it back"
        );
    }
    // The schedule runs the sweep's alias too.
    let rule = resources_of_type(translated, "AWS::Events::Rule");
    let target = &one_or_many(&rule.values().next().unwrap()["Properties"]["Targets"])[0];
    assert_eq!(
        referred(&target["Arn"], "Ref").as_deref(),
        Some(format!("SweepUploadsFunction{LIVE_ALIAS}").as_str())
    );
    let deployment = &common::template()["Globals"]["Function"]["DeploymentPreference"];
    assert_eq!(
        referred(&deployment["Type"], "Ref").as_deref(),
        Some("DeploymentType")
    );
}

#[test]
fn the_dashboard_shows_every_metric_alarm_and_function_log() {
    let translated = translated();
    let dashboards = resources_of_type(translated, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body =
        common::string_or_sub(&dashboards.values().next().unwrap()["Properties"]["DashboardBody"])
            .expect("the DashboardBody is a !Sub string");
    // What CloudFormation puts in place of each ${...}: a name with no quote in it.
    let mut substituted = String::new();
    let mut rest = body;
    while let Some((before, after)) = rest.split_once("${") {
        substituted.push_str(before);
        substituted.push_str("substituted");
        rest = after.split_once('}').expect("a closed ${...}").1;
    }
    substituted.push_str(rest);
    let parsed: serde_json::Value = serde_json::from_str(&substituted)
        .unwrap_or_else(|e| panic!("the dashboard body is not JSON once substituted: {e}"));
    assert!(parsed["widgets"].as_array().is_some_and(|w| !w.is_empty()));
    let mut texts = Vec::new();
    strings_in(&parsed, &mut texts);
    for metric in shared::metrics::name::ALL {
        let searched = format!("MetricName=\"{metric}\"");
        assert!(
            texts.iter().any(|t| *t == metric || t.contains(&searched)),
            "the dashboard shows no {metric}"
        );
    }
    for id in alarms(translated).keys() {
        assert!(
            body.contains(&format!("${{{id}.Arn}}")),
            "the dashboard shows no {id}"
        );
    }
    for (id, _, made) in function_pairs() {
        if id == "SweepUploadsFunction" {
            continue;
        }
        let group = referred(&made["Properties"]["LoggingConfig"]["LogGroup"], "Ref").unwrap();
        assert!(
            body.contains(&format!("'${{{group}}}'")),
            "the dashboard's error table does not read {group}"
        );
    }
}

/// Every string in `value`, at any depth.
fn strings_in<'a>(value: &'a serde_json::Value, into: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(text) => into.push(text),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings_in(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings_in(v, into)),
        _ => {}
    }
}

/// A number as deployed: a literal, or a `!Ref` to a parameter, whose default it is then.
fn number_or_parameter_default(translated: &Value, value: &Value, what: &str) -> u64 {
    if let Some(n) = scalar_text(value).and_then(|text| text.parse().ok()) {
        return n;
    }
    match intrinsic(value) {
        Some((f, name)) if f == "Ref" => {
            let name = name.as_str().unwrap_or_default();
            let default = &translated["Parameters"][name]["Default"];
            scalar_text(default)
                .and_then(|text| text.parse().ok())
                .unwrap_or_else(|| panic!("{what}: parameter {name} has no numeric Default"))
        }
        _ => panic!("{what}: expected a number or a !Ref to a parameter, got {value:?}"),
    }
}

/// The connections the template allows us into The Plugs' database, as its Metadata states
/// them: MaxConnections less what The Plugs' backend keeps.
fn database_connection_budget() -> u64 {
    let budget = &common::template()["Metadata"]["DatabaseConnectionBudget"];
    let field = |name: &str| {
        budget[name].as_u64().unwrap_or_else(|| {
            panic!("template.yaml Metadata.DatabaseConnectionBudget.{name} is not a number")
        })
    };
    let (max, kept) = (field("MaxConnections"), field("ReservedForPlugsBackend"));
    assert!(kept < max, "the backend keeps {kept} of {max} connections");
    max - kept
}

#[test]
fn the_default_reserved_concurrency_keeps_the_connections_within_the_stated_budget() {
    let budget = database_connection_budget();
    let mut total = 0;
    let mut lines = Vec::new();
    for (id, _, made) in function_pairs() {
        let properties = &made["Properties"];
        let reserved = &properties["ReservedConcurrentExecutions"];
        assert!(
            !reserved.is_null(),
            "{id}: no ReservedConcurrentExecutions: its containers, and connections, are unbounded"
        );
        let reserved = number_or_parameter_default(translated(), reserved, &id);
        let pool = number_or_parameter_default(
            translated(),
            &properties["Environment"]["Variables"]["DATABASE_POOL_SIZE"],
            &format!("{id}: DATABASE_POOL_SIZE"),
        );
        assert!(
            reserved >= 1,
            "{id}: a reserved concurrency of 0 disables it"
        );
        total += reserved * pool;
        lines.push(format!("{id}: {reserved} x {pool}"));
    }
    assert!(
        total <= budget,
        "the functions may hold {total} database connections, the budget is {budget}:\n{}",
        lines.join("\n")
    );
}

#[test]
fn database_iam_auth_grants_rds_db_connect_to_every_function_only_when_it_is_on() {
    let translated = translated();
    assert_eq!(
        translated["Conditions"]["UseDatabaseIamAuth"],
        serde_norway::from_str::<Value>(r#"{"Fn::Equals": [{"Ref": "DatabaseIamAuth"}, "true"]}"#)
            .unwrap(),
        "UseDatabaseIamAuth"
    );
    let mut granting = Vec::new();
    for (id, resource) in translated["Resources"].as_mapping().unwrap() {
        let text = serde_json::to_string(&serde_json::to_value(resource).unwrap()).unwrap();
        if text.contains("rds-db:") {
            granting.push((id.as_str().unwrap().to_owned(), resource));
        }
    }
    let [(id, policy)] = granting.as_slice() else {
        panic!(
            "exactly one resource grants rds-db actions, got {:?}",
            granting.iter().map(|(id, _)| id).collect::<Vec<_>>()
        );
    };
    assert_eq!(
        policy["Type"].as_str(),
        Some("AWS::IAM::ManagedPolicy"),
        "{id}"
    );
    assert_eq!(
        policy["Condition"].as_str(),
        Some("UseDatabaseIamAuth"),
        "{id}: only with DatabaseIamAuth=true"
    );
    let statements = one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"]);
    let [statement] = statements.as_slice() else {
        panic!("{id}: one statement");
    };
    assert_eq!(statement["Action"].as_str(), Some("rds-db:connect"), "{id}");
    let resource = common::string_or_sub(&statement["Resource"]).unwrap_or_default();
    assert!(
        resource.ends_with(":dbuser:${DatabaseResourceId}/${DatabaseIamUser}"),
        "{id}: the one user on the one database or proxy, got {resource:?}"
    );
    let attached: BTreeSet<String> = one_or_many(&policy["Properties"]["Roles"])
        .into_iter()
        .map(|role| match intrinsic(role) {
            Some((f, name)) if f == "Ref" => name.as_str().unwrap().to_owned(),
            _ => panic!("{id}: Roles must be !Ref to function roles, got {role:?}"),
        })
        .collect();
    let roles: BTreeSet<String> = function_pairs()
        .into_iter()
        .map(
            |(fid, _, made)| match intrinsic(&made["Properties"]["Role"]) {
                Some((f, arg)) if f == "GetAtt" => arg[0].as_str().unwrap().to_owned(),
                _ => panic!("{fid}: its Role is not the one SAM made for it"),
            },
        )
        .collect();
    assert_eq!(attached, roles, "{id}: attached to every function's role");
}

#[test]
fn every_function_takes_the_proxy_endpoint_and_the_iam_login_from_the_parameters() {
    let expected: [(&str, &str); 3] = [
        ("DATABASE_HOST", r#"{"Ref": "DatabaseProxyEndpoint"}"#),
        ("DATABASE_IAM_AUTH", r#"{"Ref": "DatabaseIamAuth"}"#),
        (
            "DATABASE_USER",
            r#"{"Fn::If": ["UseDatabaseIamAuth", {"Ref": "DatabaseIamUser"}, ""]}"#,
        ),
    ];
    for (id, _, made) in function_pairs() {
        for (name, value) in expected {
            assert_eq!(
                made["Properties"]["Environment"]["Variables"][name],
                serde_norway::from_str::<Value>(value).unwrap(),
                "{id}: {name}"
            );
        }
    }
}

/// One S3 request as a bucket policy sees it: its action, and the values of the condition
/// keys it carries (a key it does not carry is absent).
struct S3Request {
    what: &'static str,
    action: &'static str,
    keys: &'static [(&'static str, &'static str)],
}

/// Whether the Deny statement `statement` applies to `request`, for the condition operators
/// the bucket policy uses (every key of every operator must hold: IAM ANDs them). An operator
/// this evaluator does not know fails the test rather than guessing.
fn deny_applies(statement: &Value, request: &S3Request) -> bool {
    let actions: Vec<String> = one_or_many(&statement["Action"])
        .into_iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let action_matches = actions.iter().any(|a| a == "s3:*" || a == request.action);
    if !action_matches {
        return false;
    }
    let Some(conditions) = statement["Condition"].as_mapping() else {
        return true;
    };
    let value_of = |key: &str| {
        request
            .keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    };
    conditions.iter().all(|(operator, keys)| {
        let operator = operator.as_str().expect("condition operators are strings");
        keys.as_mapping()
            .expect("a condition maps keys to values")
            .iter()
            .all(|(key, expected)| {
                let key = key.as_str().expect("condition keys are strings");
                let expected: Vec<String> = one_or_many(expected)
                    .into_iter()
                    .map(|v| scalar_text(v).expect("literal condition values"))
                    .collect();
                let value = value_of(key);
                match operator {
                    // A key the request lacks matches no value, so StringNotEquals holds.
                    "StringEquals" => value.is_some_and(|v| expected.iter().any(|e| e == v)),
                    "StringNotEquals" => !value.is_some_and(|v| expected.iter().any(|e| e == v)),
                    "Null" => expected.iter().all(|e| (e == "true") == value.is_none()),
                    "Bool" => expected
                        .iter()
                        .any(|e| value.is_some_and(|v| v.eq_ignore_ascii_case(e))),
                    other => panic!("the check does not evaluate the condition operator {other}"),
                }
            })
    })
}

/// The bucket policy lets through what the API and its clients send, and refuses objects
/// written with another encryption than SSE-S3. UploadPart is authorised as s3:PutObject but
/// never carries `x-amz-server-side-encryption` (a part is encrypted as its upload says): a
/// Deny of every PutObject without the header refuses every part of every multipart upload.
#[test]
fn the_bucket_policy_lets_upload_parts_through_and_refuses_other_encryption() {
    let translated = translated();
    let policy = resource(translated, "MediaBucketPolicy", "AWS::S3::BucketPolicy");
    let denies: Vec<&Value> = one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Deny"))
        .collect();
    const TLS: (&str, &str) = ("aws:SecureTransport", "true");
    const SSE_S3: (&str, &str) = ("s3:x-amz-server-side-encryption", "AES256");
    let allowed = [
        S3Request {
            what: "a PutObject with SSE-S3",
            action: "s3:PutObject",
            keys: &[TLS, SSE_S3],
        },
        S3Request {
            what: "a CreateMultipartUpload with SSE-S3",
            action: "s3:PutObject",
            keys: &[TLS, SSE_S3],
        },
        S3Request {
            what: "an UploadPart (never carries the header)",
            action: "s3:PutObject",
            keys: &[TLS],
        },
        S3Request {
            what: "a CompleteMultipartUpload",
            action: "s3:PutObject",
            keys: &[TLS],
        },
        S3Request {
            what: "a ranged GetObject",
            action: "s3:GetObject",
            keys: &[TLS],
        },
    ];
    for request in &allowed {
        let refusing: Vec<_> = denies
            .iter()
            .filter(|s| deny_applies(s, request))
            .map(|s| s["Sid"].as_str().unwrap_or("?"))
            .collect();
        assert!(
            refusing.is_empty(),
            "{} is refused by {refusing:?}",
            request.what
        );
    }
    let refused = [
        S3Request {
            what: "a PutObject with SSE-KMS",
            action: "s3:PutObject",
            keys: &[TLS, ("s3:x-amz-server-side-encryption", "aws:kms")],
        },
        S3Request {
            what: "a PutObject with a customer key (SSE-C)",
            action: "s3:PutObject",
            keys: &[
                TLS,
                (
                    "s3:x-amz-server-side-encryption-customer-algorithm",
                    "AES256",
                ),
            ],
        },
        S3Request {
            what: "a PutObject over plain HTTP",
            action: "s3:PutObject",
            keys: &[("aws:SecureTransport", "false"), SSE_S3],
        },
    ];
    for request in &refused {
        assert!(
            denies.iter().any(|s| deny_applies(s, request)),
            "{} is not refused",
            request.what
        );
    }
}

/// The lifecycle rule that aborts incomplete multipart uploads is the sweep's backstop: it
/// must not abort an upload a client may still complete. AWS counts its days from the upload's
/// start and acts at the next midnight UTC after them, so the days must exceed the upload's
/// lifetime (`shared::api::multipart::UPLOAD_TTL`).
#[test]
fn the_bucket_aborts_abandoned_multipart_uploads_only_after_they_expire() {
    let translated = translated();
    let buckets = resources_of_type(translated, "AWS::S3::Bucket");
    let bucket = buckets.get("MediaBucket").expect("the media bucket");
    let rules: Vec<&Value> = one_or_many(&bucket["Properties"]["LifecycleConfiguration"]["Rules"])
        .into_iter()
        .filter(|rule| rule["Status"].as_str() == Some("Enabled"))
        .filter(|rule| !rule["AbortIncompleteMultipartUpload"].is_null())
        .collect();
    assert!(
        !rules.is_empty(),
        "a rule aborting incomplete multipart uploads"
    );
    let ttl = shared::api::multipart::UPLOAD_TTL.num_seconds() as u64;
    for rule in rules {
        let prefix = rule["Prefix"]
            .as_str()
            .or_else(|| rule["Filter"]["Prefix"].as_str())
            .unwrap_or("");
        assert!(
            "events/".starts_with(prefix) || prefix.starts_with("events/"),
            "the rule covers where multipart uploads are (events/), not {prefix:?}"
        );
        let days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            .as_u64()
            .expect("DaysAfterInitiation");
        assert!(
            days * 86_400 > ttl,
            "DaysAfterInitiation {days} may abort an upload before its {ttl} s are over"
        );
    }
}

/// S3 server access logging: every request S3 serves for the media bucket, presigned URLs
/// included (API Gateway never sees those), lands in a private, encrypted, retained bucket
/// that only S3's logging service may write to, and only for the media bucket of this account.
#[test]
fn the_media_bucket_logs_every_request_to_a_retained_private_log_bucket() {
    let translated = translated();
    let media = resource(translated, "MediaBucket", "AWS::S3::Bucket");
    let logging = &media["Properties"]["LoggingConfiguration"];
    let target = referred(&logging["DestinationBucketName"], "Ref")
        .expect("MediaBucket: LoggingConfiguration.DestinationBucketName is no !Ref to a bucket");
    let prefix = logging["LogFilePrefix"]
        .as_str()
        .expect("MediaBucket: a LogFilePrefix");
    let log_bucket = resource(translated, &target, "AWS::S3::Bucket");
    let properties = &log_bucket["Properties"];
    assert_eq!(
        properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .as_str(),
        Some("AES256"),
        "{target}: encrypted"
    );
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            properties["PublicAccessBlockConfiguration"][flag].as_bool(),
            Some(true),
            "{target}: {flag}"
        );
    }
    let expires = one_or_many(&properties["LifecycleConfiguration"]["Rules"])
        .into_iter()
        .filter(|rule| rule["Status"].as_str() == Some("Enabled"))
        .any(|rule| {
            referred(&rule["ExpirationInDays"], "Ref").as_deref() == Some("LogRetentionDays")
        });
    assert!(expires, "{target}: its logs expire after LogRetentionDays");

    let policies = resources_of_type(translated, "AWS::S3::BucketPolicy");
    let policy = policies
        .values()
        .find(|p| referred(&p["Properties"]["Bucket"], "Ref").as_deref() == Some(&target))
        .unwrap_or_else(|| panic!("no bucket policy on {target}"));
    let allows: Vec<&Value> = one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect();
    assert_eq!(
        allows.len(),
        1,
        "{target}: one Allow, for S3's logging service"
    );
    let allow = allows[0];
    assert_eq!(
        allow["Principal"]["Service"].as_str(),
        Some("logging.s3.amazonaws.com")
    );
    assert_eq!(allow["Action"].as_str(), Some("s3:PutObject"));
    let resource_text = serde_json::to_string(&allow["Resource"]).unwrap();
    assert!(
        resource_text.contains(&format!("/{prefix}*")),
        "{target}: writes only under {prefix}: {resource_text}"
    );
    let condition = &allow["Condition"];
    assert_eq!(
        referred(&condition["ArnLike"]["aws:SourceArn"], "GetAtt").as_deref(),
        Some("MediaBucket"),
        "{target}: only for MediaBucket's logs"
    );
    assert_eq!(
        referred(&condition["StringEquals"]["aws:SourceAccount"], "Ref").as_deref(),
        Some("AWS::AccountId"),
        "{target}: only for this account"
    );
}
