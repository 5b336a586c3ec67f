//! What the database secret's text means: a whole `postgres://` URL, or the JSON that RDS
//! writes for a managed (rotating) secret, `{"username", "password", "host", "port",
//! "dbname", "engine", ...}`. Either way the result is one URL, with the non-secret
//! `DATABASE_OPTIONS` added to it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::PoolSetupError;

/// The fields of an RDS database secret that locate and open the database; the others
/// (`engine`, `dbInstanceIdentifier`, ...) are ignored.
#[derive(Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
    host: String,
    #[serde(default)]
    port: Option<Port>,
    #[serde(default)]
    dbname: Option<String>,
}

/// RDS writes the port as a number; hand-written secrets often have a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Port {
    Number(u16),
    Text(String),
}

const DEFAULT_PORT: u16 = 5432;
/// RDS omits `dbname` when the instance was created without one; PostgreSQL then has only
/// its default database.
const DEFAULT_DBNAME: &str = "postgres";

/// The connection URL for the secret's text plus `options` (URL query form).
pub fn database_url(
    secret: &SecretString,
    options: Option<&str>,
) -> Result<SecretString, PoolSetupError> {
    let text = secret.expose_secret().trim();
    let url = if text.starts_with('{') {
        url_from_rds_json(text)?
    } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        text.to_owned()
    } else {
        // Never echo the text: it is a secret, possibly mistyped.
        return Err(PoolSetupError(
            "the database secret is neither a postgres:// URL nor RDS's JSON".into(),
        ));
    };
    Ok(with_options(url, options).into())
}

fn url_from_rds_json(text: &str) -> Result<String, PoolSetupError> {
    let secret: RdsSecret = serde_json::from_str(text).map_err(|e| {
        // serde_json quotes a mistyped value in its message: keep only a missing field's name.
        let detail = e.to_string();
        let detail = if detail.starts_with("missing field") {
            detail.split(" at line").next().unwrap_or_default().to_owned()
        } else {
            "a field is missing its value or has the wrong type".to_owned()
        };
        PoolSetupError(format!(
            "the database secret is not RDS's JSON (username, password, host, port, dbname): {detail}"
        ))
    })?;
    let port = match secret.port {
        None => DEFAULT_PORT,
        Some(Port::Number(port)) => port,
        Some(Port::Text(text)) => text.trim().parse().map_err(|_| {
            PoolSetupError("the database secret's port is not a port number".into())
        })?,
    };
    let dbname = secret.dbname.as_deref().unwrap_or(DEFAULT_DBNAME);
    Ok(format!(
        "postgres://{}:{}@{}:{port}/{}",
        encode(&secret.username),
        encode(&secret.password),
        host_for_url(&secret.host),
        encode(dbname),
    ))
}

/// An IPv6 literal needs brackets in a URL.
fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Appends `options` to the URL's query; later parameters win, so the options override the
/// same parameter in a URL secret.
fn with_options(url: String, options: Option<&str>) -> String {
    let Some(options) = options.map(|o| o.trim().trim_start_matches(['?', '&'])) else {
        return url;
    };
    if options.is_empty() {
        return url;
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{options}")
}

/// The URL with `host` (a host or host:port: an RDS Proxy endpoint, say) in place of its
/// host and port, and `user` in place of its user; its password, database and query kept.
pub fn with_endpoint(
    url: SecretString,
    host: Option<&str>,
    user: Option<&str>,
) -> Result<SecretString, PoolSetupError> {
    if host.is_none() && user.is_none() {
        return Ok(url);
    }
    let text = url.expose_secret();
    let unusable = || PoolSetupError("the database URL has no host to replace".into());
    let (scheme, rest) = text.split_once("://").ok_or_else(unusable)?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let host_port = host.map(str::trim).unwrap_or(host_port);
    if host_port.is_empty() || host_port.contains(['/', '?', '@']) {
        return Err(PoolSetupError(
            "DATABASE_HOST must be a host or host:port".into(),
        ));
    }
    let userinfo = match (user, userinfo) {
        (None, userinfo) => userinfo.map(str::to_owned),
        (Some(user), None) => Some(encode(user)),
        (Some(user), Some(userinfo)) => Some(match userinfo.split_once(':') {
            Some((_, password)) => format!("{}:{password}", encode(user)),
            None => encode(user),
        }),
    };
    let authority = match userinfo {
        Some(userinfo) => format!("{userinfo}@{host_port}"),
        None => host_port.to_owned(),
    };
    Ok(format!("{scheme}://{authority}{tail}").into())
}

/// RFC 3986's unreserved characters stay as they are; everything else is percent-encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(part: &str) -> String {
    utf8_percent_encode(part, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(secret: &str, options: Option<&str>) -> Result<String, PoolSetupError> {
        database_url(&secret.to_owned().into(), options).map(|u| u.expose_secret().to_owned())
    }

    #[test]
    fn an_rds_secret_becomes_a_url_with_the_options() {
        let secret = r#"{"engine":"postgres","username":"plugs","password":"p@ss/w:rd?&",
            "host":"db.abc.eu-west-1.rds.amazonaws.com","port":5432,"dbname":"plugs",
            "dbInstanceIdentifier":"plugs-db"}"#;
        assert_eq!(
            url(
                secret,
                Some("sslmode=verify-full&sslrootcert=/opt/rds-global-bundle.pem")
            )
            .unwrap(),
            "postgres://plugs:p%40ss%2Fw%3Ard%3F%26@db.abc.eu-west-1.rds.amazonaws.com:5432/plugs\
             ?sslmode=verify-full&sslrootcert=/opt/rds-global-bundle.pem"
        );
    }

    #[test]
    fn an_rds_secret_may_omit_port_and_dbname_or_write_the_port_as_text() {
        let secret = r#"{"username":"u","password":"p","host":"h"}"#;
        assert_eq!(url(secret, None).unwrap(), "postgres://u:p@h:5432/postgres");
        let secret = r#"{"username":"u","password":"p","host":"h","port":"6543","dbname":"d"}"#;
        assert_eq!(url(secret, None).unwrap(), "postgres://u:p@h:6543/d");
    }

    #[test]
    fn a_url_secret_gets_the_options_after_its_own() {
        assert_eq!(
            url(
                "postgres://u:p@h/d?sslmode=require",
                Some("sslmode=verify-full")
            )
            .unwrap(),
            "postgres://u:p@h/d?sslmode=require&sslmode=verify-full"
        );
        assert_eq!(
            url(" postgresql://u:p@h/d \n", Some("")).unwrap(),
            "postgresql://u:p@h/d"
        );
    }

    fn endpoint(url: &str, host: Option<&str>, user: Option<&str>) -> String {
        with_endpoint(url.to_owned().into(), host, user)
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    #[test]
    fn a_proxy_endpoint_replaces_the_host_and_keeps_the_rest() {
        let url = "postgres://plugs:p%40ss@db.abc.eu-west-1.rds.amazonaws.com:5432/plugs?sslmode=verify-full";
        assert_eq!(
            endpoint(
                url,
                Some("plugs.proxy-xyz.eu-west-1.rds.amazonaws.com"),
                None
            ),
            "postgres://plugs:p%40ss@plugs.proxy-xyz.eu-west-1.rds.amazonaws.com/plugs?sslmode=verify-full"
        );
        assert_eq!(
            endpoint("postgres://u@h/d", Some("proxy:6432"), Some("iam user")),
            "postgres://iam%20user@proxy:6432/d"
        );
        assert_eq!(
            endpoint("postgresql://u:p@h:1?x=y", None, Some("plugs_media")),
            "postgresql://plugs_media:p@h:1?x=y"
        );
        assert_eq!(
            endpoint("postgres://h/d", None, Some("u")),
            "postgres://u@h/d"
        );
        assert_eq!(
            endpoint("postgres://u:p@h/d", None, None),
            "postgres://u:p@h/d"
        );
    }

    #[test]
    fn a_proxy_endpoint_that_is_no_host_is_refused() {
        for host in ["", "a/b", "u@h"] {
            assert!(
                with_endpoint("postgres://u:p@h/d".to_owned().into(), Some(host), None).is_err()
            );
        }
    }

    #[test]
    fn a_bad_secret_is_refused_without_echoing_it() {
        for secret in [
            "hunter2",
            r#"{"username":"u","host":"h"}"#,
            r#"{"username":"u","password":"hunter2","host":"h","port":"x"}"#,
            r#"{"username":"hunter2","password":"p","host":["hunter2"]}"#,
        ] {
            let err = url(secret, None).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
