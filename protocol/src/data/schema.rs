//! Column names and inferred types, and what changed between two schemas.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a column's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Whole numbers.
    Integer,
    /// Any real number.
    Float,
    /// Text labels.
    Categorical,
}

impl ColumnKind {
    /// Integer and float columns are both numeric.
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnKind::Integer | ColumnKind::Float)
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnKind::Integer => "integer",
            ColumnKind::Float => "float",
            ColumnKind::Categorical => "categorical",
        })
    }
}

/// One column of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    /// True when at least one value is missing.
    pub nullable: bool,
}

/// The columns of a dataset, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Schema {
    pub columns: Vec<Column>,
}

/// One difference between a schema and the one before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaChange {
    Added {
        column: String,
        kind: ColumnKind,
    },
    Removed {
        column: String,
    },
    TypeChanged {
        column: String,
        from: ColumnKind,
        to: ColumnKind,
    },
    BecameNullable {
        column: String,
    },
}

impl fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaChange::Added { column, kind } => write!(f, "+ {column} ({kind})"),
            SchemaChange::Removed { column } => write!(f, "- {column}"),
            SchemaChange::TypeChanged { column, from, to } => {
                write!(f, "~ {column}: {from} -> {to}")
            }
            SchemaChange::BecameNullable { column } => {
                write!(f, "~ {column}: now has missing values")
            }
        }
    }
}

impl Schema {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// What changed from `previous` to `self`, in column order.
    pub fn changes_since(&self, previous: &Schema) -> Vec<SchemaChange> {
        let mut changes = Vec::new();
        for old in &previous.columns {
            match self.column(&old.name) {
                None => changes.push(SchemaChange::Removed {
                    column: old.name.clone(),
                }),
                Some(new) if new.kind != old.kind => changes.push(SchemaChange::TypeChanged {
                    column: old.name.clone(),
                    from: old.kind,
                    to: new.kind,
                }),
                Some(new) if new.nullable && !old.nullable => {
                    changes.push(SchemaChange::BecameNullable {
                        column: old.name.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        for new in &self.columns {
            if previous.column(&new.name).is_none() {
                changes.push(SchemaChange::Added {
                    column: new.name.clone(),
                    kind: new.kind,
                });
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: ColumnKind, nullable: bool) -> Column {
        Column {
            name: name.into(),
            kind,
            nullable,
        }
    }

    #[test]
    fn changes_list_added_removed_retyped_and_nullable_columns() {
        let old = Schema {
            columns: vec![
                col("a", ColumnKind::Integer, false),
                col("b", ColumnKind::Float, false),
                col("c", ColumnKind::Categorical, false),
            ],
        };
        let new = Schema {
            columns: vec![
                col("a", ColumnKind::Float, false),
                col("c", ColumnKind::Categorical, true),
                col("d", ColumnKind::Integer, false),
            ],
        };
        let changes = new.changes_since(&old);
        assert_eq!(
            changes,
            vec![
                SchemaChange::TypeChanged {
                    column: "a".into(),
                    from: ColumnKind::Integer,
                    to: ColumnKind::Float
                },
                SchemaChange::Removed { column: "b".into() },
                SchemaChange::BecameNullable { column: "c".into() },
                SchemaChange::Added {
                    column: "d".into(),
                    kind: ColumnKind::Integer
                },
            ]
        );
        assert!(old.changes_since(&old).is_empty());
    }
}
