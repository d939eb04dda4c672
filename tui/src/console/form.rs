//! The launch form: pick a dataset and an algorithm, name the target, list hyperparameter
//! values, and queue a run with the remaining settings at their defaults.

use drover_protocol::spec::{Algorithm, TrainSpec};

/// Algorithms offered, in order.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::LogisticRegression,
    Algorithm::RandomForest,
    Algorithm::DecisionTree,
    Algorithm::GaussianNb,
    Algorithm::LinearRegression,
    Algorithm::Ridge,
    Algorithm::Lasso,
];

/// Which field has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Dataset,
    Target,
    Algorithm,
    Search,
}

impl Field {
    fn next(self) -> Self {
        match self {
            Field::Dataset => Field::Target,
            Field::Target => Field::Algorithm,
            Field::Algorithm => Field::Search,
            Field::Search => Field::Dataset,
        }
    }
}

/// The form's state.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchForm {
    pub field: Field,
    /// Index into the datasets the console knows.
    pub dataset: usize,
    pub target: String,
    pub algorithm: usize,
    /// `name=v1,v2 name2=v3`.
    pub search: String,
}

impl Default for LaunchForm {
    fn default() -> Self {
        Self {
            field: Field::Dataset,
            dataset: 0,
            target: String::new(),
            algorithm: 0,
            search: String::new(),
        }
    }
}

impl LaunchForm {
    pub fn next_field(&mut self) {
        self.field = self.field.next();
    }

    /// Moves the choice of a cycling field by `step` among `datasets` choices.
    pub fn cycle(&mut self, step: i32, datasets: usize) {
        let turn = |value: usize, len: usize| {
            (value as i64 + step as i64).rem_euclid(len.max(1) as i64) as usize
        };
        match self.field {
            Field::Dataset => self.dataset = turn(self.dataset, datasets),
            Field::Algorithm => self.algorithm = turn(self.algorithm, ALGORITHMS.len()),
            Field::Target | Field::Search => {}
        }
    }

    /// Types into a text field.
    pub fn type_char(&mut self, c: char) {
        match self.field {
            Field::Target => self.target.push(c),
            Field::Search => self.search.push(c),
            Field::Dataset | Field::Algorithm => {}
        }
    }

    pub fn erase(&mut self) {
        match self.field {
            Field::Target => self.target.pop(),
            Field::Search => self.search.pop(),
            Field::Dataset | Field::Algorithm => None,
        };
    }

    /// The spec the form describes, validated.
    pub fn spec(&self, dataset: Option<&str>) -> Result<TrainSpec, String> {
        let dataset = dataset.ok_or("no dataset to train on: add one with drover data add")?;
        let algorithm = ALGORITHMS[self.algorithm % ALGORITHMS.len()];
        let params: Vec<String> = self
            .search
            .split_whitespace()
            .map(|pair| {
                let (name, values) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?}: write name=value,value"))?;
                let values: Vec<String> = values
                    .split(',')
                    .map(|v| {
                        if v.parse::<f64>().is_ok() {
                            v.to_string()
                        } else {
                            format!("{v:?}")
                        }
                    })
                    .collect();
                Ok(format!("{name} = [{}]", values.join(", ")))
            })
            .collect::<Result<_, String>>()?;
        let toml = format!(
            "experiment = {dataset:?}\nmodel = {dataset:?}\ndataset = \"{dataset}@latest\"\ntarget = {:?}\ntask = \"{}\"\nalgorithm = \"{algorithm}\"\n[search]\nparams = {{ {} }}\n",
            self.target,
            format!("{:?}", algorithm.task()).to_lowercase(),
            params.join(", ")
        );
        drover_ml::gates::parse_spec(&toml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_builds_a_valid_spec() {
        let mut form = LaunchForm {
            target: "churned".into(),
            search: "alpha=0.1,1".into(),
            ..Default::default()
        };
        let spec = form.spec(Some("churn")).expect("valid");
        assert_eq!(
            (
                spec.dataset.as_str(),
                spec.algorithm,
                spec.search.params["alpha"].len()
            ),
            ("churn@latest", Algorithm::LogisticRegression, 2)
        );
        form.field = Field::Algorithm;
        form.cycle(-1, 1);
        assert_eq!(ALGORITHMS[form.algorithm], Algorithm::Lasso);
        assert_eq!(
            form.spec(Some("churn")).expect("valid").task,
            drover_protocol::spec::Task::Regression
        );
        form.search = "gamma=1".into();
        assert!(form.spec(Some("churn")).is_err(), "lasso has no gamma");
        assert!(LaunchForm::default().spec(None).is_err());
    }
}
