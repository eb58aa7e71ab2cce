//! Cron schedules in a time zone, durations (`90d`, `1h 30m`) and instants
//! (RFC 3339 or a date), as the config, rules and CLI read them.
#![no_main]

use accessaudit::model::{Span, parse_instant};
use accessaudit::schedule::Schedule;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

const ZONES: [chrono_tz::Tz; 4] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::Asia::Shanghai,
    chrono_tz::America::St_Johns,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = accessaudit_fuzz::text(rest) else {
        return;
    };
    let tz = ZONES[usize::from(pick) % ZONES.len()];
    if let Ok(schedule) = Schedule::parse(text, tz) {
        // Around a daylight-saving change and at the ends of time.
        for t in [
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 30, 0).single(),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).single(),
            Some(chrono::DateTime::<Utc>::MIN_UTC),
            Some(chrono::DateTime::<Utc>::MAX_UTC),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(next) = schedule.next_after(t) {
                assert!(next > t, "next {next} not after {t} for `{text}`");
            }
            if let Some(prev) = schedule.latest_at_or_before(t) {
                assert!(prev <= t, "latest {prev} after {t} for `{text}`");
            }
        }
    }
    if let Ok(span) = serde_json::from_value::<Span>(serde_json::Value::String(text.to_string())) {
        let _ = span.chrono();
        let _ = span.to_string();
    }
    if let Ok(t) = parse_instant(text) {
        assert_eq!(parse_instant(&accessaudit::model::format_instant(t)), Ok(t));
    }
    // Times without an offset, read in the zone (imports, sources).
    if let Ok(t) = accessaudit::model::parse_instant_in(text, tz) {
        assert_eq!(parse_instant(&accessaudit::model::format_instant(t)), Ok(t));
    }
});
