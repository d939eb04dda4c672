//! The models loaded on this agent, by name and version, and how each deployment splits its
//! traffic between them. Loading a version replaces the `Arc` under a short lock, so requests
//! in flight finish on the model they started with and none is dropped by a swap.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use drover_protocol::drift::{ImportanceWindow, SketchWindow};
use drover_protocol::serve::{Deployment, ServingWindow, ShadowWindow};

use super::model::Served;
use super::split::Split;

/// Most windows one report carries (the coordinator keeps as many per agent).
pub const MAX_WINDOWS: usize = 256;

/// The loaded shadow versions of one deployment, shared by every request that copies to them.
pub type ShadowSet = Arc<[Arc<Served>]>;

type Models = BTreeMap<String, BTreeMap<u32, Arc<Served>>>;

/// A deployment's split, and its shadow versions as loaded when the split or a model last
/// changed (so that a request finds them without building a list).
#[derive(Debug)]
struct Route {
    split: Split,
    shadows: Option<ShadowSet>,
}

impl Route {
    /// Takes the shadow versions that are loaded among `versions`.
    fn resolve(&mut self, versions: Option<&BTreeMap<u32, Arc<Served>>>) {
        let loaded: Vec<Arc<Served>> = self
            .split
            .shadows
            .iter()
            .filter_map(|v| versions?.get(v).cloned())
            .collect();
        self.shadows = (!loaded.is_empty()).then(|| loaded.into());
    }
}

/// Loaded models: every version of each name, and the deployments' splits.
#[derive(Debug, Default)]
pub struct Catalog {
    models: RwLock<Models>,
    routes: RwLock<BTreeMap<String, Route>>,
}

/// The version that answers a request, and the shadow versions that get a copy.
pub struct Pick {
    pub answer: Arc<Served>,
    pub shadows: Option<ShadowSet>,
}

impl Catalog {
    /// Makes `served` available, replacing the same version if it was loaded.
    pub fn load(&self, served: Served) {
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        models
            .entry(served.name.clone())
            .or_default()
            .insert(served.version, Arc::new(served));
        self.resolve(&models);
    }

    /// Splits each model's traffic as `deployments` ask (models without one answer with their
    /// newest version).
    pub fn route(&self, deployments: &[Deployment]) {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let routes = deployments
            .iter()
            .map(|d| {
                let mut route = Route {
                    split: Split::of(d),
                    shadows: None,
                };
                route.resolve(models.get(&d.model));
                (d.model.clone(), route)
            })
            .collect();
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = routes;
    }

    /// Finds each route's shadow versions again in `models`, which just changed (the caller
    /// holds their lock, so no request sees a route ahead of its models).
    fn resolve(&self, models: &Models) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        for (name, route) in routes.iter_mut() {
            route.resolve(models.get(name));
        }
    }

    /// Which loaded version of `name` answers a request with `key` (sticky) or, without one,
    /// by `roll`; `None` when no version of it is ready.
    pub fn pick(&self, name: &str, key: Option<&[u8]>, roll: u64) -> Option<Pick> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let versions = models.get(name)?;
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let Some(route) = routes.get(name) else {
            return versions.values().next_back().map(|answer| Pick {
                answer: answer.clone(),
                shadows: None,
            });
        };
        let version = route.split.pick(key, roll, |v| versions.contains_key(&v))?;
        Some(Pick {
            answer: versions.get(&version)?.clone(),
            shadows: route.shadows.clone(),
        })
    }

    /// The shadow versions of `name`'s deployment.
    pub fn shadows(&self, name: &str) -> Vec<u32> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes
            .get(name)
            .map_or_else(Vec::new, |r| r.split.shadows.clone())
    }

    /// Keeps the versions `keep` accepts and drops the rest.
    pub fn retain(&self, keep: impl Fn(&str, u32) -> bool) {
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        for (name, versions) in models.iter_mut() {
            versions.retain(|v, _| keep(name, *v));
        }
        models.retain(|_, versions| !versions.is_empty());
        self.resolve(&models);
    }

    /// Version `version` of `name`, or its newest loaded version.
    pub fn get(&self, name: &str, version: Option<u32>) -> Option<Arc<Served>> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let versions = models.get(name)?;
        match version {
            Some(v) => versions.get(&v).cloned(),
            None => versions.values().next_back().cloned(),
        }
    }

    /// The versions of `name` loaded here.
    pub fn versions(&self, name: &str) -> Vec<u32> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        models
            .get(name)
            .map_or_else(Vec::new, |v| v.keys().copied().collect())
    }

    /// The name of the one model served here (what `/invocations` answers with when no model
    /// is named).
    pub fn only(&self) -> Result<String, String> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let mut names = models.keys();
        match (names.next(), names.next()) {
            (Some(name), None) => Ok(name.clone()),
            (None, _) => Err("no model is served on this agent".into()),
            (Some(_), Some(_)) => Err(format!(
                "this agent serves {}; name one with the x-drover-model header",
                models.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// Closes every loaded version's window at `now_ms` and returns what each counted, and
    /// what those that shadowed answered as shadows.
    pub fn windows(&self, now_ms: u64) -> (Vec<ServingWindow>, Vec<ShadowWindow>) {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let (windows, shadows): (Vec<_>, Vec<_>) = models
            .values()
            .flat_map(|versions| versions.values())
            .map(|served| served.window.take(now_ms))
            .unzip();
        (windows, shadows.into_iter().flatten().collect())
    }

    /// Closes every loaded version's sketch at `now_ms` and returns those that saw rows.
    pub fn sketches(&self, now_ms: u64) -> Vec<SketchWindow> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        models
            .values()
            .flat_map(|versions| versions.values())
            .filter_map(|served| served.sketch.as_ref()?.take(now_ms))
            .collect()
    }

    /// Each loaded classifier's permutation importance on its recent labelled feedback, for
    /// those with at least `min_rows` labelled rows.
    pub fn importance(&self, min_rows: usize) -> Vec<ImportanceWindow> {
        let served: Vec<Arc<Served>> = {
            let models = self.models.read().unwrap_or_else(|e| e.into_inner());
            models
                .values()
                .flat_map(|versions| versions.values().cloned())
                .collect()
        };
        served
            .iter()
            .filter_map(|s| {
                let (rows, importance) = s.live_importance(min_rows)?;
                Some(ImportanceWindow {
                    model: s.name.clone(),
                    version: s.version,
                    rows: rows as u64,
                    importance,
                })
            })
            .collect()
    }

    /// Whether no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}
