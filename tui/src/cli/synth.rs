//! `drover data synth churn`: a synthetic customer-churn table, the same for the same seed.
//! Numeric and categorical features, a sensitive column `gender` that has no effect on the
//! outcome, the 0/1 target `churned`, and `--drift` to shift feature distributions for drift
//! and rollout demos.

use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Knobs of the churn generator.
#[derive(Debug, Clone, Copy)]
pub struct ChurnOptions {
    pub rows: usize,
    pub seed: u64,
    /// 0 for the reference distribution; 1 shifts charges up, contracts toward
    /// month-to-month and support calls up.
    pub drift: f64,
}

const HEADER: &[&str] = &[
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "contract",
    "payment_method",
    "internet_service",
    "support_calls",
    "senior",
    "gender",
    "churned",
];

/// A normal draw (Box–Muller), the same for the same generator state.
pub fn normal(rng: &mut StdRng, mean: f64, std: f64) -> f64 {
    let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.r#gen());
    mean + std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pick<'a>(rng: &mut StdRng, choices: &[(&'a str, f64)]) -> &'a str {
    let total: f64 = choices.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total);
    for (name, weight) in choices {
        if x < *weight {
            return name;
        }
        x -= weight;
    }
    choices[choices.len() - 1].0
}

/// Writes the table as CSV to `out`.
pub fn churn(options: ChurnOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let drift = options.drift;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(HEADER).map_err(super::csv_error)?;
    for _ in 0..options.rows {
        let tenure = (rng.r#gen::<f64>().powf(1.3) * 72.0).round();
        let monthly = normal(&mut rng, 65.0 + 15.0 * drift, 20.0).clamp(18.0, 120.0);
        let total = tenure * monthly * rng.gen_range(0.9..1.1);
        let contract = pick(
            &mut rng,
            &[
                ("month-to-month", 0.55 + 0.25 * drift),
                ("one-year", 0.25),
                ("two-year", 0.2 - 0.1 * drift.min(1.0)),
            ],
        );
        let payment = pick(
            &mut rng,
            &[
                ("electronic_check", 0.35),
                ("mailed_check", 0.2),
                ("bank_transfer", 0.22),
                ("credit_card", 0.23),
            ],
        );
        let internet = pick(&mut rng, &[("dsl", 0.35), ("fiber", 0.45), ("none", 0.2)]);
        let calls = (0..8)
            .filter(|_| rng.gen_bool((0.19 + 0.1 * drift).clamp(0.0, 1.0)))
            .count();
        let senior = rng.gen_bool(0.16);
        let gender = if rng.gen_bool(0.5) { "female" } else { "male" };
        let z = -1.2 + 1.3 * f64::from(contract == "month-to-month")
            - 0.9 * f64::from(contract == "two-year")
            - 0.035 * tenure
            + 0.025 * (monthly - 65.0)
            + 0.35 * calls as f64
            + 0.5 * f64::from(internet == "fiber")
            + 0.3 * f64::from(senior)
            + 0.4 * f64::from(payment == "electronic_check");
        let churned = rng.r#gen::<f64>() < 1.0 / (1.0 + (-z).exp());
        let total = if rng.gen_bool(0.01) {
            String::new()
        } else {
            format!("{total:.2}")
        };
        csv.write_record([
            format!("{tenure:.0}"),
            format!("{monthly:.2}"),
            total,
            contract.into(),
            payment.into(),
            internet.into(),
            calls.to_string(),
            u8::from(senior).to_string(),
            gender.into(),
            u8::from(churned).to_string(),
        ])
        .map_err(super::csv_error)?;
    }
    csv.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_ml::table;
    use drover_protocol::data::ColumnKind;

    fn generate(options: ChurnOptions) -> Vec<u8> {
        let mut out = Vec::new();
        churn(options, &mut out).expect("generates");
        out
    }

    #[test]
    fn same_seed_same_table_and_a_valid_schema() {
        let options = ChurnOptions {
            rows: 500,
            seed: 7,
            drift: 0.0,
        };
        let bytes = generate(options);
        assert_eq!(bytes, generate(options));
        assert_ne!(bytes, generate(ChurnOptions { seed: 8, ..options }));
        let table = table::parse(&bytes).expect("a valid CSV");
        assert_eq!(table.rows, 500);
        let kind = |name: &str| table.schema.column(name).map(|c| c.kind);
        assert_eq!(kind("churned"), Some(ColumnKind::Integer));
        assert_eq!(kind("gender"), Some(ColumnKind::Categorical));
        assert_eq!(kind("monthly_charges"), Some(ColumnKind::Float));
        assert!(
            table
                .schema
                .column("total_charges")
                .is_some_and(|c| c.nullable)
        );
    }

    #[test]
    fn drift_shifts_charges_up() {
        let mean = |drift| {
            let bytes = generate(ChurnOptions {
                rows: 2000,
                seed: 1,
                drift,
            });
            let profile = drover_ml::profile::profile(&table::parse(&bytes).expect("csv"));
            profile.columns[1].numeric.as_ref().expect("numeric").mean
        };
        assert!(mean(1.0) > mean(0.0) + 10.0);
    }
}
