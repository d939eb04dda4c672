//! Feature importance ranks at training time against live feedback: each input column's
//! rank in both (1 is the most important; ties by name), and the largest move among the
//! columns that matter in either.

use drover_protocol::drift::ImportanceRank;

/// Ranks of `values` (1 for the largest), ties broken by name.
fn ranks(names: &[String], values: &[f64]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        values[b]
            .total_cmp(&values[a])
            .then_with(|| names[a].cmp(&names[b]))
    });
    let mut rank = vec![0; values.len()];
    for (place, &i) in order.iter().enumerate() {
        rank[i] = place as u32 + 1;
    }
    rank
}

/// Each column's importance and rank at training time and live; `None` when the two do not
/// cover the same columns.
pub fn compare(names: &[String], training: &[f64], live: &[f64]) -> Option<Vec<ImportanceRank>> {
    if names.len() != training.len() || names.len() != live.len() {
        return None;
    }
    let (tr, lr) = (ranks(names, training), ranks(names, live));
    Some(
        names
            .iter()
            .enumerate()
            .map(|(i, name)| ImportanceRank {
                column: name.clone(),
                training: training[i],
                live: live[i],
                training_rank: tr[i],
                live_rank: lr[i],
            })
            .collect(),
    )
}

/// The column that moved the most places among those whose importance reaches `floor` at
/// training time or live (the rest shuffle among themselves by noise), and by how many.
pub fn largest_move(ranks: &[ImportanceRank], floor: f64) -> Option<(&ImportanceRank, u32)> {
    ranks
        .iter()
        .filter(|r| r.training >= floor || r.live >= floor)
        .map(|r| (r, r.training_rank.abs_diff(r.live_rank)))
        .max_by_key(|(r, moved)| (*moved, std::cmp::Reverse(r.column.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_that_stopped_mattering_moves_down_the_ranking() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let training = [0.20, 0.10, 0.05, 0.001, 0.0];
        let live = [0.0, 0.12, 0.06, 0.002, 0.001];
        let ranks = compare(&names, &training, &live).expect("same columns");
        assert_eq!((ranks[0].training_rank, ranks[0].live_rank), (1, 5));
        let (moved, by) = largest_move(&ranks, 0.01).expect("a move");
        assert_eq!((moved.column.as_str(), by), ("a", 4));
        let still = compare(&names, &training, &training).expect("same");
        assert_eq!(largest_move(&still, 0.01).map(|(_, by)| by), Some(0));
        assert!(compare(&names, &training, &live[..3]).is_none());
    }
}
