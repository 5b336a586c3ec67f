//! What only an operator runs, kept out of `shared` so that no Lambda function compiles or
//! links it: the `plugs-media` binary calls it, and the tests call it in-process.

pub mod analyze;
pub mod migrate_files;
