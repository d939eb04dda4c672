//! Model serving on the agent: models loaded from their artifacts ([`model`], [`catalog`])
//! as the coordinator's deployments ask ([`deployer`]), rows read from the request formats
//! ([`oip`] for Open Inference Protocol v2, [`mlflow`] for MLflow scoring, [`request`] for
//! what they share), the HTTP routes ([`routes`]; the hot ones also [`direct`]; their
//! answers [`reply`]), the traffic split ([`split`]), shadow copies ([`shadow`]), live
//! accuracy ([`feedback`], taken by [`feedback_route`]) and what each version served ([`window`]) and what its inputs and
//! predictions looked like ([`sketch`]).

pub mod catalog;
pub mod deployer;
pub mod direct;
pub mod feedback;
pub mod feedback_route;
pub mod heavy;
pub mod labelled;
pub mod mlflow;
pub mod model;
pub mod oip;
pub mod reply;
pub mod request;
pub mod routes;
pub mod serving;
pub mod shadow;
pub mod sketch;
pub mod sources;
pub mod split;
pub mod window;
