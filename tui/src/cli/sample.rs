//! `drover data sample NAME`: data sets that ship inside a crate (linfa-datasets), written
//! out as CSV so they can be added like any file.

use std::io::Write;

/// Names `data sample` knows.
pub const NAMES: &[&str] = &["winequality"];

/// Writes the named sample as CSV to `out`.
pub fn write(name: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    match name {
        "winequality" => {
            let data = linfa_datasets::winequality();
            let mut csv = csv::Writer::from_writer(out);
            let mut header: Vec<String> = data.feature_names().to_vec();
            header.push("quality".into());
            csv.write_record(&header).map_err(super::csv_error)?;
            for (row, target) in data.records.outer_iter().zip(data.targets.iter()) {
                let mut record: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                record.push(target.to_string());
                csv.write_record(&record).map_err(super::csv_error)?;
            }
            csv.flush()?;
            Ok(())
        }
        other => anyhow::bail!("no sample named {other:?}; known: {}", NAMES.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winequality_is_a_valid_table() {
        let mut out = Vec::new();
        write("winequality", &mut out).expect("writes");
        let table = drover_ml::table::parse(&out).expect("valid CSV");
        assert_eq!((table.rows, table.schema.columns.len()), (1599, 12));
        assert_eq!(table.schema.columns[11].name, "quality");
        assert!(write("nope", &mut Vec::new()).is_err());
    }
}
