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
            let function = uri
                .split("${")
                .skip(1)
                .filter_map(|s| s.split_once(".Arn}").map(|(id, _)| id))
                .find_map(|id| by_logical_id.get(id))
                .unwrap_or_else(|| panic!("{method} {path}: {uri} invokes no function folder"));
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
            Some((f, arg)) if f == "Ref" => arg.as_str().map(str::to_owned),
            _ => None,
        })
        .collect();
    for route in translated_routes(translated) {
        let id = common::logical_id(&route.function);
        assert!(
            permitted.contains(&id),
            "{route}: no AWS::Lambda::Permission lets {api_id} invoke {id}"
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
    let buckets = resources_of_type(translated(), "AWS::S3::Bucket");
    assert!(
        !buckets.is_empty(),
        "no AWS::S3::Bucket after the transform"
    );
    for (id, bucket) in buckets {
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
    let policies = resources_of_type(translated, "AWS::S3::BucketPolicy");
    assert_eq!(policies.len(), 1, "one bucket policy");
    let policy = policies.values().next().unwrap();
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
    let bucket = buckets.values().next().expect("the bucket");
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
