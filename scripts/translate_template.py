#!/usr/bin/env python3
"""Runs the SAM transform on template.yaml offline and writes the CloudFormation template that
AWS will deploy (AWS::Lambda::Function, AWS::ApiGatewayV2::Api with its OpenAPI body…) as JSON.

    .venv/bin/python scripts/translate_template.py [TEMPLATE] [OUTPUT]

It is the translation `sam validate` runs (SAM CLI's own SamTemplateValidator, with the pinned
aws-sam-translator): local CodeUris stand in as S3 URIs, no parameter values are given, so
every `!Ref` to a parameter is left for CloudFormation as it would be in any account. Nothing
here calls AWS: managed policy names are not looked up (the template names none), the region
is given, and the AWS config files are hidden. deploy-checks (tests/translated.rs) runs it and
asserts on the output.
"""

import json
import os
import sys

# Before boto3 is imported: no profile, no credentials file, no instance metadata.
os.environ.update(
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_EC2_METADATA_DISABLED="true",
    SAM_CLI_TELEMETRY="0",
)

from samcli.lib.translate.sam_template_validator import SamTemplateValidator  # noqa: E402
from samcli.yamlhelper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    """Stands in for the loader that lists AWS managed policies through IAM. Asked only when a
    function names a managed policy; this template grants inline statements only."""

    def load(self):
        return {}


def translate(template_text):
    validator = SamTemplateValidator(yaml_parse(template_text), NoManagedPolicies(), region="us-east-1")
    return yaml_parse(validator.get_translated_template_if_valid())


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    output = sys.argv[2] if len(sys.argv) > 2 else "target/template.translated.json"
    with open(source) as f:
        translated = translate(f.read())
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    partial = output + ".partial"
    with open(partial, "w") as f:
        json.dump(translated, f, indent=1, sort_keys=True)
    os.replace(partial, output)
    print(f"{source}: translated to {output} ({len(translated['Resources'])} resources)")


if __name__ == "__main__":
    main()
