//! MLflow compatibility: the pieces of MLflow's tracking REST API that drover serves on the
//! coordinator's HTTP listener, so scripts using the official `mlflow` client log into drover.

pub mod filter;
