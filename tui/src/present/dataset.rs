//! Datasets as listings and panes show them: a column's profile in one line, and its
//! distribution as a small bar chart of block characters.

use drover_protocol::data::profile::ColumnProfile;

/// Bars from lowest to highest.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `counts` as one bar each, scaled to the largest; at most `width` bars (neighbours merge).
pub fn sparkline(counts: &[u64], width: usize) -> String {
    if counts.is_empty() || width == 0 {
        return String::new();
    }
    let per = counts.len().div_ceil(width);
    let merged: Vec<u64> = counts.chunks(per).map(|c| c.iter().sum()).collect();
    let top = merged.iter().copied().max().unwrap_or(0).max(1);
    merged
        .iter()
        .map(|&n| {
            if n == 0 {
                ' '
            } else {
                BARS[((n * BARS.len() as u64).div_ceil(top) - 1) as usize]
            }
        })
        .collect()
}

/// The shape of a column: its histogram, or its top categories' counts.
pub fn shape(c: &ColumnProfile, width: usize) -> String {
    match (&c.numeric, &c.categorical) {
        (Some(n), _) => sparkline(&n.histogram.counts, width),
        (None, Some(cat)) => {
            let counts: Vec<u64> = cat.top.iter().map(|(_, n)| *n).collect();
            sparkline(&counts, width)
        }
        (None, None) => String::new(),
    }
}

/// A short line of what a column holds, for narrow panes: its range and mean, or its top
/// three categories.
pub fn brief(c: &ColumnProfile) -> String {
    if let Some(n) = &c.numeric {
        return format!("{} to {}, mean {}", num(n.min), num(n.max), num(n.mean));
    }
    if c.categorical.is_some() {
        return top(c, 3).join(" ");
    }
    "all missing".into()
}

/// One line of what a column holds: quantiles and mean, or its top categories.
pub fn summary(c: &ColumnProfile) -> String {
    if let Some(n) = &c.numeric {
        let q = |p: f64| {
            n.quantiles
                .iter()
                .find(|(q, _)| (*q - p).abs() < 1e-9)
                .map_or(f64::NAN, |(_, v)| *v)
        };
        return format!(
            "min {}  p25 {}  p50 {}  p75 {}  max {}  mean {}",
            num(n.min),
            num(q(0.25)),
            num(q(0.5)),
            num(q(0.75)),
            num(n.max),
            num(n.mean)
        );
    }
    if c.categorical.is_some() {
        return top(c, 4).join(", ");
    }
    "all missing".into()
}

/// The `n` most frequent categories with their share, and how many there are when more.
fn top(c: &ColumnProfile, n: usize) -> Vec<String> {
    let Some(cat) = &c.categorical else {
        return Vec::new();
    };
    let total = c.count.max(1) as f64;
    let mut parts: Vec<String> = cat
        .top
        .iter()
        .take(n)
        .map(|(name, count)| format!("{name} {:.0}%", *count as f64 * 100.0 / total))
        .collect();
    if cat.distinct as usize > n {
        parts.push(format!("({} distinct)", cat.distinct));
    }
    parts
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_merge_to_fit() {
        assert_eq!(sparkline(&[0, 1, 4, 8], 8), " ▁▄█");
        assert_eq!(sparkline(&[1, 1, 8, 8], 2), "▁█");
        assert_eq!(sparkline(&[], 4), "");
    }
}
