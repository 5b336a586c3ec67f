//! `plugs-schema`: builds The Plugs' schema, in the shape `PLUGS_SCHEMA` names (`seed`,
//! `current`, or unset for none), in the empty database of `DATABASE_URL`, before this
//! service's migrations run. The stacks of `scripts/lib.sh` (`scripts/dev.sh`, the e2e flow of
//! `scripts/test.sh`) call it, so their database has the shape the integration tests give
//! each of theirs, from the same SQL through the same code ([`PlugsSchema`]).

use std::process::ExitCode;

use anyhow::{Context, Result};
use secrecy::SecretString;
use test_support::PlugsSchema;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match build().await {
        Ok(schema) => {
            eprintln!("The Plugs' schema: {schema:?}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn build() -> Result<PlugsSchema> {
    let schema = PlugsSchema::from_env()?;
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    let pool = shared::db::pool(&SecretString::from(url), 1)?;
    let client = pool.get().await.context("the database is reachable")?;
    schema
        .build(&client, false)
        .await
        .with_context(|| format!("building The Plugs' {schema:?} schema"))?;
    Ok(schema)
}
