//! A fault-injecting HTTP/1.1 proxy on loopback, between kubeseen and the S3 test server.
//!
//! In: the upstream endpoint (`http://127.0.0.1:<port>`) and [`Rule`]s. Out: an endpoint to
//! give kubeseen (`--s3-endpoint`), and counts of the requests seen and the faults injected.
//! Each client connection is served by its own thread; requests are parsed well enough to
//! forward them (Content-Length and chunked bodies, keep-alive), each over a fresh upstream
//! connection, and the upstream response is read by its framing (Content-Length, chunked, or
//! to the end) and relayed byte for byte — unless a rule injects a [`Fault`] instead.
//! Rules are checked in order; the first whose schedule fires on a request decides its fate.
//! Invariant: binds 127.0.0.1 only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answer this status with an S3 XML error of this code; the request never reaches S3.
    Status(u16, &'static str),
    /// Forward the request (it takes effect), then answer this status and code instead.
    StatusAfterApply(u16, &'static str),
    /// Forward the request, then wait this long before answering (past the client's timeout).
    Slow(Duration),
    /// Read the request, then close the connection without forwarding or answering.
    ResetBeforeForward,
    /// Forward the request (it takes effect), then close the connection without answering.
    ResetAfterApply,
    /// Forward, then send the response head and half its body, and close the connection.
    TruncateResponse,
    /// Send upstream the request head and half its body, then close both connections: an
    /// upload cut off half-way.
    TruncateRequest,
}

impl Fault {
    /// A short stable name for reports.
    pub fn name(&self) -> String {
        match self {
            Fault::Status(s, c) => format!("{s} {c}"),
            Fault::StatusAfterApply(s, c) => format!("{s} {c} after applying"),
            Fault::Slow(d) => format!("response delayed {}ms", d.as_millis()),
            Fault::ResetBeforeForward => "connection reset before forwarding".into(),
            Fault::ResetAfterApply => "connection reset after applying".into(),
            Fault::TruncateResponse => "truncated response body".into(),
            Fault::TruncateRequest => "truncated request body".into(),
        }
    }
}

/// Which requests a rule applies to, and when it fires.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `PUT`, `GET`, `HEAD`, `DELETE`, `POST`; any when `None`.
    pub method: Option<&'static str>,
    /// A substring of the request target (path and query); any when `None`.
    pub target_contains: Option<String>,
    /// A fault on every `every`-th matching request, from the first (1: each one).
    pub every: u64,
    /// Instead of `every`: a fault with this probability, drawn from the proxy's seeded RNG.
    pub chance: Option<f64>,
    /// At most this many faults.
    pub limit: u64,
    /// The faults to inject, in turn.
    pub faults: Vec<Fault>,
}

impl Rule {
    /// `fault` on every `every`-th request (any method, any key), without limit.
    pub fn every(every: u64, fault: Fault) -> Rule {
        Rule {
            method: None,
            target_contains: None,
            every,
            chance: None,
            limit: u64::MAX,
            faults: vec![fault],
        }
    }

    pub fn method(mut self, m: &'static str) -> Rule {
        self.method = Some(m);
        self
    }

    pub fn target(mut self, s: &str) -> Rule {
        self.target_contains = Some(s.to_string());
        self
    }

    /// At most `n` faults: with `every(1, …)`, the first `n` matching requests.
    pub fn limit(mut self, n: u64) -> Rule {
        self.limit = n;
        self
    }
}

struct State {
    rules: Vec<Rule>,
    matched: Vec<u64>,
    injected: Vec<u64>,
    rng: u64,
    /// Per request seen, the fault injected into it.
    log: Vec<Option<Fault>>,
}

impl State {
    fn next_random(&mut self) -> f64 {
        // xorshift64*: reproducible for a seed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn decide(&mut self, method: &str, target: &str) -> Option<Fault> {
        let mut chosen = None;
        for i in 0..self.rules.len() {
            let r = &self.rules[i];
            if r.method.is_some_and(|m| m != method)
                || r.target_contains.as_deref().is_some_and(|t| !target.contains(t))
            {
                continue;
            }
            self.matched[i] += 1;
            let n = self.matched[i];
            if chosen.is_some() || self.injected[i] >= r.limit {
                continue;
            }
            let fire = match r.chance {
                Some(p) => self.next_random() < p,
                None => (n - 1) % r.every.max(1) == 0,
            };
            if fire {
                let kinds = self.rules[i].faults.len();
                let k = if kinds == 1 {
                    0
                } else {
                    ((self.next_random() * kinds as f64) as usize).min(kinds - 1)
                };
                let f = self.rules[i].faults[k];
                self.injected[i] += 1;
                chosen = Some(f);
            }
        }
        self.log.push(chosen);
        chosen
    }
}

struct Shared {
    upstream: SocketAddr,
    stop: AtomicBool,
    state: Mutex<State>,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:<port>`), with no rules yet.
    pub fn start(upstream: &str, seed: u64) -> FaultProxy {
        let hostport = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/');
        let upstream: SocketAddr = hostport.parse().expect("upstream is 127.0.0.1:<port>");
        assert!(upstream.ip().is_loopback(), "loopback only: {upstream}");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                rules: Vec::new(),
                matched: Vec::new(),
                injected: Vec::new(),
                rng: seed.max(1),
                log: Vec::new(),
            }),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        FaultProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rules; counts and the log start again from zero.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        let mut st = self.shared.state.lock().expect("proxy state");
        st.matched = vec![0; rules.len()];
        st.injected = vec![0; rules.len()];
        st.rules = rules;
        st.log.clear();
    }

    /// Faults injected since the rules were set.
    pub fn injected(&self) -> u64 {
        self.shared.state.lock().expect("proxy state").injected.iter().sum()
    }

    /// Faults injected since the rules were set, by fault name.
    pub fn injected_by_fault(&self) -> BTreeMap<String, u64> {
        let st = self.shared.state.lock().expect("proxy state");
        let mut out = BTreeMap::new();
        for f in st.log.iter().flatten() {
            *out.entry(f.name()).or_default() += 1;
        }
        out
    }

    /// Requests seen since the rules were set.
    pub fn requests(&self) -> usize {
        self.shared.state.lock().expect("proxy state").log.len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// A request or response: its head as received, parsed bits, and its body as on the wire.
struct Message {
    head: Vec<u8>,
    first_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Framed by the end of the connection (no length, not chunked).
    until_close: bool,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || self.first_line.starts_with("HTTP/1.0")
            || self.until_close
    }
}

/// Reads a message head (the body is left empty); `None` at a clean end of the connection.
fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    let mut first = String::new();
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "head cut off"));
        }
        head.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if first.is_empty() {
            if text.is_empty() {
                continue; // stray CRLF between messages
            }
            first = text;
        } else if text.is_empty() {
            return Ok(Some(Message {
                head,
                first_line: first,
                headers,
                body: Vec::new(),
                until_close: false,
            }));
        } else if let Some((k, v)) = text.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// Reads a body framed by `headers` (`None` length and not chunked: none for requests, to
/// the end for responses that may have one).
fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    to_end_if_unframed: bool,
) -> std::io::Result<(Vec<u8>, bool)> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut raw = Vec::new();
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line)? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "chunk cut off"));
            }
            raw.extend_from_slice(&line);
            let size_text = String::from_utf8_lossy(&line);
            let size_text = size_text.trim().split(';').next().unwrap_or("").to_string();
            let size = usize::from_str_radix(&size_text, 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    let mut t = Vec::new();
                    if r.read_until(b'\n', &mut t)? == 0 {
                        return Ok((raw, false));
                    }
                    raw.extend_from_slice(&t);
                    if t == b"\r\n" || t == b"\n" {
                        return Ok((raw, false));
                    }
                }
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            raw.extend_from_slice(&chunk);
        }
    }
    if let Some(n) = get("content-length") {
        let n: usize = n
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad content-length"))?;
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        return Ok((body, false));
    }
    if to_end_if_unframed {
        let mut body = Vec::new();
        r.read_to_end(&mut body)?;
        return Ok((body, true));
    }
    Ok((Vec::new(), false))
}

fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Message>> {
    let Some(mut m) = read_head(r)? else {
        return Ok(None);
    };
    m.body = read_body(r, &m.headers, false)?.0;
    Ok(Some(m))
}

/// Sends `req` upstream over a fresh connection and reads the response.
fn forward(up: SocketAddr, req: &Message, method: &str) -> std::io::Result<Message> {
    let mut conn = TcpStream::connect(up)?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    conn.write_all(&req.head)?;
    conn.write_all(&req.body)?;
    conn.flush()?;
    let mut r = BufReader::new(conn);
    loop {
        let Some(mut m) = read_head(&mut r)? else {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response"));
        };
        let status: u16 = m
            .first_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&status) {
            continue; // interim response
        }
        if method != "HEAD" && status != 204 && status != 304 {
            (m.body, m.until_close) = read_body(&mut r, &m.headers, true)?;
        }
        return Ok(m);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

fn error_response(status: u16, code: &str, target: &str, method: &str, n: u64) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the kubeseen fault proxy</Message><Resource>{}</Resource><RequestId>fault-{n}</RequestId></Error>",
        target.replace('&', "&amp;").replace('<', "&lt;")
    );
    let len = if method == "HEAD" { 0 } else { body.len() };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/xml\r\nContent-Length: {len}\r\nx-amz-request-id: fault-{n}\r\n\r\n",
        reason(status)
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

fn serve(client: TcpStream, shared: &Shared) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut out = client;
    let mut n = 0u64;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            _ => return,
        };
        n += 1;
        let mut parts = req.first_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let fault = match shared.state.lock() {
            Ok(mut st) => st.decide(&method, &target),
            Err(_) => return,
        };
        let up = shared.upstream;
        let keep = match fault {
            None => match forward(up, &req, &method) {
                Ok(resp) => {
                    if out
                        .write_all(&resp.head)
                        .and_then(|_| out.write_all(&resp.body))
                        .is_err()
                    {
                        return;
                    }
                    !resp.wants_close() && !req.wants_close()
                }
                Err(_) => false,
            },
            Some(Fault::Status(status, code)) => {
                if out
                    .write_all(&error_response(status, code, &target, &method, n))
                    .is_err()
                {
                    return;
                }
                !req.wants_close()
            }
            Some(Fault::StatusAfterApply(status, code)) => {
                let _ = forward(up, &req, &method);
                if out
                    .write_all(&error_response(status, code, &target, &method, n))
                    .is_err()
                {
                    return;
                }
                !req.wants_close()
            }
            Some(Fault::Slow(d)) => {
                if let Ok(resp) = forward(up, &req, &method) {
                    std::thread::sleep(d);
                    let _ = out.write_all(&resp.head).and_then(|_| out.write_all(&resp.body));
                }
                false
            }
            Some(Fault::ResetBeforeForward) => false,
            Some(Fault::ResetAfterApply) => {
                let _ = forward(up, &req, &method);
                false
            }
            Some(Fault::TruncateResponse) => {
                if let Ok(resp) = forward(up, &req, &method) {
                    let _ = out.write_all(&resp.head);
                    let _ = out.write_all(&resp.body[..resp.body.len() / 2]);
                }
                false
            }
            Some(Fault::TruncateRequest) => {
                if let Ok(mut conn) = TcpStream::connect(up) {
                    let _ = conn.write_all(&req.head);
                    let _ = conn.write_all(&req.body[..req.body.len() / 2]);
                    let _ = conn.flush();
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                }
                false
            }
        };
        let _ = out.flush();
        if !keep {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}
