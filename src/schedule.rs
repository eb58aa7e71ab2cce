//! Cron schedules in a time zone, computed with croner (the parser
//! tokio-cron-scheduler itself uses).
//!
//! Due times are ours to compute, not the scheduler's: tokio-cron-scheduler
//! keeps the UTC offset a time-zone job was created with (an hour off after a
//! DST change, upstream issues 87/107) and drops runs missed while the process
//! was down. croner walks local time in a chrono-tz zone, so "07:00 on the 1st
//! in Europe/Berlin" stays 07:00 across DST changes.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    text: String,
}

impl Schedule {
    /// Parses `min hour dom mon dow` (the usual 5 fields) or the 6-field form
    /// with seconds first. Day of month and day of week combine with OR, as
    /// in cron.
    pub fn parse(text: &str, tz: Tz) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "`{text}` has {fields} field(s); a schedule has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
            ));
        }
        let cron = parse_cron(text).map_err(|e| match bad_field(text) {
            Some((name, value)) => format!(
                "`{text}` is not a cron schedule: its {name} field `{value}` is not valid ({e})"
            ),
            None => format!("`{text}` is not a cron schedule: {e}"),
        })?;
        let schedule = Schedule {
            cron,
            tz,
            text: text.to_string(),
        };
        // A schedule no date satisfies (found by fuzzing: `0 2, 29 2 +`)
        // would make every search for its next slot run to croner's last
        // year: refuse it once, here.
        let reference = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
        if schedule.next_after(reference).is_none() {
            return Err(format!(
                "`{text}` never fires: no date matches all of its fields"
            ));
        }
        Ok(schedule)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first scheduled instant strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&self.local(t)?, false)
            .ok()
            .map(whole_second)
    }

    /// The last scheduled instant at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&self.local(t)?, true)
            .ok()
            .map(whole_second)
    }

    /// `t` in the schedule's zone, for instants of years 1 to 9999 only:
    /// near the ends of chrono's range a zone's offset overflows the local
    /// time and chrono panics (found by fuzzing), and no schedule fires
    /// there.
    fn local(&self, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let year = t.year();
        (1..=9999)
            .contains(&year)
            .then(|| t.with_timezone(&self.tz))
    }
}

fn parse_cron(text: &str) -> Result<Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
}

/// The first field of a refused schedule that is refused on its own (the
/// others replaced by `*`), named, so that the message says where to look.
fn bad_field(text: &str) -> Option<(&'static str, String)> {
    const FIVE: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    const SIX: [&str; 6] = [
        "second",
        "minute",
        "hour",
        "day-of-month",
        "month",
        "day-of-week",
    ];
    let fields: Vec<&str> = text.split_whitespace().collect();
    let names: &[&str] = if fields.len() == 6 { &SIX } else { &FIVE };
    (0..fields.len()).find_map(|i| {
        let probe: Vec<&str> = (0..fields.len())
            .map(|j| if j == i { fields[j] } else { "*" })
            .collect();
        parse_cron(&probe.join(" "))
            .is_err()
            .then(|| (names[i], fields[i].to_string()))
    })
}

/// croner carries the sub-second part of its starting point into the
/// instant it finds; schedules have whole seconds.
fn whole_second(d: DateTime<Tz>) -> DateTime<Utc> {
    let d = d.with_timezone(&Utc);
    d.with_nanosecond(0).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        let e = Schedule::parse("0 2, 29 2 +", chrono_tz::America::St_Johns).unwrap_err();
        assert!(e.contains("never fires"), "{e}");
        // Once every four years is a schedule.
        assert!(Schedule::parse("0 7 29 2 *", chrono_tz::UTC).is_ok());
    }

    #[test]
    fn a_bad_schedule_names_its_field() {
        let e = Schedule::parse("0 61 * * *", chrono_tz::UTC).unwrap_err();
        assert!(e.contains("its hour field `61`"), "{e}");
        let e = Schedule::parse("*/5 0 7 32 * *", chrono_tz::UTC).unwrap_err();
        assert!(e.contains("its day-of-month field `32`"), "{e}");
    }

    #[test]
    fn the_ends_of_time_have_no_slot() {
        // Found by fuzzing: chrono panicked converting these to a zone.
        let s = Schedule::parse("0 2 29 2 *", chrono_tz::America::St_Johns).unwrap();
        assert_eq!(s.next_after(DateTime::<Utc>::MIN_UTC), None);
        assert_eq!(s.latest_at_or_before(DateTime::<Utc>::MAX_UTC), None);
        assert!(s.next_after(utc("2026-11-01T00:00:00Z")).is_some());
    }

    #[test]
    fn local_time_is_kept_across_dst() {
        let s = Schedule::parse("0 7 * * *", chrono_tz::Europe::Berlin).unwrap();
        // Summer time (UTC+2) before 25 Oct 2026, winter (UTC+1) after.
        assert_eq!(
            s.next_after(utc("2026-10-24T12:00:00Z")),
            Some(utc("2026-10-25T06:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-10-23T12:00:00Z")),
            Some(utc("2026-10-24T05:00:00Z"))
        );
    }

    #[test]
    fn five_and_six_fields() {
        let tz = chrono_tz::UTC;
        let monthly = Schedule::parse("0 7 1 * *", tz).unwrap();
        assert_eq!(
            monthly.next_after(utc("2026-11-01T07:00:00Z")),
            Some(utc("2026-12-01T07:00:00Z"))
        );
        assert_eq!(
            monthly.latest_at_or_before(utc("2026-11-29T00:00:00Z")),
            Some(utc("2026-11-01T07:00:00Z"))
        );
        assert_eq!(
            monthly.latest_at_or_before(utc("2026-11-01T07:00:00.5Z")),
            Some(utc("2026-11-01T07:00:00Z"))
        );
        let every10s = Schedule::parse("*/10 * * * * *", tz).unwrap();
        assert_eq!(
            every10s.next_after(utc("2026-11-01T07:00:00.25Z")),
            Some(utc("2026-11-01T07:00:10Z"))
        );
        assert_eq!(
            every10s.next_after(utc("2026-11-01T07:00:01Z")),
            Some(utc("2026-11-01T07:00:10Z"))
        );
        assert!(Schedule::parse("* * *", tz).is_err());
        assert!(Schedule::parse("61 * * * *", tz).is_err());
    }
}
