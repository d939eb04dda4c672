//! The two routes every prediction takes, answered before axum's router sees them:
//! `POST /v2/models/{name}/infer` and `POST /invocations`. Reading the path here costs less
//! than the router's matching, path parameters and extractors, which a prediction would pay
//! on every request. Anything else (a version's route, a name that needs percent-decoding,
//! another method) goes to the router, which answers every route.

use std::sync::Arc;

use axum::http::{Method, Request};
use axum::response::Response;
use hyper::body::Incoming;
use tokio_util::either::Either;

use super::routes::{infer, invoke};
use super::serving::Serving;

/// A prediction route taken directly.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v2/models/{name}/infer`.
    Infer(String),
    /// `POST /invocations`.
    Invocations,
}

/// The direct route of a request with `method` and `path`, if it takes one.
pub fn route(method: &Method, path: &str) -> Option<Route> {
    if method != Method::POST {
        return None;
    }
    if path == "/invocations" {
        return Some(Route::Invocations);
    }
    path.strip_prefix("/v2/models/")?
        .strip_suffix("/infer")
        .filter(|name| !name.is_empty() && !name.contains(['/', '%']))
        .map(|name| Route::Infer(name.to_string()))
}

/// Answers `request` on `route`: the route's own future, so that the one the listener keeps
/// per request is no larger than it.
pub fn answer(
    serving: Arc<Serving>,
    route: Route,
    request: Request<Incoming>,
) -> impl Future<Output = Response> + Send {
    let (parts, body) = request.into_parts();
    match route {
        Route::Infer(name) => Either::Left(infer(serving, name, None, parts, body)),
        Route::Invocations => Either::Right(invoke(serving, parts, body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plain_prediction_routes_are_taken() {
        let post = Method::POST;
        assert_eq!(
            route(&post, "/v2/models/churn/infer"),
            Some(Route::Infer("churn".into()))
        );
        assert_eq!(route(&post, "/invocations"), Some(Route::Invocations));
        for path in [
            "/v2/models/churn/versions/2/infer",
            "/v2/models/ch%20urn/infer",
            "/v2/models//infer",
            "/v2/models/churn/feedback",
            "/v2/models/churn",
        ] {
            assert_eq!(route(&post, path), None, "{path}");
        }
        assert_eq!(route(&Method::GET, "/v2/models/churn/infer"), None);
    }
}
