//! A TCP relay in front of the test S3 server that lets a test act between two of the API's
//! own S3 calls: it runs a hook once, just before it forwards the first request whose head
//! names a given header. The API under test talks to it like to S3 (SigV4 signs the Host the
//! client used, and the relay passes every byte through unchanged).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts a relay to the stack's S3 server; returns its endpoint URL. Before forwarding the
/// first request that carries the header `trigger` (lowercase), it awaits `hook`.
pub async fn s3_relay(trigger: &'static str, hook: Hook) -> String {
    let upstream = std::env::var("AWS_ENDPOINT_URL_S3")
        .expect("AWS_ENDPOINT_URL_S3 is set by the test stack")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hook = Arc::new(Mutex::new(Some(hook)));
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let hook = hook.clone();
            tokio::spawn(async move {
                if let Ok(outbound) = TcpStream::connect(&upstream).await {
                    relay(inbound, outbound, trigger, hook).await;
                }
            });
        }
    });
    url
}

/// Copies both ways until either side closes, holding back the triggering request until the
/// hook has run.
async fn relay(
    inbound: TcpStream,
    outbound: TcpStream,
    trigger: &'static str,
    hook: Arc<Mutex<Option<Hook>>>,
) {
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    let needle = format!("\r\n{trigger}:");
    let mut seen_tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // A header name may straddle two reads: look at the end of the last one too.
        let mut window = std::mem::take(&mut seen_tail);
        window.extend_from_slice(&buf[..n]);
        if contains_ignoring_case(&window, needle.as_bytes()) {
            let pending = hook.lock().unwrap().take();
            if let Some(pending) = pending {
                pending.await;
            }
        }
        seen_tail = window[window.len().saturating_sub(needle.len())..].to_vec();
        if to_server.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = answers.await;
}

fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}
