//! A minimal Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`) on loopback, enough to run the real
//! function binaries: it hands out invocations on `GET /2018-06-01/runtime/invocation/next`
//! and takes their responses. Used for the cold start (exec → first poll for an invocation)
//! and for the memory of a function serving a 4 MiB upload.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
/// How long a function may take to poll or answer before the run counts as failed.
const PATIENCE: Duration = Duration::from_secs(60);

/// One request a function made to the runtime API.
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// When its request line had been read.
    pub at: Instant,
    reply: oneshot::Sender<Vec<u8>>,
}

impl Call {
    /// Answers with `status` and `body`, plus `headers`.
    pub fn reply(self, status: u16, headers: &[(&str, String)], body: &[u8]) {
        let mut head = format!("HTTP/1.1 {status} OK\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        let _ = self.reply.send(bytes);
    }

    pub fn is_next(&self) -> bool {
        self.method == "GET" && self.path == NEXT
    }
}

pub struct RuntimeApi {
    pub address: String,
    calls: mpsc::UnboundedReceiver<Call>,
}

impl RuntimeApi {
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (tx, calls) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = serve_connection(stream, tx).await;
                });
            }
        });
        Ok(Self { address, calls })
    }

    /// The next request any function makes, or an error if `child` exits first.
    pub async fn next_call(&mut self, function: &mut Function) -> Result<Call> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            // The call's time is taken where it is read, so this poll's period does not matter.
            tokio::select! {
                call = self.calls.recv() => return call.context("the runtime API stopped"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if let Some(status) = function.0.try_wait()? {
                bail!("the function exited before calling the runtime API: {status}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the function did not call the runtime API within {PATIENCE:?}");
            }
        }
    }
}

/// Reads requests off one connection (keep-alive) and hands each to the harness.
async fn serve_connection(stream: TcpStream, calls: mpsc::UnboundedSender<Call>) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let at = Instant::now();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut content_length = 0usize;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            read.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse()?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut read).await?
        } else {
            let mut body = vec![0; content_length];
            read.read_exact(&mut body).await?;
            body
        };
        let (reply, answer) = oneshot::channel();
        calls
            .send(Call {
                method,
                path,
                body,
                at,
                reply,
            })
            .ok();
        let Ok(bytes) = answer.await else {
            return Ok(());
        };
        write.write_all(&bytes).await?;
    }
}

async fn read_chunked<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        read.read_line(&mut size).await?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
        let mut chunk = vec![0; size + 2];
        read.read_exact(&mut chunk).await?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Starts `binary` as Lambda would, against `api`, with `env`.
pub fn spawn(
    binary: &Path,
    api: &RuntimeApi,
    env: &[(String, String)],
    log: &Path,
) -> Result<Function> {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("function");
    let log = std::fs::File::create(log)?;
    let child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    Ok(Function(child))
}

/// Time from exec to the function's first poll for an invocation, `runs` times.
pub async fn cold_starts(
    binary: &Path,
    api: &mut RuntimeApi,
    env: &[(String, String)],
    runs: usize,
    log: &Path,
) -> Result<crate::stats::Samples> {
    let mut samples = crate::stats::Samples::default();
    for _ in 0..runs {
        let start = Instant::now();
        let mut child = spawn(binary, api, env, log)?;
        let call = api
            .next_call(&mut child)
            .await
            .with_context(|| format!("{}: see {}", binary.display(), log.display()))?;
        if !call.is_next() {
            bail!(
                "{}: first call was {} {}",
                binary.display(),
                call.method,
                call.path
            );
        }
        samples.push(call.at - start);
        drop(child);
        drop(call);
    }
    Ok(samples)
}

/// A running function process, killed when dropped (also on the error paths).
pub struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, from /proc (kB → bytes).
pub struct Memory {
    pub rss: u64,
    pub hwm: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} in /proc/{pid}/status"))?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("a number")?
            .parse()?;
        Ok(kb * 1024)
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
    })
}

pub struct UploadMemory {
    /// After init, while the function waits for its first invocation.
    pub baseline: Memory,
    /// After it answered the upload, waiting for the next one.
    pub after: Memory,
    pub file_size: usize,
}

/// Runs the real `upload-media` binary, sends it one invocation (`event`, an API Gateway event
/// whose body is the multipart upload), and reads its memory before and after.
pub async fn upload_memory(
    binary: &Path,
    api: &mut RuntimeApi,
    env: &[(String, String)],
    event: &[u8],
    file_size: usize,
    log: &Path,
) -> Result<UploadMemory> {
    let mut child = spawn(binary, api, env, log)?;
    let pid = child.0.id();
    let context = || format!("{}: see {}", binary.display(), log.display());
    let first = api.next_call(&mut child).await.with_context(context)?;
    anyhow::ensure!(
        first.is_next(),
        "the first call is a poll for an invocation"
    );
    let baseline = memory(pid)?;
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    first.reply(
        200,
        &[
            ("content-type", "application/json".into()),
            ("lambda-runtime-aws-request-id", "bench-upload-1".into()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:upload-media".into(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            ),
        ],
        event,
    );
    let answer = api.next_call(&mut child).await.with_context(context)?;
    if answer.path != "/2018-06-01/runtime/invocation/bench-upload-1/response" {
        bail!(
            "the upload failed: {} {}: {}",
            answer.method,
            answer.path,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let response: serde_json::Value = serde_json::from_slice(&answer.body)?;
    if response["statusCode"] != 201 {
        bail!("the upload answered {response}");
    }
    answer.reply(202, &[], b"{\"status\":\"OK\"}");
    // The next poll means the invocation is over and its memory is what it kept or peaked at.
    let next = api.next_call(&mut child).await.with_context(context)?;
    anyhow::ensure!(next.is_next(), "the function polls again");
    let after = memory(pid)?;
    drop(child);
    drop(next);
    Ok(UploadMemory {
        baseline,
        after,
        file_size,
    })
}
