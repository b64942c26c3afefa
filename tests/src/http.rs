//! A minimal HTTP/1.1 client for plain-HTTP URLs: presigned emulator URLs and `obctl dev`, as a browser would call them.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response: status, headers (names lower-cased, in order) and the de-chunked body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// Every value of a header.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends one request and returns the status and the (de-chunked) body.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let reply = exchange(method, url, headers, body).await;
    (reply.status, reply.body)
}

/// Sends one request and returns the whole response.
pub async fn exchange(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    let rest = url.strip_prefix("http://").expect("plain-HTTP URLs only");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send head");
    stream.write_all(body).await.expect("send body");
    // Read the head, then exactly the body its framing announces: some servers
    // (chromedriver) keep the connection open despite `Connection: close`.
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.expect("read response");
        assert!(
            n > 0,
            "the connection closed before a complete response head"
        );
        response.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let header_lines: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let head = head.to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut body = response[split + 4..].to_vec();
    let length = head.lines().find_map(|line| {
        line.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let complete = match length {
            Some(length) => body.len() >= length,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete || method == "HEAD" || status == 204 || status == 304 {
            break;
        }
        let n = stream.read(&mut chunk).await.expect("read response");
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers: header_lines,
        body,
    }
}

/// A JSON request; returns the status and the parsed body (`Null` when empty).
pub async fn json(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if body.is_some() {
        all.push(("Content-Type".into(), "application/json".into()));
    }
    let (status, reply) = request(method, url, &all, &bytes).await;
    let value = if reply.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&reply).expect("a JSON body")
    };
    (status, value)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&data[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .expect("a chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}
