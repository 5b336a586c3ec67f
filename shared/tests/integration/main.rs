//! Integration tests: the endpoints called in-process with API Gateway fixtures, against a
//! real PostgreSQL and a real S3-compatible server (SeaweedFS, SigV4 verified). Start them
//! with `./scripts/test.sh`.

mod access;
mod analysis;
mod batches;
mod browser_cors;
mod corpus;
mod delete;
mod direct;
mod faults;
mod iam_auth;
mod limits;
mod logs;
mod metrics;
mod migrations;
mod multipart;
mod one_check;
mod plugs_shapes;
mod pooler;
mod previews;
mod read;
mod relay;
mod secrets;
mod storage;
mod support;
mod sweep;
mod upload;
mod zones;
