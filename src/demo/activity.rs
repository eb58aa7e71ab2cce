//! Six months of activity: what each account's habit leaves in the log.
//!
//! Working days start with a sign-in between 07:30 and 10:00 (from the office
//! IP, sometimes from the second, remote one), then a few views, maybe an
//! update, an export or delete when the cadence says so, and for IT the user
//! and role maintenance. Grants, revocations and account closures made by IT
//! are logged as `grant`, `revoke` and `update` by the administrator who made
//! them. Times are UTC.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use fastrand::Rng;

use super::builder::{Account, Cadence, Habit, Org, Pattern};
use super::timeline::{Event, as_of, window_start};

/// Days in the log: 1 May to 1 November 2026.
const DAYS: i64 = 185;

fn day(d: i64) -> DateTime<Utc> {
    window_start() + Duration::days(d)
}

fn index_of(t: DateTime<Utc>) -> i64 {
    (t - window_start()).num_days()
}

fn weekend(d: i64) -> bool {
    matches!(day(d).weekday(), Weekday::Sat | Weekday::Sun)
}

/// The first and last day index an account is active (inclusive), if any.
fn active_days(h: &Habit) -> Option<(i64, i64)> {
    // From the day after the account was created (or the log starts).
    let lo = if h.from < window_start() {
        0
    } else {
        index_of(h.from) + 1
    };
    let hi = index_of(h.until).min(DAYS - 1);
    (lo <= hi).then_some((lo, hi))
}

fn ev(
    a: &Account,
    at: DateTime<Utc>,
    action: &'static str,
    object: Option<&'static str>,
    records: Option<i64>,
    slot: usize,
) -> Event {
    let h = &a.habit;
    Event {
        at,
        principal: a.id.clone(),
        action,
        object,
        records,
        ip: h.ips.get(slot).or(h.ips.first()).cloned(),
        device: h.devices.get(slot).or(h.devices.first()).cloned(),
        success: true,
    }
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub(crate) fn generate(org: &Org, rng: &mut Rng) -> Vec<Event> {
    let mut out = Vec::with_capacity(150_000);
    let index: BTreeMap<&str, usize> = org
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    for a in &org.accounts {
        match a.habit.pattern {
            Pattern::Worker => worker(a, rng, &mut out),
            Pattern::LoginOnly => login_only(a, rng, &mut out),
            Pattern::Etl => etl(a, &mut out),
            Pattern::Intake => intake(a, rng, &mut out),
            Pattern::Frontdesk => frontdesk(a, rng, &mut out),
            Pattern::Agency => agency(a, rng, &mut out),
            Pattern::Admin => admin(a, rng, &mut out),
            Pattern::Team => team(a, org, rng, &mut out),
            Pattern::Dormant => {}
        }
        if let Some((at, by)) = &a.disabled
            && *at >= window_start()
            && let Some(&i) = index.get(by.as_str())
        {
            out.push(ev(&org.accounts[i], *at, "update", Some("user"), None, 0));
        }
    }
    for g in &org.grants {
        let Some(by) = g.granted_by.as_deref().and_then(|b| index.get(b)) else {
            continue;
        };
        let admin = &org.accounts[*by];
        if g.granted_at >= window_start() {
            out.push(ev(admin, g.granted_at, "grant", Some("role"), None, 0));
        }
        if let Some(at) = g.revoked_at.filter(|t| *t >= window_start()) {
            out.push(ev(admin, at, "revoke", Some("role"), None, 0));
        }
    }
    out
}

/// The days of a cadence: every `gap` days (moved off weekends), within the
/// account's active days and the cadence's own bounds.
fn cadence_days(c: Option<&Cadence>, h: &Habit, rng: &mut Rng) -> BTreeSet<i64> {
    let mut days = BTreeSet::new();
    let (Some(c), Some((lo, hi))) = (c, active_days(h)) else {
        return days;
    };
    let lo = c.from.map_or(lo, |f| lo.max(index_of(f)));
    let hi = c.until.map_or(hi, |u| hi.min(index_of(u)));
    let mut d = lo + rng.i64(0..=c.gap.1);
    while d <= hi {
        let shifted = match day(d).weekday() {
            Weekday::Sat => d + 2,
            Weekday::Sun => d + 1,
            _ => d,
        };
        if shifted <= hi {
            days.insert(shifted);
        }
        d += rng.i64(c.gap.0..=c.gap.1);
    }
    days
}

fn worker(a: &Account, rng: &mut Rng, out: &mut Vec<Event>) {
    let h = &a.habit;
    let Some((lo, hi)) = active_days(h) else {
        return;
    };
    let exports = cadence_days(h.export.as_ref(), h, rng);
    let deletes = cadence_days(h.delete.as_ref(), h, rng);
    // The day the second device (phone, home PC) was last used.
    let mut second_used = lo;
    for d in lo..=hi {
        let export = exports.contains(&d);
        let delete = deletes.contains(&d);
        let p = if weekend(d) { h.weekend_p } else { h.login_p };
        if !(export || delete) && rng.f64() >= p {
            continue;
        }
        // Now and then from home: the second IP and device.
        let mut slot = usize::from(h.ips.len() > 1 && rng.f64() < 0.15);
        // The second device signs in at least every three weeks: one unused
        // for the 90-day baseline would be a new device to device-sprawl.
        let due = h.devices.len() > 1 && d - second_used >= 20;
        if due {
            slot = 1;
        }
        if slot == 1 {
            second_used = d;
        }
        let t0 = day(d) + minutes(450 + rng.i64(0..150));
        // A session often lasts from one day to the next: no sign-in then.
        if rng.f64() < 0.6 || due {
            if rng.f64() < 0.03 {
                let mut failed = ev(a, t0 - minutes(2), "login_failed", None, None, slot);
                failed.success = false;
                out.push(failed);
            }
            out.push(ev(a, t0, "login", None, None, slot));
        }
        // The log keeps a sample of views: about one in two working days.
        if rng.f64() < 0.45 {
            let object = h.objects[rng.usize(..h.objects.len())];
            out.push(ev(
                a,
                t0 + minutes(rng.i64(5..520)),
                "view",
                Some(object),
                None,
                slot,
            ));
        }
        if rng.f64() < h.update_p {
            let object = h.objects[rng.usize(..h.objects.len())];
            out.push(ev(
                a,
                t0 + minutes(rng.i64(10..520)),
                "update",
                Some(object),
                None,
                slot,
            ));
        }
        if rng.f64() < 0.06 {
            // An afternoon sign-in from the other place, if there is one.
            let other = usize::from(slot == 0 && (h.ips.len() > 1 || h.devices.len() > 1));
            if other == 1 {
                second_used = d;
            }
            let at = day(d) + minutes(780 + rng.i64(0..240));
            out.push(ev(a, at, "login", None, None, other));
        }
        if let (true, Some(c)) = (export, h.export.as_ref()) {
            let records = if rng.f64() < c.uncounted {
                None
            } else {
                Some(rng.i64(c.records.0..=c.records.1))
            };
            let at = t0 + minutes(rng.i64(60..420));
            out.push(ev(a, at, "export", Some(c.object), records, slot));
        }
        if let (true, Some(c)) = (delete, h.delete.as_ref()) {
            let at = t0 + minutes(rng.i64(30..450));
            out.push(ev(a, at, "delete", Some(c.object), Some(1), slot));
        }
        // IT's user and role maintenance: working days, office hours (the
        // admin-actions-review rule raises anything else to medium).
        if h.admin_p > 0.0 && !weekend(d) && rng.f64() < h.admin_p {
            for _ in 0..rng.i64(1..=3) {
                let object = if rng.bool() { "user" } else { "role" };
                out.push(ev(
                    a,
                    day(d) + minutes(540 + rng.i64(0..480)),
                    "update",
                    Some(object),
                    None,
                    slot,
                ));
            }
        }
    }
}

/// Signs in every two to four weeks, looks at nothing.
fn login_only(a: &Account, rng: &mut Rng, out: &mut Vec<Event>) {
    let Some((lo, hi)) = active_days(&a.habit) else {
        return;
    };
    let mut d = lo + rng.i64(0..14);
    while d <= hi {
        if !weekend(d) {
            out.push(ev(
                a,
                day(d) + minutes(540 + rng.i64(0..60)),
                "login",
                None,
                None,
                0,
            ));
        }
        d += rng.i64(12..=24);
    }
}

/// The ERP sync: signs in at 02:00 for the nightly run, then updates
/// customers every two hours through the working day.
fn etl(a: &Account, out: &mut Vec<Event>) {
    let end = as_of();
    for d in 0..DAYS {
        for hour in [2, 8, 10, 12, 14, 16, 18] {
            let at = day(d) + Duration::hours(hour);
            if at + minutes(5) >= end {
                return;
            }
            if hour == 2 {
                out.push(ev(a, at + minutes(2), "login", None, None, 0));
            }
            out.push(ev(a, at + minutes(5), "update", Some("customer"), None, 0));
        }
    }
}

/// The support mailbox turns e-mails into tickets all day long.
fn intake(a: &Account, rng: &mut Rng, out: &mut Vec<Event>) {
    let Some((lo, hi)) = active_days(&a.habit) else {
        return;
    };
    for d in lo..=hi {
        out.push(ev(a, day(d) + minutes(1), "login", None, None, 0));
        for _ in 0..rng.i64(1..=3) {
            out.push(ev(
                a,
                day(d) + minutes(rng.i64(10..1400)),
                "create",
                Some("ticket"),
                None,
                0,
            ));
        }
    }
}

/// The reception PC looks customers up for visitors.
fn frontdesk(a: &Account, rng: &mut Rng, out: &mut Vec<Event>) {
    let Some((lo, hi)) = active_days(&a.habit) else {
        return;
    };
    for d in (lo..=hi).filter(|d| !weekend(*d)) {
        let t0 = day(d) + minutes(480 + rng.i64(0..30));
        out.push(ev(a, t0, "login", None, None, 0));
        for _ in 0..rng.i64(1..=3) {
            let object = if rng.bool() { "customer" } else { "contact" };
            out.push(ev(
                a,
                t0 + minutes(rng.i64(5..540)),
                "view",
                Some(object),
                None,
                0,
            ));
        }
    }
}

/// The agency enters the leads of its campaigns a few days a week.
fn agency(a: &Account, rng: &mut Rng, out: &mut Vec<Event>) {
    let Some((lo, hi)) = active_days(&a.habit) else {
        return;
    };
    for d in (lo..=hi).filter(|d| !weekend(*d)) {
        if rng.f64() < 0.5 {
            continue;
        }
        let t0 = day(d) + minutes(540 + rng.i64(0..120));
        out.push(ev(a, t0, "login", None, None, 0));
        for _ in 0..rng.i64(1..=4) {
            out.push(ev(
                a,
                t0 + minutes(rng.i64(3..90)),
                "create",
                Some("lead"),
                None,
                0,
            ));
        }
    }
}

/// The installer's `admin`: IT's Monday maintenance.
fn admin(a: &Account, rng: &mut Rng, out: &mut Vec<Event>) {
    let Some((lo, hi)) = active_days(&a.habit) else {
        return;
    };
    for d in (lo..=hi).filter(|d| day(*d).weekday() == Weekday::Mon) {
        if rng.f64() < 0.1 {
            continue;
        }
        let t0 = day(d) + minutes(540 + rng.i64(0..60));
        out.push(ev(a, t0, "login", None, None, 0));
        for _ in 0..rng.i64(1..=3) {
            out.push(ev(
                a,
                t0 + minutes(rng.i64(2..50)),
                "update",
                Some("system"),
                None,
                0,
            ));
        }
    }
}

/// `sales01`: the inside-sales desk signs in with one login from four desks.
fn team(a: &Account, org: &Org, rng: &mut Rng, out: &mut Vec<Event>) {
    let Some((lo, hi)) = active_days(&a.habit) else {
        return;
    };
    for d in (lo..=hi).filter(|d| !weekend(*d)) {
        for &m in &a.habit.members {
            if rng.f64() < 0.2 {
                continue;
            }
            let desk = &org.accounts[m].habit;
            let at = day(d) + minutes(510 + rng.i64(0..50));
            out.push(Event {
                at,
                principal: a.id.clone(),
                action: "login",
                object: None,
                records: None,
                ip: desk.ips.first().cloned(),
                device: desk.devices.first().cloned(),
                success: true,
            });
            out.push(Event {
                at: at + minutes(rng.i64(2..120)),
                principal: a.id.clone(),
                action: "view",
                object: Some(if rng.bool() { "lead" } else { "customer" }),
                records: None,
                ip: desk.ips.first().cloned(),
                device: desk.devices.first().cloned(),
                success: true,
            });
        }
    }
}
