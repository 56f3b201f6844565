//! What the authenticator reads of a request, independent of the web framework: the
//! request line and headers as the `http` crate's types (which every Rust HTTP stack
//! shares), the client address, the route for the record, and a body it reads only when a
//! credential covers the body.
//!
//! The headers are borrowed whole rather than copied field by field: an RFC 9421 signature
//! may cover any header the client chose, so the authenticator cannot know in advance which
//! ones matter.

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use std::future::Future;
use std::net::IpAddr;

/// A request as authentication sees it. The HTTP layer makes one from each request; a
/// forward-auth endpoint makes one from the forwarded method and target instead.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The method the signature and the CSRF rule see.
    pub method: &'a Method,
    /// The request target the signature covers (origin form).
    pub uri: &'a Uri,
    /// The request's headers: credentials, cookies, signature fields and covered headers.
    pub headers: &'a HeaderMap,
    /// `http` or `https` as the client addressed us; `None`: as configured
    /// (`AuthnPolicy::scheme`).
    pub scheme: Option<&'a str>,
    /// The client address (after trusted proxies), when known.
    pub client: Option<IpAddr>,
    /// The matched route pattern (`/api/keys/{id}`: never the raw path), for logs and audit.
    pub route: Option<&'a str>,
}

/// Why the body could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over the server's body limit.
    #[error("the body exceeds the size limit")]
    TooLarge,
    /// The connection failed or the framing was bad.
    #[error("the body could not be read")]
    Unreadable,
    /// There is no body to read: a forward-auth request carries only the headers of the
    /// request it decides on.
    #[error("the body is not available here")]
    Unavailable,
}

/// A request body, read at most once and only when a credential covers it (after the key's
/// limit has admitted the request, so an unlimited read is never done for a refused caller).
pub trait RequestBody: Send {
    /// The whole body, bounded by the server's body limit.
    fn read(&mut self) -> impl Future<Output = Result<Bytes, BodyError>> + Send;
}

/// No body: a request that has none, or whose body is not passed to us (forward-auth).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBody;

impl RequestBody for NoBody {
    async fn read(&mut self) -> Result<Bytes, BodyError> {
        Err(BodyError::Unavailable)
    }
}
