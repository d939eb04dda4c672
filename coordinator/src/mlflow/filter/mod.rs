//! MLflow's search grammar: `filter` strings such as
//! ``metrics.acc > 0.8 AND params.`learning rate` = '0.1' AND status = 'FINISHED'`` and
//! `order_by` entries such as `metrics.acc DESC`, parsed into clauses that match and sort runs.

mod lexer;

use std::cmp::Ordering;

pub use lexer::FilterError;
use lexer::{Token, err, tokenize};

/// What a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

/// One `entity.key op value` comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub entity: Entity,
    pub key: String,
    pub op: Op,
    pub value: Value,
}

/// Clauses that must all hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

/// One `order_by` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub entity: Entity,
    pub key: String,
    pub ascending: bool,
}

/// A run attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    Text(String),
    Number(f64),
}

/// What a filter reads from a run.
pub trait Searchable {
    /// The latest value of a metric.
    fn metric(&self, key: &str) -> Option<f64>;
    fn param(&self, key: &str) -> Option<&str>;
    fn tag(&self, key: &str) -> Option<&str>;
    /// `status`, `run_name`, `run_id`, `start_time`, `end_time`.
    fn attribute(&self, name: &str) -> Option<Attribute>;
    /// Whether a tag it lacks differs from any value (`tags.k != 'v'` holds), as for
    /// registered models; for runs a clause on a missing tag never holds.
    fn missing_tag_differs(&self) -> bool {
        false
    }
}

/// Attributes a filter may name, and whether they are numbers.
pub type Attributes = &'static [(&'static str, bool)];

/// Attributes of runs.
pub const RUN_ATTRIBUTES: Attributes = &[
    ("status", false),
    ("run_name", false),
    ("run_id", false),
    ("start_time", true),
    ("end_time", true),
];

/// Attributes of experiments.
pub const EXPERIMENT_ATTRIBUTES: Attributes = &[
    ("name", false),
    ("experiment_id", false),
    ("creation_time", true),
    ("last_update_time", true),
];

/// Splits `prefix.key` (or a bare attribute name) into its entity and key.
fn identifier(word: &str) -> Result<(Entity, String), FilterError> {
    let unquote = |k: &str| -> String {
        k.strip_prefix('`')
            .and_then(|k| k.strip_suffix('`'))
            .unwrap_or(k)
            .to_string()
    };
    let Some((prefix, key)) = word.split_once('.') else {
        return Ok((Entity::Attribute, unquote(word)));
    };
    let entity = match prefix.to_ascii_lowercase().as_str() {
        "metrics" | "metric" => Entity::Metric,
        "params" | "param" | "parameter" | "parameters" => Entity::Param,
        "tags" | "tag" => Entity::Tag,
        "attributes" | "attribute" | "attr" | "run" => Entity::Attribute,
        other => {
            return err(format!(
                "invalid entity type {other:?}; expected metrics, params, tags or attributes"
            ));
        }
    };
    let key = unquote(key);
    if key.is_empty() {
        return err(format!("{word:?} names no key"));
    }
    Ok((entity, key))
}

fn attribute_kind(attributes: Attributes, name: &str) -> Result<bool, FilterError> {
    attributes
        .iter()
        .find(|(a, _)| *a == name)
        .map(|(_, numeric)| *numeric)
        .ok_or_else(|| {
            let names: Vec<&str> = attributes.iter().map(|(a, _)| *a).collect();
            FilterError(format!(
                "invalid attribute {name:?}; expected one of {}",
                names.join(", ")
            ))
        })
}

impl Filter {
    /// Parses a filter over runs; an empty string matches everything.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        Self::parse_with(text, RUN_ATTRIBUTES)
    }

    /// Parses a filter whose bare names are `attributes`.
    pub fn parse_with(text: &str, attributes: Attributes) -> Result<Self, FilterError> {
        let tokens = tokenize(text)?;
        let mut clauses = Vec::new();
        let mut at = 0;
        while at < tokens.len() {
            if !clauses.is_empty() {
                match &tokens[at] {
                    Token::Word(w) if w.eq_ignore_ascii_case("and") => at += 1,
                    other => return err(format!("expected AND, found {other:?} in {text:?}")),
                }
            }
            let (clause, next) = clause(&tokens, at, text, attributes)?;
            clauses.push(clause);
            at = next;
        }
        Ok(Filter { clauses })
    }

    /// The (entity, key) pairs the clauses read.
    pub fn keys(&self) -> impl Iterator<Item = (Entity, &str)> {
        self.clauses.iter().map(|c| (c.entity, c.key.as_str()))
    }

    /// Whether `run` satisfies every clause.
    pub fn matches(&self, run: &impl Searchable) -> bool {
        self.clauses.iter().all(|c| c.matches(run))
    }
}

fn clause(
    tokens: &[Token],
    at: usize,
    text: &str,
    attributes: Attributes,
) -> Result<(Clause, usize), FilterError> {
    let incomplete = || FilterError(format!("incomplete clause in {text:?}"));
    let Token::Word(word) = tokens.get(at).ok_or_else(incomplete)? else {
        return err(format!("expected a key at clause {} of {text:?}", at + 1));
    };
    let (entity, key) = identifier(word)?;
    let (op, mut next) = match tokens.get(at + 1).ok_or_else(incomplete)? {
        Token::Op(o) => (
            match *o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            at + 2,
        ),
        Token::Word(w) => match w.to_ascii_uppercase().as_str() {
            "LIKE" => (Op::Like, at + 2),
            "ILIKE" => (Op::ILike, at + 2),
            "IN" => (Op::In, at + 2),
            "NOT" => match tokens.get(at + 2) {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => (Op::NotIn, at + 3),
                _ => return err(format!("expected IN after NOT in {text:?}")),
            },
            other => return err(format!("invalid comparator {other:?} in {text:?}")),
        },
        other => {
            return err(format!(
                "expected a comparator, found {other:?} in {text:?}"
            ));
        }
    };
    let value = match tokens.get(next).ok_or_else(incomplete)? {
        Token::Number(n) => Value::Number(*n),
        Token::Quoted(s) => Value::Text(s.clone()),
        Token::Open => {
            let mut items = Vec::new();
            next += 1;
            loop {
                match tokens.get(next) {
                    Some(Token::Quoted(s)) => items.push(s.clone()),
                    _ => return err(format!("expected a quoted value in the list in {text:?}")),
                }
                match tokens.get(next + 1) {
                    Some(Token::Comma) => next += 2,
                    Some(Token::Close) => {
                        next += 1;
                        break;
                    }
                    _ => return err(format!("unclosed list in {text:?}")),
                }
            }
            Value::List(items)
        }
        other => return err(format!("expected a value, found {other:?} in {text:?}")),
    };
    let clause = Clause {
        entity,
        key,
        op,
        value,
    };
    clause.check(attributes)?;
    Ok((clause, next + 1))
}

impl Clause {
    /// Refuses comparisons MLflow refuses: quoted metric values, ordering of strings.
    fn check(&self, attributes: Attributes) -> Result<(), FilterError> {
        let numeric = match self.entity {
            Entity::Metric => true,
            Entity::Param | Entity::Tag => false,
            Entity::Attribute => attribute_kind(attributes, &self.key)?,
        };
        let ok = match (&self.value, self.op) {
            (Value::Number(_), Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) => numeric,
            (Value::Text(_), Op::Eq | Op::Ne | Op::Like | Op::ILike) => !numeric,
            (Value::List(_), Op::In | Op::NotIn) => self.entity == Entity::Attribute && !numeric,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            err(format!(
                "invalid comparison {:?} {:?} {:?} for {}",
                self.key,
                self.op,
                self.value,
                match self.entity {
                    Entity::Metric => "a metric (numbers only, unquoted)",
                    Entity::Param => "a param (quoted strings, = != LIKE ILIKE)",
                    Entity::Tag => "a tag (quoted strings, = != LIKE ILIKE)",
                    Entity::Attribute if numeric => "a time attribute (numbers only)",
                    Entity::Attribute => "a text attribute (quoted strings)",
                }
            ))
        }
    }

    fn matches(&self, run: &impl Searchable) -> bool {
        let text = match self.entity {
            Entity::Metric => {
                return run
                    .metric(&self.key)
                    .is_some_and(|v| compare_number(v, self.op, &self.value));
            }
            Entity::Param => run.param(&self.key).map(str::to_string),
            Entity::Tag => run.tag(&self.key).map(str::to_string),
            Entity::Attribute => match run.attribute(&self.key) {
                Some(Attribute::Number(v)) => return compare_number(v, self.op, &self.value),
                Some(Attribute::Text(t)) => Some(t),
                None => None,
            },
        };
        let Some(text) = text else {
            return self.entity == Entity::Tag
                && matches!(self.op, Op::Ne)
                && run.missing_tag_differs();
        };
        match (&self.value, self.op) {
            (Value::Text(v), Op::Eq) => &text == v,
            (Value::Text(v), Op::Ne) => &text != v,
            (Value::Text(v), Op::Like) => like(&text, v, false),
            (Value::Text(v), Op::ILike) => like(&text, v, true),
            (Value::List(items), Op::In) => items.contains(&text),
            (Value::List(items), Op::NotIn) => !items.contains(&text),
            _ => false,
        }
    }
}

fn compare_number(v: f64, op: Op, value: &Value) -> bool {
    let Value::Number(x) = value else {
        return false;
    };
    match op {
        Op::Eq => v == *x,
        Op::Ne => v != *x,
        Op::Lt => v < *x,
        Op::Le => v <= *x,
        Op::Gt => v > *x,
        Op::Ge => v >= *x,
        _ => false,
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` any one character.
fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (t, p) = (fold(text), fold(pattern));
    let (mut ti, mut pi) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

impl OrderBy {
    /// Parses `key [ASC|DESC]` over runs.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        Self::parse_with(text, RUN_ATTRIBUTES)
    }

    /// Parses `key [ASC|DESC]` whose bare names are `attributes`.
    pub fn parse_with(text: &str, attributes: Attributes) -> Result<Self, FilterError> {
        let tokens = tokenize(text)?;
        let (word, direction) = match tokens.as_slice() {
            [Token::Word(w)] => (w, None),
            [Token::Word(w), Token::Word(d)] => (w, Some(d.to_ascii_uppercase())),
            _ => return err(format!("invalid order_by {text:?}")),
        };
        let ascending = match direction.as_deref() {
            None | Some("ASC") => true,
            Some("DESC") => false,
            Some(other) => return err(format!("invalid order direction {other:?} in {text:?}")),
        };
        let (entity, key) = identifier(word)?;
        if entity == Entity::Attribute {
            attribute_kind(attributes, &key)?;
        }
        Ok(OrderBy {
            entity,
            key,
            ascending,
        })
    }

    /// Orders two entries by each of `order` in turn; `Equal` when none tells them apart.
    pub fn compare_all(order: &[OrderBy], a: &impl Searchable, b: &impl Searchable) -> Ordering {
        order
            .iter()
            .map(|o| o.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Orders two runs by this key; NaN and then missing values sort last either way.
    pub fn compare(&self, a: &impl Searchable, b: &impl Searchable) -> Ordering {
        let (x, y) = (self.sort_key(a), self.sort_key(b));
        match (x, y) {
            (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
            (SortKey::Missing, _) => Ordering::Greater,
            (_, SortKey::Missing) => Ordering::Less,
            (SortKey::Number(x), SortKey::Number(y)) if x.is_nan() || y.is_nan() => {
                x.is_nan().cmp(&y.is_nan())
            }
            (x, y) => {
                let order = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if self.ascending {
                    order
                } else {
                    order.reverse()
                }
            }
        }
    }

    fn sort_key(&self, run: &impl Searchable) -> SortKey {
        let text = |t: Option<&str>| t.map_or(SortKey::Missing, |t| SortKey::Text(t.into()));
        match self.entity {
            Entity::Metric => run
                .metric(&self.key)
                .map_or(SortKey::Missing, SortKey::Number),
            Entity::Param => text(run.param(&self.key)),
            Entity::Tag => text(run.tag(&self.key)),
            Entity::Attribute => match run.attribute(&self.key) {
                Some(Attribute::Number(v)) => SortKey::Number(v),
                Some(Attribute::Text(t)) => SortKey::Text(t),
                None => SortKey::Missing,
            },
        }
    }
}

#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Number(f64),
    Text(String),
    Missing,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Run {
        metrics: BTreeMap<String, f64>,
        params: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
        status: String,
        start: f64,
    }

    impl Searchable for Run {
        fn metric(&self, key: &str) -> Option<f64> {
            self.metrics.get(key).copied()
        }
        fn param(&self, key: &str) -> Option<&str> {
            self.params.get(key).map(String::as_str)
        }
        fn tag(&self, key: &str) -> Option<&str> {
            self.tags.get(key).map(String::as_str)
        }
        fn attribute(&self, name: &str) -> Option<Attribute> {
            match name {
                "status" => Some(Attribute::Text(self.status.clone())),
                "start_time" => Some(Attribute::Number(self.start)),
                _ => None,
            }
        }
    }

    fn run(acc: f64, lr: &str) -> Run {
        Run {
            metrics: [
                ("acc".to_string(), acc),
                ("val loss".to_string(), 1.0 - acc),
            ]
            .into(),
            params: [("learning rate".to_string(), lr.to_string())].into(),
            tags: [("team".to_string(), "Growth".to_string())].into(),
            status: "FINISHED".into(),
            start: 1000.0,
        }
    }

    #[test]
    fn parses_and_matches_the_documented_forms() {
        let f = Filter::parse(
            "metrics.acc > 0.8 and params.`learning rate` = '0.1' AND status = \"FINISHED\"",
        )
        .expect("parses");
        assert_eq!(f.clauses.len(), 3);
        assert_eq!(f.clauses[1].key, "learning rate");
        assert!(f.matches(&run(0.9, "0.1")));
        assert!(!f.matches(&run(0.7, "0.1")));
        assert!(!f.matches(&run(0.9, "0.2")));

        let f = Filter::parse("metrics.`val loss` <= 1e-1 AND tags.team ILIKE 'grow%'")
            .expect("parses");
        assert!(f.matches(&run(0.95, "x")));
        assert!(
            !Filter::parse("tags.team LIKE 'grow%'")
                .expect("parses")
                .matches(&run(0.95, "x"))
        );
        assert!(
            Filter::parse("attributes.start_time >= 1000 AND metric.acc != -1")
                .expect("parses")
                .matches(&run(0.5, "x"))
        );
        assert!(
            !Filter::parse("metrics.missing > 0")
                .expect("parses")
                .matches(&run(0.5, "x")),
            "a run without the metric does not match"
        );
        assert_eq!(Filter::parse("  ").expect("empty"), Filter::default());
        let ids = Filter::parse("attributes.run_id IN ('a', 'b')").expect("parses");
        assert_eq!(
            ids.clauses[0].value,
            Value::List(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn bad_filters_say_why() {
        for (filter, says) in [
            ("metrics.acc > '0.5'", "numbers only"),
            ("params.lr > 1", "quoted strings"),
            ("foo.acc > 1", "invalid entity type"),
            ("metrics.acc >", "incomplete"),
            ("metrics.acc ~ 1", "unexpected"),
            ("metrics.acc > 1 OR metrics.acc < 0", "expected AND"),
            ("colour = 'red'", "invalid attribute"),
            ("params.lr = 'x", "unclosed"),
        ] {
            let e = Filter::parse(filter).expect_err(filter);
            assert!(e.0.contains(says), "{filter}: {e}");
        }
    }

    #[test]
    fn like_matches_sql_patterns() {
        assert!(like("churn-v2", "churn%", false));
        assert!(like("churn-v2", "%v_", false));
        assert!(like("abc", "%", false));
        assert!(!like("abc", "a_", false));
        assert!(like("ABC", "a%c", true));
        assert!(!like("ABC", "a%c", false));
    }

    #[test]
    fn order_by_puts_nan_then_missing_last_both_ways() {
        let mut runs = [
            run(0.5, "a"),
            run(f64::NAN, "b"),
            run(0.9, "c"),
            Run::default(),
        ];
        let desc = OrderBy::parse("metrics.acc DESC").expect("parses");
        runs.sort_by(|a, b| desc.compare(a, b));
        let lrs: Vec<Option<&str>> = runs.iter().map(|r| r.param("learning rate")).collect();
        assert_eq!(lrs, vec![Some("c"), Some("a"), Some("b"), None]);
        let asc = OrderBy::parse("metrics.acc").expect("parses");
        runs.sort_by(|a, b| asc.compare(a, b));
        let lrs: Vec<Option<&str>> = runs.iter().map(|r| r.param("learning rate")).collect();
        assert_eq!(lrs, vec![Some("a"), Some("c"), Some("b"), None]);
        assert!(OrderBy::parse("metrics.acc SIDEWAYS").is_err());
        assert!(OrderBy::parse("attributes.colour").is_err());
        assert!(OrderBy::parse("start_time DESC").is_ok_and(|o| !o.ascending));
    }
}
