//! What the integration tests (`shared/tests/integration`), the CLI tests (`cli/tests`) and the
//! benchmark (`bench`) share, written once: a fresh database and bucket on the local stack
//! ([`stack`]), the `events/` fixtures and the bodies they carry ([`fixtures`]), the in-process
//! call of an endpoint ([`dispatch`]), and what "rows and objects agree" means
//! ([`consistency`]). Dev-only: no function links it.

pub mod consistency;
pub mod dispatch;
pub mod emf;
pub mod fixtures;
pub mod plugs;
pub mod stack;

pub use consistency::Snapshot;
pub use dispatch::{Endpoint, fixture_of, serve};
pub use fixtures::{BOUNDARY, Part, jpeg, multipart_body, multipart_content_type, png};
pub use plugs::PlugsSchema;
pub use stack::Scratch;
