//! Statements a connection pooler can multiplex: every query runs as PostgreSQL's unnamed
//! statement, parsed, bound and executed in one round trip (tokio-postgres' `query_typed`).
//!
//! A named prepared statement (`prepare`, `prepare_cached`, and tokio-postgres' `query` with
//! SQL text, which prepares `s0`, `s1`… behind the scenes) is session state: RDS Proxy pins
//! the session to one backend when it sees one, and PgBouncer in transaction mode (before
//! 1.21) hands the next message to another backend, which answers `prepared statement "s0"
//! does not exist`. The unnamed statement lives for one exchange, so any backend will do.
//!
//! `query_typed` needs each parameter's PostgreSQL type up front (there is no prepare step
//! to ask the server): [`Param`] derives it from the Rust type, so a call site lists its
//! parameters as before and its SQL stays as it was.

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row};
use uuid::Uuid;

/// A Rust type that always binds as one PostgreSQL type.
pub trait PgType {
    /// The type the server is told `$n` has.
    const TYPE: Type;
}

macro_rules! pg_types {
    ($($rust:ty => $pg:expr),* $(,)?) => {
        $(impl PgType for $rust {
            const TYPE: Type = $pg;
        })*
    };
}

// Text goes as `text`: PostgreSQL casts it to `varchar` on assignment and compares the two
// alike, as it did with the types the server inferred at prepare time.
pg_types! {
    bool => Type::BOOL,
    i16 => Type::INT2,
    i32 => Type::INT4,
    i64 => Type::INT8,
    String => Type::TEXT,
    &str => Type::TEXT,
    Uuid => Type::UUID,
    DateTime<Utc> => Type::TIMESTAMPTZ,
    Vec<Uuid> => Type::UUID_ARRAY,
    Vec<&str> => Type::TEXT_ARRAY,
    &[Uuid] => Type::UUID_ARRAY,
}

/// A null binds as the type of the value it stands for.
impl<T: PgType> PgType for Option<T> {
    const TYPE: Type = T::TYPE;
}

impl<T: PgType> PgType for &T {
    const TYPE: Type = T::TYPE;
}

/// A statement parameter: a value and the PostgreSQL type it binds as.
pub trait Param: ToSql + Sync {
    fn pg_type(&self) -> Type;
}

impl<T: PgType + ToSql + Sync> Param for T {
    fn pg_type(&self) -> Type {
        T::TYPE
    }
}

/// Pairs each parameter with its PostgreSQL type, as `query_typed` takes them.
pub fn typed<'a>(params: &[&'a dyn Param]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|param| (*param as &(dyn ToSql + Sync), param.pg_type()))
        .collect()
}

/// The queries of a connection or a transaction, each run as the unnamed statement.
pub trait Unnamed: Sync {
    /// Every row the statement returns.
    fn query_unnamed(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;

    /// The one row the statement returns (an error when there is none or more).
    fn query_one_unnamed(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> impl Future<Output = Result<Row, Error>> + Send;

    /// The row the statement returns, if any (an error when there are several).
    fn query_opt_unnamed(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send;

    /// How many rows the statement changed.
    fn execute_unnamed(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}

macro_rules! unnamed_for {
    ($($client:ty),*) => {
        $(impl Unnamed for $client {
            async fn query_unnamed(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>, Error> {
                self.query_typed(sql, &typed(params)).await
            }

            async fn query_one_unnamed(&self, sql: &str, params: &[&dyn Param]) -> Result<Row, Error> {
                self.query_typed_one(sql, &typed(params)).await
            }

            async fn query_opt_unnamed(
                &self,
                sql: &str,
                params: &[&dyn Param],
            ) -> Result<Option<Row>, Error> {
                self.query_typed_opt(sql, &typed(params)).await
            }

            async fn execute_unnamed(&self, sql: &str, params: &[&dyn Param]) -> Result<u64, Error> {
                self.execute_typed(sql, &typed(params)).await
            }
        })*
    };
}

unnamed_for!(
    tokio_postgres::Client,
    tokio_postgres::Transaction<'_>,
    deadpool_postgres::Client,
    deadpool_postgres::Transaction<'_>
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_binds_as_the_type_of_the_value_it_stands_for() {
        let none: Option<Uuid> = None;
        let text: Option<&str> = None;
        let types: Vec<Type> = typed(&[&none, &text, &Some(3_i64)])
            .into_iter()
            .map(|(_, ty)| ty)
            .collect();
        assert_eq!(types, [Type::UUID, Type::TEXT, Type::INT8]);
    }

    #[test]
    fn a_reference_binds_as_what_it_points_to() {
        let name = "0001_init";
        let ids = [Uuid::nil()];
        let types: Vec<Type> = typed(&[&&name, &&ids[..], &&&true])
            .into_iter()
            .map(|(_, ty)| ty)
            .collect();
        assert_eq!(types, [Type::TEXT, Type::UUID_ARRAY, Type::BOOL]);
    }
}
