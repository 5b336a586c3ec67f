//! The bucket's CORS rules as template.yaml declares them (the `AWS::S3::Bucket`'s
//! `CorsConfiguration.CorsRules`), for a local S3 server: the same methods, allowed headers,
//! exposed headers and max age, with the given origins in place of the template's (which come
//! from a stack parameter). So a browser test on the local stack meets the rule AWS applies.

use anyhow::{Context as _, bail};
use aws_sdk_s3::types::CorsRule;
use serde_norway::Value;

/// The CORS rules of the media bucket in `template` (SAM/CloudFormation YAML), each allowing
/// `origins` instead of its own.
pub fn bucket_cors_rules(template: &str, origins: &[String]) -> anyhow::Result<Vec<CorsRule>> {
    let template: Value = serde_norway::from_str(template).context("the template is not YAML")?;
    let bucket = the_bucket(&template)?;
    let rules = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .context("the bucket has no CorsConfiguration.CorsRules list")?;
    if rules.is_empty() {
        bail!("the bucket's CorsRules list is empty");
    }
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| cors_rule(rule, origins).with_context(|| format!("CorsRules[{i}]")))
        .collect()
}

/// The media bucket, by its logical id (the stack's other bucket holds its access logs and
/// serves no browser).
const MEDIA_BUCKET: &str = "MediaBucket";

fn the_bucket(template: &Value) -> anyhow::Result<&Value> {
    let bucket = &template["Resources"][MEDIA_BUCKET];
    if bucket["Type"].as_str() != Some("AWS::S3::Bucket") {
        bail!("the template has no AWS::S3::Bucket named {MEDIA_BUCKET}");
    }
    Ok(bucket)
}

fn cors_rule(rule: &Value, origins: &[String]) -> anyhow::Result<CorsRule> {
    if rule["AllowedOrigins"].is_null() {
        bail!("no AllowedOrigins");
    }
    let max_age = match &rule["MaxAge"] {
        Value::Null => None,
        value => Some(
            value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .context("MaxAge must be a literal number of seconds")?,
        ),
    };
    let mut builder = CorsRule::builder()
        .set_allowed_origins(Some(origins.to_vec()))
        .set_allowed_methods(Some(literal_list(rule, "AllowedMethods")?))
        .set_max_age_seconds(max_age)
        .set_id(rule["Id"].as_str().map(str::to_owned));
    if !rule["AllowedHeaders"].is_null() {
        builder = builder.set_allowed_headers(Some(literal_list(rule, "AllowedHeaders")?));
    }
    // CloudFormation's ExposedHeaders is S3's ExposeHeaders.
    if !rule["ExposedHeaders"].is_null() {
        builder = builder.set_expose_headers(Some(literal_list(rule, "ExposedHeaders")?));
    }
    Ok(builder.build()?)
}

/// A list of plain strings; an intrinsic function (`!Ref`, `!If`…) cannot be applied locally.
fn literal_list(rule: &Value, field: &str) -> anyhow::Result<Vec<String>> {
    let items = rule[field]
        .as_sequence()
        .with_context(|| format!("{field} must be a literal list, got {:?}", rule[field]))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .with_context(|| format!("{field}: {item:?} is not a literal string"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  AccessLogs:
    Type: AWS::S3::Bucket
  MediaBucket:
    Type: AWS::S3::Bucket
    Properties:
      CorsConfiguration:
        CorsRules:
          - AllowedOrigins: !Ref AllowedCorsOrigins
            AllowedMethods: [GET, PUT]
            AllowedHeaders: [content-type, x-amz-meta-*]
            ExposedHeaders: [ETag]
            MaxAge: 3000
"#;

    fn origins() -> Vec<String> {
        vec!["http://localhost:8001".to_owned()]
    }

    #[test]
    fn the_rule_is_the_templates_with_the_given_origins() {
        let rules = bucket_cors_rules(TEMPLATE, &origins()).unwrap();
        assert_eq!(rules.len(), 1);
        let rule = &rules[0];
        assert_eq!(rule.allowed_origins(), ["http://localhost:8001"]);
        assert_eq!(rule.allowed_methods(), ["GET", "PUT"]);
        assert_eq!(rule.allowed_headers(), ["content-type", "x-amz-meta-*"]);
        assert_eq!(rule.expose_headers(), ["ETag"]);
        assert_eq!(rule.max_age_seconds(), Some(3000));
    }

    #[test]
    fn an_intrinsic_in_a_field_that_is_not_the_origins_is_refused() {
        let template = TEMPLATE.replace(
            "AllowedHeaders: [content-type, x-amz-meta-*]",
            "AllowedHeaders: !Ref Headers",
        );
        let err = bucket_cors_rules(&template, &origins()).unwrap_err();
        assert!(format!("{err:#}").contains("AllowedHeaders"), "{err:#}");
    }

    #[test]
    fn a_template_without_bucket_cors_is_refused() {
        let template = TEMPLATE.split("      CorsConfiguration:").next().unwrap();
        assert!(bucket_cors_rules(template, &origins()).is_err());
    }

    #[test]
    fn the_projects_template_has_a_rule_that_applies_locally() {
        let template = include_str!("../../template.yaml");
        let rules = bucket_cors_rules(template, &origins()).unwrap();
        assert!(
            rules
                .iter()
                .any(|r| r.allowed_methods().iter().any(|m| m == "PUT"))
        );
    }
}
