//! A request id on every request: in the response's `X-Request-Id`, and in the audit record
//! of a token request, so that a refusal a user reports can be found in the audit. A trusted
//! proxy's `X-Request-Id` is kept (the id the load balancer logged); from anyone else it is
//! replaced, so a client cannot make its records look like another's.
//!
//! An id is this process's random prefix and a counter (`k3fq9a2m-1f4`): unique without a
//! random number per request, cheap enough for the warm path.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;

use super::AppState;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest id kept from a proxy.
const MAX_LEN: usize = 64;

/// The id of the request being served (on its thread while polled: [`scope`]): a number of this process, or
/// the id a trusted proxy gave. Kept as a number until written: text is made twice per
/// request (the header, the audit record) on the stack.
#[derive(Clone, Debug)]
pub enum RequestId {
    Own(u64),
    Proxy(HeaderValue),
}

impl RequestId {
    /// The id of the request being served on this task (`Own(0)` outside the middleware,
    /// in unit tests). Kept on the thread while the request is polled ([`scope`]) rather
    /// than in the request's extensions: an extension is a box and a map insertion on
    /// every request.
    pub fn current() -> RequestId {
        RequestId::on_this_thread().unwrap_or(RequestId::Own(0))
    }

    /// The id as text, written into `buf`.
    pub fn write<'b>(&'b self, buf: &'b mut [u8; 48]) -> &'b str {
        match self {
            RequestId::Own(n) => {
                let len = id_for(prefix(), *n, buf);
                std::str::from_utf8(&buf[..len]).unwrap_or("")
            }
            RequestId::Proxy(v) => v.to_str().unwrap_or(""),
        }
    }

    fn header(&self) -> HeaderValue {
        match self {
            RequestId::Own(n) => {
                let mut buf = [0u8; 48];
                let len = id_for(prefix(), *n, &mut buf);
                HeaderValue::from_bytes(&buf[..len]).expect("base32 and hex digits")
            }
            RequestId::Proxy(v) => v.clone(),
        }
    }
}

fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 5];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase()
    })
}

fn next_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Writes `PREFIX-N` (N in hex) into `buf`; its length.
fn id_for(prefix: &str, n: u64, buf: &mut [u8; 48]) -> usize {
    let p = prefix.as_bytes();
    buf[..p.len()].copy_from_slice(p);
    buf[p.len()] = b'-';
    let mut end = p.len() + 1;
    let nibbles = (64 - (n | 1).leading_zeros()).div_ceil(4);
    for i in (0..nibbles).rev() {
        buf[end] = b"0123456789abcdef"[((n >> (i * 4)) & 0xf) as usize];
        end += 1;
    }
    end
}

/// A proxy's id, if it is one we keep: short, and only characters safe in a log.
fn acceptable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// Gives `req` its id (called by the edge middleware, `deadline::body_deadline`, which
/// every request goes through: one middleware layer less on the warm path); the id to put
/// on the response.
pub fn assign(req: &ServiceRequest) -> RequestId {
    let from_proxy = req.headers().get(&X_REQUEST_ID).filter(|v| {
        acceptable(v)
            && req
                .app_data::<web::Data<AppState>>()
                .is_some_and(|s| s.proxies.via_trusted_proxy(req.request()))
    });
    match from_proxy {
        Some(v) => RequestId::Proxy(v.clone()),
        None => RequestId::Own(next_id()),
    }
}

thread_local! {
    /// The id of the request being polled on this thread: 0 for none (own ids start at 1),
    /// [`PROXY_ID`] for a proxy's id, which is then in `CURRENT_PROXY`.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    static CURRENT_PROXY: RefCell<Option<HeaderValue>> = const { RefCell::new(None) };
}

/// `CURRENT`'s value while a request with a proxy's id is polled.
const PROXY_ID: u64 = u64::MAX;

/// Runs `f` (the rest of the request) with `id` as the current request's id: every log
/// line written while it is polled carries it (`telemetry.rs`). The id is set on the
/// thread for each poll and put back after, two thread-local writes a poll; tokio's
/// task-local cost some 650 instructions a request, and a `tracing` span, formatted for
/// every request, far more.
pub fn scope<F: Future + Unpin>(id: RequestId, f: F) -> WithId<F> {
    WithId { id, inner: f }
}

/// The future [`scope`] returns.
pub struct WithId<F> {
    id: RequestId,
    inner: F,
}

/// Puts the previous id back when a poll ends, also when it panics.
struct Restore {
    id: u64,
    proxy: Option<Option<HeaderValue>>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.set(self.id);
        if let Some(p) = self.proxy.take() {
            CURRENT_PROXY.with(|c| *c.borrow_mut() = p);
        }
    }
}

impl<F: Future + Unpin> Future for WithId<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _restore = match &this.id {
            RequestId::Own(n) => Restore {
                id: CURRENT.replace(*n),
                proxy: None,
            },
            RequestId::Proxy(v) => Restore {
                id: CURRENT.replace(PROXY_ID),
                proxy: Some(CURRENT_PROXY.with(|c| c.replace(Some(v.clone())))),
            },
        };
        Pin::new(&mut this.inner).poll(cx)
    }
}

impl RequestId {
    /// The id of the request being polled on this thread, if any.
    fn on_this_thread() -> Option<RequestId> {
        match CURRENT.get() {
            0 => None,
            PROXY_ID => CURRENT_PROXY.with(|c| c.borrow().clone().map(RequestId::Proxy)),
            n => Some(RequestId::Own(n)),
        }
    }
}

/// Calls `f` with the current request's id, if a request is being served on this thread.
pub fn with_current<R>(f: impl FnOnce(&str) -> R) -> Option<R> {
    let id = RequestId::on_this_thread()?;
    let mut buf = [0u8; 48];
    Some(f(id.write(&mut buf)))
}

/// Puts the request's id on its response.
pub fn stamp<B>(res: &mut ServiceResponse<B>, id: &RequestId) {
    res.headers_mut().insert(X_REQUEST_ID, id.header());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_the_prefix_and_the_counter_in_hex() {
        let text = |n| {
            let mut buf = [0u8; 48];
            let len = id_for("abc", n, &mut buf);
            String::from_utf8(buf[..len].to_vec()).unwrap()
        };
        assert_eq!(text(0), "abc-0");
        assert_eq!(text(1), "abc-1");
        assert_eq!(text(0x1f4), "abc-1f4");
        assert_eq!(text(u64::MAX), "abc-ffffffffffffffff");
        assert_eq!(prefix().len(), 8);
    }

    #[test]
    fn ids_are_unique_and_a_proxys_is_kept_only_when_safe_to_log() {
        let (a, b) = (RequestId::Own(next_id()), RequestId::Own(next_id()));
        assert_ne!(a.header(), b.header());
        assert!(acceptable(&a.header()), "{a:?}");
        assert!(acceptable(&HeaderValue::from_static("lb-7f3a:0001")));
        assert!(!acceptable(&HeaderValue::from_static("a b")));
        assert!(!acceptable(&HeaderValue::from_static("x\"y")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(65)).unwrap()
        ));
    }

    #[tokio::test]
    async fn the_id_is_current_only_while_its_request_is_polled_and_nesting_puts_it_back() {
        let text = || with_current(|id| id.to_owned());
        assert_eq!(text(), None);
        let proxy = RequestId::Proxy(HeaderValue::from_static("lb-7f3a"));
        let seen = scope(
            proxy,
            Box::pin(async move {
                let outer = text();
                let inner = scope(RequestId::Own(0x1f4), Box::pin(async move { text() })).await;
                (outer, inner, text())
            }),
        )
        .await;
        assert_eq!(seen.0.as_deref(), Some("lb-7f3a"));
        assert!(seen.1.as_deref().unwrap().ends_with("-1f4"), "{seen:?}");
        assert_eq!(
            seen.2.as_deref(),
            Some("lb-7f3a"),
            "put back after the inner one"
        );
        assert_eq!(text(), None, "and none outside");
    }
}
