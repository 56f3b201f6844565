//! A request refused before its body was read (a bad token, a missing key, an oversized
//! body) leaves bytes on the connection. hyper then closes the connection rather than read
//! them, but without saying so: a client that pooled the connection sends its next request
//! into a closing socket and gets "connection closed without response". This layer watches
//! whether the body was read to its end and, when it was not, answers with
//! `Connection: close`, so clients open a fresh connection instead of reusing a dying one.
//! Reading the body to be polite is not an option: a refusal must not cost the server the
//! upload it refused.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderValue, request};
use axum::response::Response;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// Whether a watched body was read to its end; `None` when the request declared no body.
pub struct Unread(Option<Arc<AtomicBool>>);

/// Watch the request's body, when it declares one.
pub fn watch(request: Request) -> (Request, Unread) {
    if !declares_body(request.headers()) {
        return (request, Unread(None));
    }
    let ended = Arc::new(AtomicBool::new(false));
    let (parts, body): (request::Parts, Body) = request.into_parts();
    let watched = Body::new(Watched {
        inner: body,
        ended: Arc::clone(&ended),
    });
    (Request::from_parts(parts, watched), Unread(Some(ended)))
}

impl Unread {
    /// Say `Connection: close` on `response` when the body was not read to its end.
    pub fn finish(self, response: &mut Response) {
        if self.0.is_some_and(|ended| !ended.load(Ordering::Acquire)) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

fn declares_body(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// A body that notes when it has been read to its end.
struct Watched {
    inner: Body,
    ended: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.ended.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
