//! An event's pane: its kind, time, one-line description and every field.

use drover_protocol::msg::EventRecord;

use crate::present::age;

pub fn lines(e: &EventRecord, now_ms: u64) -> Vec<String> {
    let mut out = vec![
        format!("kind       {}", e.event.kind()),
        format!("when       {}", age(Some(e.at_ms), now_ms)),
        format!("what       {}", e.event.describe()),
    ];
    if let Ok(fields) = serde_json::to_string_pretty(&e.event) {
        out.extend(fields.lines().map(str::to_string));
    }
    out
}
