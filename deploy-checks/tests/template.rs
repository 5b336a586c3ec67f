//! What `sam validate --lint` and cfn-lint do not check in template.yaml: how the functions
//! are built and run, that their S3 and Secrets Manager permissions are least-privilege, that
//! secrets are passed by ARN and read at run time (never resolved into the configuration),
//! that the bucket the stack creates is hardened, and that the README gives its CORS rule for
//! a bucket the stack does not create.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    Value, actions, effective_property, functions, intrinsic, is_s3_action, logical_id,
    one_or_many, policy_entries, resources_of_type, scalar_text, string_or_sub,
};

/// API Gateway's HTTP API gives up on an integration after 30 s.
const HTTP_API_TIMEOUT_SECONDS: u64 = 30;

/// Lambda's own limit, for functions no API waits on (the scheduled sweep).
const LAMBDA_TIMEOUT_SECONDS: u64 = 900;

const BUCKET_ARN: &str = "arn:${AWS::Partition}:s3:::${BucketName}";

/// S3 actions on the bucket itself rather than on objects: only these may name the bucket's
/// ARN, and only these may lack a key prefix.
const BUCKET_ACTIONS: &[&str] = &["s3:ListBucket", "s3:ListBucketMultipartUploads"];

#[test]
fn every_function_is_built_with_cargo_lambda_for_arm64_on_al2023() {
    let template = common::template();
    let functions = functions(&template);
    assert!(!functions.is_empty());
    for (id, function) in functions {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}: Metadata.BuildMethod"
        );
        let runtime = effective_property(&template, function, "Runtime");
        assert_eq!(runtime.as_str(), Some("provided.al2023"), "{id}: Runtime");
        let handler = effective_property(&template, function, "Handler");
        assert_eq!(handler.as_str(), Some("bootstrap"), "{id}: Handler");
        let architectures = effective_property(&template, function, "Architectures");
        let architectures: Vec<_> = one_or_many(architectures)
            .into_iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(architectures, [Some("arm64")], "{id}: Architectures");
    }
}

fn has_http_route(function: &Value) -> bool {
    function["Properties"]["Events"]
        .as_mapping()
        .is_some_and(|events| {
            events
                .values()
                .any(|e| e["Type"].as_str() == Some("HttpApi"))
        })
}

#[test]
fn every_routed_function_answers_before_the_http_api_gives_up() {
    let template = common::template();
    let mut routed = 0;
    for (id, function) in functions(&template) {
        let timeout = effective_property(&template, function, "Timeout")
            .as_u64()
            .unwrap_or_else(|| panic!("{id}: Timeout must be a literal number of seconds"));
        if has_http_route(function) {
            routed += 1;
            assert!(
                timeout < HTTP_API_TIMEOUT_SECONDS,
                "{id}: Timeout {timeout} s must be under the HTTP API's {HTTP_API_TIMEOUT_SECONDS} s"
            );
        } else {
            assert!(
                timeout <= LAMBDA_TIMEOUT_SECONDS,
                "{id}: Timeout {timeout} s"
            );
        }
    }
    assert!(routed > 0, "no function is behind the HTTP API");
}

#[test]
fn every_function_logs_json() {
    let template = common::template();
    for (id, function) in functions(&template) {
        let logging = effective_property(&template, function, "LoggingConfig");
        assert_eq!(
            logging["LogFormat"].as_str(),
            Some("JSON"),
            "{id}: LoggingConfig.LogFormat"
        );
    }
}

#[test]
fn every_route_is_on_the_one_http_api() {
    let template = common::template();
    let apis = resources_of_type(&template, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "one AWS::Serverless::HttpApi");
    let api = apis.keys().next().unwrap();
    for (id, function) in functions(&template) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let api_id = intrinsic(&event["Properties"]["ApiId"]);
            assert!(
                matches!(api_id, Some((ref f, arg)) if f == "Ref" && arg.as_str() == Some(api)),
                "{id}.Events.{name:?}: ApiId must be !Ref {api}"
            );
        }
    }
}

/// The IAM statements a function's `Policies` grant, and the other entries (managed policy
/// names, SAM policy templates) as text.
#[test]
fn s3_permissions_name_their_actions_and_are_scoped_to_a_prefix_of_the_bucket() {
    let template = common::template();
    for (id, function) in functions(&template) {
        let (statements, others) = policy_entries(function);
        for other in others {
            assert!(
                !other.to_ascii_lowercase().contains("s3"),
                "{id}: S3 access only through explicit statements, not `{}`",
                other.trim()
            );
        }
        for statement in statements {
            assert!(
                statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
                "{id}: NotAction/NotResource grant more than they say"
            );
            let actions = actions(statement);
            if !actions.iter().any(|a| is_s3_action(a)) {
                continue;
            }
            for action in &actions {
                assert!(
                    !action.contains('*'),
                    "{id}: `{action}`: name each S3 action, no wildcards"
                );
            }
            let on_bucket = actions
                .iter()
                .filter(|a| BUCKET_ACTIONS.contains(&a.as_str()))
                .count();
            assert!(
                on_bucket == 0 || on_bucket == actions.len(),
                "{id}: {actions:?}: bucket and object actions belong in separate statements"
            );
            let resources = one_or_many(&statement["Resource"]);
            assert!(
                !resources.is_empty(),
                "{id}: an S3 statement without Resource"
            );
            for resource in resources {
                let arn = string_or_sub(resource).unwrap_or_else(|| {
                    panic!("{id}: S3 resources must be literal or !Sub ARNs, got {resource:?}")
                });
                if on_bucket > 0 {
                    assert_eq!(
                        arn, BUCKET_ARN,
                        "{id}: {actions:?} must name the media bucket"
                    );
                    continue;
                }
                let key_pattern = arn
                    .strip_prefix(BUCKET_ARN)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .unwrap_or_else(|| {
                        panic!("{id}: `{arn}` is not an object ARN of the media bucket ({BUCKET_ARN}/...)")
                    });
                let prefix = key_pattern.split('*').next().unwrap_or_default();
                assert!(
                    prefix.ends_with('/') && prefix.len() > 1 && !prefix.contains(".."),
                    "{id}: `{arn}` must be limited to a key prefix such as events/*"
                );
            }
        }
    }
}

/// The template parameters holding the secrets' ARNs.
const DATABASE_SECRET: &str = "DatabaseSecretArn";
const JWT_SECRET: &str = "JwtSecretArn";
const PREVIEW_SECRET: &str = "PreviewSigningKeyArn";

/// The secrets a function may read, as the parameters naming them: the database's for
/// every function, the JWT key's for those the registry says check tokens.
fn expected_secrets(id: &str) -> BTreeSet<String> {
    let spec = shared::endpoint::functions()
        .find(|spec| logical_id(spec.name) == id)
        .unwrap_or_else(|| panic!("{id} is not a function of the registry"));
    let mut secrets = BTreeSet::from([DATABASE_SECRET.to_owned()]);
    if spec.needs(shared::endpoint::Capability::JwtKey) {
        secrets.insert(JWT_SECRET.to_owned());
    }
    if spec.needs(shared::endpoint::Capability::PreviewKey) {
        secrets.insert(PREVIEW_SECRET.to_owned());
    }
    secrets
}

/// Every environment variable a function runs with: the Globals ones with its own over them.
fn environment(template: &Value, function: &Value) -> BTreeMap<String, Value> {
    let mut variables = BTreeMap::new();
    for scope in [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &function["Properties"]["Environment"]["Variables"],
    ] {
        for (name, value) in scope.as_mapping().into_iter().flatten() {
            variables.insert(name.as_str().unwrap().to_owned(), value.clone());
        }
    }
    variables
}

fn is_ref_to(value: &Value, parameter: &str) -> bool {
    matches!(intrinsic(value), Some((ref f, arg)) if f == "Ref" && arg.as_str() == Some(parameter))
}

#[test]
fn secrets_are_passed_by_arn_and_read_at_run_time() {
    let template = common::template();
    for (id, function) in functions(&template) {
        let variables = environment(&template, function);
        for (name, value) in &variables {
            let text = serde_norway::to_string(value).unwrap();
            assert!(
                !text.contains("{{resolve:"),
                "{id}: {name} is a dynamic reference, resolved into the configuration in plain text"
            );
        }
        for value_variable in ["DATABASE_URL", "SECRET_KEY", "PREVIEW_SIGNING_KEY"] {
            assert!(
                !variables.contains_key(value_variable),
                "{id}: {value_variable} would put the secret's value in the configuration"
            );
        }
        assert!(
            variables
                .get("DATABASE_SECRET_ARN")
                .is_some_and(|v| is_ref_to(v, DATABASE_SECRET)),
            "{id}: DATABASE_SECRET_ARN must be !Ref {DATABASE_SECRET}"
        );
        let preview = variables.get("PREVIEW_SIGNING_KEY_ARN");
        assert_eq!(
            preview.is_some_and(|v| is_ref_to(v, PREVIEW_SECRET)),
            expected_secrets(&id).contains(PREVIEW_SECRET),
            "{id}: PREVIEW_SIGNING_KEY_ARN is !Ref {PREVIEW_SECRET} exactly when it signs or checks preview URLs"
        );
        let jwt = variables.get("JWT_SECRET_ARN");
        if expected_secrets(&id).contains(JWT_SECRET) {
            assert!(
                jwt.is_some_and(|v| is_ref_to(v, JWT_SECRET)),
                "{id}: JWT_SECRET_ARN must be !Ref {JWT_SECRET}"
            );
        } else {
            let jwt_variables: Vec<&String> =
                variables.keys().filter(|k| k.starts_with("JWT_")).collect();
            assert!(
                jwt_variables.is_empty(),
                "{id} checks no tokens, yet gets {jwt_variables:?}"
            );
        }
    }
    // Nothing secret-looking may sit in a parameter default either.
    let parameters = template["Parameters"].as_mapping().expect("Parameters");
    for (name, parameter) in parameters {
        let default = scalar_text(&parameter["Default"]).unwrap_or_default();
        assert!(
            !default.contains("://") || !default.contains('@'),
            "parameter {name:?} has a credential-bearing default"
        );
    }
}

#[test]
fn each_function_may_read_exactly_its_own_secrets() {
    let template = common::template();
    for (id, function) in functions(&template) {
        let (statements, others) = policy_entries(function);
        for other in &others {
            assert!(
                !other.to_ascii_lowercase().contains("secretsmanager"),
                "{id}: secret access only through explicit statements, not `{}`",
                other.trim()
            );
        }
        let mut granted = BTreeSet::new();
        for statement in statements {
            let actions = actions(statement);
            if !actions
                .iter()
                .any(|a| a == "*" || a.to_ascii_lowercase().starts_with("secretsmanager:"))
            {
                continue;
            }
            assert_eq!(
                actions,
                ["secretsmanager:GetSecretValue"],
                "{id}: a function only reads its secrets"
            );
            for resource in one_or_many(&statement["Resource"]) {
                match intrinsic(resource) {
                    Some((f, arg)) if f == "Ref" && arg.as_str().is_some() => {
                        granted.insert(arg.as_str().unwrap().to_owned());
                    }
                    _ => panic!(
                        "{id}: secret resources must be !Ref to a secret ARN parameter, got {resource:?}"
                    ),
                }
            }
        }
        assert_eq!(
            granted,
            expected_secrets(&id),
            "{id}: the secrets it may read"
        );
    }
}

fn bucket(template: &Value) -> (&Value, &Value) {
    // The media bucket; the other one holds its access logs.
    let buckets = resources_of_type(template, "AWS::S3::Bucket");
    assert_eq!(
        buckets.len(),
        2,
        "the media bucket and its access-log bucket"
    );
    let bucket_id = "MediaBucket".to_owned();
    let bucket = buckets[&bucket_id];
    let policies = resources_of_type(template, "AWS::S3::BucketPolicy");
    let policy = policies
        .values()
        .find(|p| {
            matches!(intrinsic(&p["Properties"]["Bucket"]),
                     Some((ref f, arg)) if f == "Ref" && arg.as_str() == Some(bucket_id.as_str()))
        })
        .unwrap_or_else(|| panic!("no AWS::S3::BucketPolicy on {bucket_id}"));
    (bucket, policy)
}

#[test]
fn the_bucket_encrypts_with_sse_s3_by_default() {
    let template = common::template();
    let (bucket, _) = bucket(&template);
    let rules =
        one_or_many(&bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]);
    assert!(
        rules.iter().any(|rule| {
            rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"].as_str() == Some("AES256")
        }),
        "the bucket must default to SSE-S3 (AES256)"
    );
}

#[test]
fn the_bucket_blocks_all_public_access() {
    let template = common::template();
    let (bucket, _) = bucket(&template);
    let block = &bucket["Properties"]["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            scalar_text(&block[setting]).as_deref(),
            Some("true"),
            "PublicAccessBlockConfiguration.{setting}"
        );
    }
}

/// The bucket policy's Deny statements whose condition `operator: {key: value}` holds.
fn denies<'a>(policy: &'a Value, operator: &str, key: &str, value: &str) -> Vec<&'a Value> {
    one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Deny") && s["Principal"].as_str() == Some("*"))
        .filter(|s| scalar_text(&s["Condition"][operator][key]).as_deref() == Some(value))
        .collect()
}

fn covers_objects(statement: &Value) -> bool {
    one_or_many(&statement["Resource"])
        .into_iter()
        .filter_map(string_or_sub)
        .any(|arn| arn.ends_with("/*"))
}

#[test]
fn the_bucket_policy_refuses_plain_http() {
    let template = common::template();
    let (_, policy) = bucket(&template);
    let tls = denies(policy, "Bool", "aws:SecureTransport", "false");
    assert!(
        tls.iter().any(|s| {
            actions(s).iter().any(|a| a == "s3:*")
                && covers_objects(s)
                && one_or_many(&s["Resource"]).iter().any(|r| {
                    matches!(intrinsic(r), Some((ref f, arg)) if f == "GetAtt"
                        && string_or_sub(arg).is_some_and(|a| a.ends_with(".Arn")))
                })
        }),
        "a Deny of s3:* on the bucket and its objects when aws:SecureTransport is false"
    );
}

#[test]
fn the_bucket_policy_refuses_puts_with_another_encryption() {
    let template = common::template();
    let (_, policy) = bucket(&template);
    let sse = denies(
        policy,
        "StringNotEquals",
        "s3:x-amz-server-side-encryption",
        "AES256",
    );
    assert!(
        sse.iter()
            .any(|s| actions(s).iter().any(|a| a == "s3:PutObject") && covers_objects(s)),
        "a Deny of s3:PutObject whose x-amz-server-side-encryption is not AES256 (what each \
         request is let through or refused is checked on the translated template)"
    );
}

#[test]
fn the_bucket_expires_temp_objects_and_abandoned_multipart_uploads() {
    let template = common::template();
    let (bucket, _) = bucket(&template);
    let rules: Vec<&Value> = one_or_many(&bucket["Properties"]["LifecycleConfiguration"]["Rules"])
        .into_iter()
        .filter(|rule| rule["Status"].as_str() == Some("Enabled"))
        .collect();
    assert!(
        rules.iter().any(|rule| {
            let prefix = rule["Prefix"]
                .as_str()
                .or_else(|| rule["Filter"]["Prefix"].as_str());
            prefix == Some("temp/") && rule["ExpirationInDays"].as_u64() == Some(1)
        }),
        "an enabled rule expiring temp/ after 1 day"
    );
    assert!(
        rules.iter().any(|rule| {
            rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
                .as_u64()
                .is_some()
        }),
        "an enabled rule aborting incomplete multipart uploads"
    );
}

/// The `cors.json` the README gives for an existing bucket (`CreateBucket=false`).
fn readme_bucket_cors_rules() -> Vec<Value> {
    let path = common::repo_root().join("README.md");
    let text = std::fs::read_to_string(&path).expect("README.md");
    let start = "cat > cors.json <<'EOF'\n";
    let block = text
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("\nEOF\n"))
        .map(|(block, _)| block)
        .expect("README.md gives the bucket's CORS rule in a `cat > cors.json <<'EOF'` block");
    // JSON is YAML.
    let json: Value = serde_norway::from_str(block).expect("the README's cors.json is JSON");
    one_or_many(&json["CORSRules"])
        .into_iter()
        .cloned()
        .collect()
}

#[test]
fn the_readme_gives_the_templates_bucket_cors_rule_for_an_existing_bucket() {
    let template = common::template();
    let (bucket, _) = bucket(&template);
    let rules = one_or_many(&bucket["Properties"]["CorsConfiguration"]["CorsRules"]);
    let readme = readme_bucket_cors_rules();
    assert_eq!(
        readme.len(),
        rules.len(),
        "one README rule per template rule"
    );
    // CloudFormation's names on the left, S3's (put-bucket-cors) on the right.
    for (rule, given) in rules.into_iter().zip(&readme) {
        for (ours, theirs) in [
            ("AllowedMethods", "AllowedMethods"),
            ("AllowedHeaders", "AllowedHeaders"),
            ("ExposedHeaders", "ExposeHeaders"),
            ("MaxAge", "MaxAgeSeconds"),
        ] {
            assert_eq!(
                given[theirs], rule[ours],
                "README's cors.json {theirs} differs from template.yaml's {ours}"
            );
        }
    }
}

#[test]
fn the_inline_download_parameter_allows_exactly_what_the_config_accepts() {
    let template = common::template();
    let parameter = &template["Parameters"]["InlineDownloadMaxBytes"];
    assert_eq!(
        parameter["MaxValue"].as_u64(),
        Some(shared::config::MAX_INLINE_DOWNLOAD_BYTES),
        "a larger value would let download answer more than Lambda can return"
    );
    assert_eq!(parameter["MinValue"].as_u64(), Some(0));
    let default = parameter["Default"].as_u64().expect("a numeric default");
    assert!(default <= shared::config::MAX_INLINE_DOWNLOAD_BYTES);
}
