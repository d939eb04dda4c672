//! Formatting shared by the CLI and the console: ages, aligned tables, run comparisons and
//! the metrics listings rank runs by.

pub mod compare;
pub mod dataset;
pub mod metrics;
pub mod rollout;
pub mod serving;
pub mod waiting;

/// Formats a Unix-ms time as an age relative to `now_ms`: `3s ago`, `5m ago`, `never`.
pub fn age(at_ms: Option<u64>, now_ms: u64) -> String {
    let Some(at) = at_ms else {
        return "never".into();
    };
    let secs = now_ms.saturating_sub(at) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// `text` safe to print on a terminal: control characters (escape sequences, carriage
/// returns, newlines that would fake a line of output) and bidirectional overrides are shown
/// escaped (`\u{1b}`) instead of acting. Names and messages from agents and MLflow clients
/// reach every listing, and a terminal must not take them for commands.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let acts =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(acts) {
        return text.into();
    }
    text.chars()
        .map(|c| match acts(c) {
            true => c.escape_unicode().to_string(),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Renders rows under headers as aligned columns, every cell [`printable`].
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Bytes as B, KiB, MiB or GiB.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", bytes as f64 / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    use super::{age, printable, table};

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("churn-prod"), "churn-prod");
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            printable("host\n2026-12-08 INFO fake line"),
            "host\\u{a}2026-12-08 INFO fake line"
        );
        assert_eq!(printable("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        let listed = table(&["HOST"], &[vec!["\x1b]0;owned\x07".into()]]);
        assert!(
            !listed.contains('\x1b') && !listed.contains('\x07'),
            "{listed}"
        );
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(None, 5), "never");
        assert_eq!(age(Some(1_000), 3_500), "2s ago");
        assert_eq!(age(Some(0), 120_000), "2m ago");
        assert_eq!(age(Some(10_000), 5_000), "0s ago");
    }

    #[test]
    fn tables_align() {
        let out = super::table(
            &["ID", "STATUS"],
            &[
                vec!["ag-1".into(), "ready".into()],
                vec!["ag-22".into(), "lost".into()],
            ],
        );
        assert_eq!(out, "ID     STATUS\nag-1   ready\nag-22  lost");
    }
}
