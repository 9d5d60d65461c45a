//! A deadline for receiving a request's body.
//!
//! actix-web bounds the time to receive a request's head (`client_request_timeout`), but not
//! its body: a `POST` announcing `Content-Length: 1000` and sending three bytes held its
//! connection (and a file descriptor, and the buffers) for ever, and 20,000 of them took the
//! server down. Every request's body must now arrive within `server.request_timeout` of its
//! head; a body that does not ends the request with an error (408 on `/token`), and the
//! connection is closed.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::Stream;

/// The message of the error a late body ends with (handlers recognise it).
pub const BODY_TIMED_OUT: &str = "the request body did not arrive in time";

/// How long bodies may take, as app data for [`body_deadline`].
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

/// Middleware: wraps every request's body in a stream that fails once the deadline passes.
/// It is the one middleware every request goes through, so it also gives each its id
/// (`request_id.rs`).
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = super::request_id::assign(&req);
    // Requests without a body (every GET) have nothing to wait for.
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        let timeout = req
            .app_data::<actix_web::web::Data<BodyTimeout>>()
            .map(|t| t.0)
            .unwrap_or(Duration::from_secs(10));
        let inner = req.take_payload();
        let late: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            inner,
            deadline: tokio::time::Instant::now() + timeout,
            sleep: None,
            yielded: false,
            done: false,
        });
        req.set_payload(Payload::from(late));
    }
    let mut res = super::request_id::scope(id.clone(), next.call(req)).await?;
    super::request_id::stamp(&mut res, &id);
    Ok(res)
}

struct Deadline {
    inner: Payload,
    deadline: tokio::time::Instant,
    /// Armed the second time the body is not there yet. The first time is usually not a
    /// wait at all: actix calls the handler before it hands over a body that arrived with
    /// the head (as clients send it), so the stream asks to be polled again at once instead;
    /// a timer per request was two thousand instructions of every `POST /token`.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the stream has already asked to be polled again without a timer.
    yielded: bool,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending if !self.yielded && self.sleep.is_none() => {
                // Nothing to wait for yet: whatever wakes the task next (the body, or this
                // wake-up) polls again, and only then is the timer armed.
                self.yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.done = true;
                        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            BODY_TIMED_OUT,
                        )))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

/// Whether a body read failed because the deadline passed.
pub fn timed_out(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}
