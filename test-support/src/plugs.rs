//! Databases in the shapes of The Plugs' schema (`test-support/plugs-schema/`), chosen for a
//! test run by `PLUGS_SCHEMA`: `seed` (title, description and tags on `event_media`),
//! `current` (zones, as The Plugs' revision `7a9d6f4f8420` left it) or unset (an empty
//! database: this service's migrations alone, which give the current shape).

use anyhow::{Result, bail};
use shared::db;

/// The variable that picks the shape every test database is built in.
pub const PLUGS_SCHEMA: &str = "PLUGS_SCHEMA";

const SEED: &str = include_str!("../plugs-schema/seed.sql");
/// Seed-era rows (a user, an event, three media rows), for any database in the seed shape.
pub const SEED_ROWS: &str = include_str!("../plugs-schema/rows.sql");
const CURRENT: &str = include_str!("../plugs-schema/current.sql");

/// What a test database holds before this service's migrations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlugsSchema {
    /// Nothing: a database of this service's own.
    Empty,
    /// The Plugs' tables in the seed era.
    Seed,
    /// The Plugs' tables after `7a9d6f4f8420`.
    Current,
}

impl PlugsSchema {
    /// The shape `PLUGS_SCHEMA` asks for.
    pub fn from_env() -> Result<Self> {
        match std::env::var(PLUGS_SCHEMA).as_deref() {
            Err(_) | Ok("") => Ok(Self::Empty),
            Ok("seed") => Ok(Self::Seed),
            Ok("current") => Ok(Self::Current),
            Ok(other) => bail!("{PLUGS_SCHEMA}={other}: expected seed, current or nothing"),
        }
    }

    /// The SQL that builds this shape, with The Plugs' seed rows when `with_rows` (moved into
    /// zones on the current shape, as `7a9d6f4f8420` moved them).
    pub fn sql(self, with_rows: bool) -> String {
        let rows = if with_rows { SEED_ROWS } else { "" };
        match self {
            Self::Empty => String::new(),
            Self::Seed => format!("{SEED}\n{rows}"),
            Self::Current => format!("{SEED}\n{rows}\n{CURRENT}"),
        }
    }

    /// Builds this shape in the (empty) database of `client`.
    pub async fn build(self, client: &db::Client, with_rows: bool) -> Result<()> {
        client.batch_execute(&self.sql(with_rows)).await?;
        Ok(())
    }
}
