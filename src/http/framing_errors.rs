//! hyper answers a request it cannot parse (a bad request line or header: 400; a URI over
//! 64 KiB: 414; too many or too large headers: 431) by itself, before any layer of ours sees
//! it, and hyper offers no hook for that answer. Those answers would go out without the
//! security headers, the request id and the JSON body that every other response carries.
//!
//! This wrapper sits between hyper and the socket and recognises such an answer as it is
//! written: a response head from hyper with one of those statuses and no `x-request-id`
//! (every response of ours has one, set by the outermost layer). It writes our response in
//! its place — same status, our headers, our JSON body, `connection: close` — and reports
//! hyper's bytes as written. hyper closes the connection after such an answer, so nothing
//! follows it. Everything else passes through untouched; the check is a prefix compare on
//! each write.

use super::error::ApiError;
use super::middleware::security_headers::{HEADERS, HSTS};
use axum::http::{StatusCode, header};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose own-error answers from hyper are rewritten into ours.
pub struct Hardened<T> {
    inner: T,
    tls: bool,
    /// A replacement being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> Hardened<T> {
    /// Wrap `inner`; `tls` adds HSTS to the rewritten answers, as to every other.
    pub fn new(inner: T, tls: bool) -> Self {
        Self {
            inner,
            tls,
            pending: None,
        }
    }
}

/// The status of a response head hyper wrote for a request it could not parse, if `buf`
/// is one.
fn hyper_error_status(buf: &[u8]) -> Option<StatusCode> {
    let status = match buf.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => StatusCode::BAD_REQUEST,
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => StatusCode::URI_TOO_LONG,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &buf[..head_end];
    let ours = head
        .windows(15)
        .any(|w| w.eq_ignore_ascii_case(b"\nx-request-id: "));
    (!ours).then_some(status)
}

/// Our answer for `status`, as bytes on the wire.
fn replacement(status: StatusCode, tls: bool) -> Vec<u8> {
    let error = match status {
        StatusCode::URI_TOO_LONG => ApiError::OtherClientError(status),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::OtherClientError(status),
        _ => ApiError::BadRequest("The request could not be parsed".to_owned()),
    };
    let (_, code, body) = error.described();
    let body = body.to_string().into_bytes();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    )
    .into_bytes();
    let mut line = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    line(header::CONTENT_TYPE.as_str(), b"application/json");
    line("x-error-code", code.as_bytes());
    for (name, value) in &HEADERS {
        line(name.as_str(), value.as_bytes());
    }
    if tls {
        line(header::STRICT_TRANSPORT_SECURITY.as_str(), HSTS.as_bytes());
    }
    line("x-request-id", uuid::Uuid::new_v4().to_string().as_bytes());
    line("connection", b"close");
    line("content-length", body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

impl<T: AsyncWrite + Unpin> Hardened<T> {
    /// Write out a pending replacement.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    fn replace(
        &mut self,
        cx: &mut Context<'_>,
        status: StatusCode,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        self.pending = Some((replacement(status, self.tls), 0));
        // Whatever is not out yet goes out on the flush hyper makes next.
        if let Poll::Ready(Err(err)) = self.poll_pending(cx) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(len))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Hardened<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Hardened<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(status) = hyper_error_status(buf) {
            return self.replace(cx, status, buf.len());
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let first = bufs.iter().find(|b| !b.is_empty());
        if let Some(first) = first
            && let Some(status) = hyper_error_status(first)
        {
            let total = bufs.iter().map(|b| b.len()).sum();
            return self.replace(cx, status, total);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_heads_from_hyper_itself_are_recognised() {
        let hyper =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(
            hyper_error_status(hyper),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-request-id: abc\r\n\r\n{}";
        assert_eq!(hyper_error_status(ours), None);
        assert_eq!(hyper_error_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(hyper_error_status(b"{\"HTTP/1.1 400 \"}"), None);
        assert_eq!(hyper_error_status(b"HTTP/1.1 400 no end of head"), None);
    }

    #[test]
    fn the_replacement_carries_our_headers_and_body() {
        let text = String::from_utf8(replacement(StatusCode::URI_TOO_LONG, true)).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        for expected in [
            "content-type: application/json\r\n",
            "x-content-type-options: nosniff\r\n",
            "cache-control: no-store\r\n",
            "strict-transport-security: ",
            "x-request-id: ",
            "x-error-code: request.rejected\r\n",
            "connection: close\r\n",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "URI Too Long");
        assert_eq!(json["message"], "The request target is too long");
    }
}
