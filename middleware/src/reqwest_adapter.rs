//! The reqwest adapter's one implementation, expanded for each supported pair of
//! `reqwest` and `reqwest-middleware` versions (their types are distinct crates'), so
//! both record and replay alike. What a call does is shared with the tower client layer
//! in `crate::call`.

/// Expands the adapter for one `reqwest` crate and its `reqwest-middleware`.
macro_rules! reqwest_adapter {
    ($reqwest:ident, $middleware:ident) => {
        use bytes::Bytes;
        use http::Extensions;
        use retrace::context::RetraceContext;
        use retrace::event::CallOutcome;
        use retrace::replay::{CallAnswer, CallKey};
        use $middleware::{Middleware, Next};
        use $reqwest::{Request, Response};

        use $crate::call;
        use $crate::capture::CaptureSettings;

        /// Records and replays the calls of a `reqwest_middleware` client.
        #[derive(Clone, Debug)]
        pub struct RetraceMiddleware {
            body_cap: usize,
            /// The strict replay this middleware answers for (see `crate::client::seal`):
            /// shared by the clones a client holds.
            seal: std::sync::Arc<$crate::client::SealWatch>,
        }

        impl Default for RetraceMiddleware {
            fn default() -> Self {
                Self::new()
            }
        }

        impl RetraceMiddleware {
            /// With a 256 KiB body cap. What is redacted is the recorder's
            /// [`Redaction`](retrace::Redaction) (in replay, the replay's).
            pub fn new() -> Self {
                Self {
                    body_cap: $crate::client::DEFAULT_BODY_CAP,
                    seal: std::sync::Arc::default(),
                }
            }

            /// Bytes kept of each call's request and response body.
            pub fn body_cap(mut self, bytes: usize) -> Self {
                self.body_cap = bytes;
                self
            }
        }

        fn uri_of(req: &Request) -> http::Uri {
            req.url()
                .as_str()
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/"))
        }

        fn body_of(req: &Request) -> Bytes {
            req.body()
                .and_then(|b| b.as_bytes())
                .map(Bytes::copy_from_slice)
                .unwrap_or_default()
        }

        fn rebuild(
            status: http::StatusCode,
            v: http::Version,
            headers: http::HeaderMap,
            body: Bytes,
        ) -> Response {
            let mut response = http::Response::new(body);
            *response.status_mut() = status;
            *response.version_mut() = v;
            *response.headers_mut() = headers;
            Response::from(response)
        }

        #[async_trait::async_trait]
        impl Middleware for RetraceMiddleware {
            async fn handle(
                &self,
                mut req: Request,
                extensions: &mut Extensions,
                next: Next<'_>,
            ) -> $middleware::Result<Response> {
                match RetraceContext::current() {
                    None => match self.seal.escaped_from() {
                        // A call that escaped a strict replay's context: refused.
                        Some(session) => {
                            let what = format!(
                                "{} {} from a task without context",
                                req.method(),
                                session.redaction().uri(&uri_of(&req))
                            );
                            session.note_escaped(what.clone());
                            Err($middleware::Error::middleware(std::io::Error::other(
                                format!("escaped call refused during a sealed replay: {what}"),
                            )))
                        }
                        None => next.run(req, extensions).await,
                    },
                    Some(RetraceContext::Recording(handle)) => {
                        let settings = CaptureSettings {
                            redaction: handle.redaction().clone(),
                            body_cap: self.body_cap,
                        };
                        call::propagate(&handle, req.headers_mut());
                        let body = body_of(&req);
                        let call = call::start_call(
                            &settings,
                            handle,
                            req.method(),
                            &uri_of(&req),
                            req.version(),
                            req.headers(),
                            &body,
                        );
                        match next.run(req, extensions).await {
                            Ok(response) => {
                                let (status, v, headers) = (
                                    response.status(),
                                    response.version(),
                                    response.headers().clone(),
                                );
                                match response.bytes().await {
                                    Ok(data) => {
                                        call.answered_whole(&settings, status, v, &headers, &data);
                                        Ok(rebuild(status, v, headers, data))
                                    }
                                    Err(e) => {
                                        call.failed(e.to_string());
                                        Err(e.into())
                                    }
                                }
                            }
                            Err(e) => {
                                call.failed(e.to_string());
                                Err(e)
                            }
                        }
                    }
                    Some(RetraceContext::Replay(session)) => {
                        self.seal.replaying(&session);
                        let settings = CaptureSettings {
                            redaction: session.redaction().clone(),
                            body_cap: self.body_cap,
                        };
                        let key = CallKey::new(
                            req.method().as_str(),
                            settings.redaction.uri(&uri_of(&req)),
                            &call::recorded_body(&settings, req.headers(), &body_of(&req)),
                        );
                        match session.answer_call(&key) {
                            Ok(CallAnswer::Recorded { outcome, .. }) => match outcome {
                                CallOutcome::Response { head, body } => {
                                    Ok(Response::from(call::recorded_response(&head, body.data)))
                                }
                                CallOutcome::Error(text) => {
                                    Err($middleware::Error::middleware(std::io::Error::other(text)))
                                }
                            },
                            Ok(CallAnswer::PassThrough) => next.run(req, extensions).await,
                            Err(unmatched) => Err($middleware::Error::middleware(unmatched)),
                        }
                    }
                }
            }
        }
    };
}

pub(crate) use reqwest_adapter;
