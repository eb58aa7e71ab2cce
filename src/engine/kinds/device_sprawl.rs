//! `device_sprawl`: too many devices, and new devices on privileged accounts
//! (限制设备绑定数量, 新设备首次登录). From successful `login` events with a
//! `device_id`:
//! - `too_many_devices`: more than `max_devices` distinct devices within
//!   `lookback` before T;
//! - `new_device_on_privileged_account`: an account holding privileged access
//!   at T (a live grant of a `privileged` role or of a role with a permission
//!   matching `sensitive_permissions`) signing in within `lookback` from a
//!   device it did not sign in from in the `baseline` before that sign-in
//!   (a sign-in exactly `baseline` earlier counts as use). Severity high.
//!
//! One finding per account (subject `principal`), with its devices and, for
//! new devices, the first such sign-in from each. The database reads the
//! sign-ins of the lookback and its baseline (for accounts that signed in
//! within the lookback only), finds each one's previous sign-in from the same
//! device with a window function, and returns one row per account and device.

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::engine::context::{
    Context, Evaluation, GRANT_LIVE, Needed, RuleMeta, SUCCESS, evidence, instant_before,
    json_time, names,
};
use crate::engine::error::Result;
use crate::engine::roles::RoleInfo;
use crate::engine::sink::Sink;
use crate::model::{AccountStatus, Finding, Severity, Span, SubjectType};
use crate::store::{Backend, SqlValue, Tx};

use crate::engine::kind::{
    EventReach, Kind, gate_24h, invalid, non_empty, permission_patterns, statuses_usable,
};

/// `device_sprawl`: accounts signing in from many or new devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceSprawl {
    /// More distinct devices than this within `lookback` is a finding.
    pub max_devices: u32,
    /// Sign-ins considered: those within this period before T.
    pub lookback: Span,
    /// A device is new when the account did not sign in from it within
    /// this period before the sign-in.
    pub baseline: Span,
    /// Permissions that make a role's holder privileged (besides
    /// `roles.privileged`): patterns, case-insensitive.
    pub sensitive_permissions: Vec<String>,
    /// Flag new devices on privileged accounts (severity high).
    pub flag_new_devices: bool,
    /// Account statuses that are checked.
    pub statuses: Vec<AccountStatus>,
    /// Freshness gate on the event feed.
    pub max_event_age: Option<Span>,
}

impl Default for DeviceSprawl {
    fn default() -> Self {
        DeviceSprawl {
            max_devices: 3,
            lookback: Span::days(30),
            baseline: Span::days(90),
            sensitive_permissions: crate::engine::roles::default_sensitive_permissions(),
            flag_new_devices: true,
            statuses: statuses_usable(),
            max_event_age: gate_24h(),
        }
    }
}

/// At most this many devices are listed in a finding's evidence.
const LISTED_DEVICES: usize = 50;

/// One account's devices so far.
struct Account {
    id: String,
    login: String,
    privileged: bool,
    devices: Vec<String>,
    new_devices: Vec<(String, DateTime<Utc>)>,
}

impl Kind for DeviceSprawl {
    const NAME: &'static str = "device_sprawl";
    const NEEDS: &'static [Needed] = &[("events", "device_id")];

    /// The lookback, and before it the baseline of its first sign-in.
    fn event_reach(&self) -> EventReach {
        EventReach::Within(Span(self.lookback.0 + self.baseline.0))
    }

    fn defaults() -> Result<Self, &'static str> {
        Ok(Self::default())
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.max_devices < 1 {
            return invalid("max_devices", "must be at least 1");
        }
        non_empty("statuses", &self.statuses, "account status")?;
        permission_patterns("sensitive_permissions", &self.sensitive_permissions)?;
        Ok(())
    }

    async fn evaluate(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
    ) -> Result<Evaluation> {
        let p = self;
        if let Some(reason) = ctx.stale_events(p.max_event_age) {
            return Ok(Evaluation::skipped(reason));
        }
        let roles = RoleInfo::load_all(tx, &p.sensitive_permissions).await?;
        let privileged: Vec<&String> = roles
            .iter()
            .filter(|(_, r)| r.privileged || !r.sensitive_permissions.is_empty())
            .map(|(id, _)| id)
            .collect();
        let b = ctx.backend;
        let lookback_start = ctx.before(p.lookback);
        // A sign-in just after the lookback start needs its whole baseline.
        let read_from = instant_before(lookback_start, p.baseline);
        // $1 = T, $2 = read from (exclusive), $3 = lookback start (exclusive),
        // $4 = statuses, $5 = privileged role ids, $6 = max devices.
        // Whether an account is privileged is one join against the distinct
        // holders of a live privileged grant, not an EXISTS per (account,
        // device) pair; and only the devices of accounts that are findings
        // come back (the same test as `emit`'s): at 1M, 72,096 rows instead
        // of 557,654, the query 7.3 s against 7.9 s in `psql`.
        let principals = &ctx.principals;
        let signed_in_lately = match b {
            // Only the accounts that signed in within the lookback need
            // their history: SQLite finds them first (at 1M, 35.6 s
            // against 43.8 s without, in sqlite3); PostgreSQL would
            // scan events a second time for them and reads every
            // account's sign-ins in one pass faster (4.6 s against 9.3 s).
            Backend::Sqlite => {
                "
               AND e.principal_id IN (SELECT c.principal_id FROM events c
                                       WHERE c.action = 'login' AND c.occurred_at > $3 AND c.occurred_at <= $1
                                         AND c.device_id IS NOT NULL
                                         AND (c.outcome IS NULL OR c.outcome = 'success'))"
            }
            Backend::Postgres => "",
        };
        let baseline = b.interval(p.baseline.0);
        // The successful sign-ins with a device from the baseline's start to T.
        let sign_ins = format!(
            "FROM events e
                 WHERE e.action = 'login' AND {SUCCESS} AND e.device_id IS NOT NULL
                   AND e.occurred_at > $2 AND e.occurred_at <= $1{signed_in_lately}"
        );
        // Each device the account signed in from within the lookback, with
        // the first of those sign-ins that is new (the account's previous
        // sign-in on it more than `baseline` before), as `d`.
        let devices = if p.baseline.0 >= p.lookback.0 {
            // With a baseline at least as long as the lookback, only the
            // first sign-in of the lookback on a device can be new (a later
            // one follows it by less than the lookback), and the newest
            // sign-in before the lookback decides: one aggregate per
            // (account, device) instead of ordering every sign-in of the
            // window for LAG. At 1M in `psql`, under load: 8.4-8.6 s
            // against 10.2-10.7 s, the same rows.
            format!(
                "w AS (
                SELECT e.principal_id, e.device_id,
                       MIN(CASE WHEN e.occurred_at > $3 THEN e.occurred_at END) AS first_at,
                       MAX(CASE WHEN e.occurred_at <= $3 THEN e.occurred_at END) AS before_at
                  {sign_ins}
                 GROUP BY e.principal_id, e.device_id
             ),
             d AS (
                SELECT w.principal_id, w.device_id,
                       CASE WHEN w.before_at IS NULL OR w.before_at < w.first_at - {baseline}
                            THEN w.first_at END AS first_new_at
                  FROM w WHERE w.first_at IS NOT NULL
             )"
            )
        } else {
            format!(
                "s AS (
                SELECT e.principal_id, e.device_id, e.occurred_at,
                       LAG(e.occurred_at) OVER (PARTITION BY e.principal_id, e.device_id
                                                ORDER BY e.occurred_at) AS previous_at
                  {sign_ins}
             ),
             d AS (
                SELECT s.principal_id, s.device_id,
                       MIN(CASE WHEN s.previous_at IS NULL OR s.previous_at < s.occurred_at - {baseline}
                                THEN s.occurred_at END) AS first_new_at
                  FROM s WHERE s.occurred_at > $3
                 GROUP BY s.principal_id, s.device_id
             )"
            )
        };
        let sql = format!(
            "WITH {devices},
             a AS (
                SELECT d.principal_id, d.device_id, d.first_new_at,
                       COUNT(*) OVER (PARTITION BY d.principal_id) AS device_count,
                       MAX(d.first_new_at) OVER (PARTITION BY d.principal_id) AS any_new_at
                  FROM d
             )
             SELECT a.principal_id, a.device_id, a.first_new_at, p.login,
                    CAST(CASE WHEN v.principal_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS privileged
               FROM a JOIN {principals} p ON p.id = a.principal_id
               LEFT JOIN (SELECT DISTINCT g.principal_id FROM grants g
                           WHERE {roles} AND {GRANT_LIVE}) v ON v.principal_id = a.principal_id
              WHERE {statuses} AND (p.created_at IS NULL OR p.created_at <= $1)
                AND (a.device_count > $6{or_new_device})
              ORDER BY a.principal_id, a.device_id",
            or_new_device = if p.flag_new_devices {
                " OR (a.any_new_at IS NOT NULL AND v.principal_id IS NOT NULL)"
            } else {
                ""
            },
            roles = b.in_list("g.role_id", 5),
            statuses = b.in_short_list("p.status", 4, p.statuses.len()),
        );
        let params = [
            SqlValue::time(ctx.as_of),
            SqlValue::time(read_from),
            SqlValue::time(lookback_start),
            SqlValue::TextList(names(&p.statuses, AccountStatus::as_str)),
            SqlValue::list(&privileged),
            SqlValue::int(i64::from(p.max_devices)),
        ];
        // One pass aggregating every sign-in of four months: on PostgreSQL
        // compiling its expressions pays (5.4 s against 6.1 s at 1M).
        tx.compile_expressions().await?;
        let mut current: Option<Account> = None;
        let mut rows = tx.fetch(&sql, &params);
        while let Some(row) = rows.next().await {
            let row = row?;
            let id = row.req_text("principal_id")?;
            if current.as_ref().is_some_and(|a| a.id != id)
                && let Some(done) = current.take()
            {
                emit(done, p, rule, sink).await?;
            }
            let account = match current.as_mut() {
                Some(a) => a,
                None => current.insert(Account {
                    id,
                    login: row.req_text("login")?,
                    privileged: row.i64("privileged")?.unwrap_or(0) == 1,
                    devices: Vec::new(),
                    new_devices: Vec::new(),
                }),
            };
            let device = row.req_text("device_id")?;
            if let Some(first) = row.time("first_new_at")? {
                account.new_devices.push((device.clone(), first));
            }
            account.devices.push(device);
        }
        drop(rows);
        if let Some(done) = current {
            emit(done, p, rule, sink).await?;
        }
        Ok(Evaluation::default())
    }
}

async fn emit(a: Account, p: &DeviceSprawl, rule: &RuleMeta<'_>, sink: &mut Sink) -> Result<()> {
    let count = a.devices.len();
    let mut reasons: Vec<&str> = Vec::new();
    if count > p.max_devices as usize {
        reasons.push("too_many_devices");
    }
    let new_device = p.flag_new_devices && a.privileged && !a.new_devices.is_empty();
    if new_device {
        reasons.push("new_device_on_privileged_account");
    }
    if reasons.is_empty() {
        return Ok(());
    }
    let mut ev = evidence();
    ev.insert("login".into(), a.login.clone().into());
    ev.insert("reasons".into(), reasons.clone().into());
    ev.insert("device_count".into(), count.into());
    ev.insert(
        "devices".into(),
        a.devices
            .iter()
            .take(LISTED_DEVICES)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
    );
    ev.insert("max_devices".into(), p.max_devices.into());
    ev.insert("lookback".into(), p.lookback.to_string().into());
    ev.insert("privileged".into(), a.privileged.into());
    if new_device {
        let mut new_devices = a.new_devices.clone();
        new_devices.sort_by_key(|(_, at)| *at);
        let listed: Vec<serde_json::Value> = new_devices
            .iter()
            .take(LISTED_DEVICES)
            .map(|(device, at)| {
                let mut d = evidence();
                d.insert("device_id".into(), device.clone().into());
                d.insert("first_sign_in".into(), json_time(Some(*at)));
                d.into()
            })
            .collect();
        ev.insert("new_devices".into(), listed.into());
        ev.insert("baseline".into(), p.baseline.to_string().into());
    }
    let title = if new_device {
        let (device, at) = a
            .new_devices
            .iter()
            .min_by_key(|(_, at)| *at)
            .cloned()
            .unwrap_or_default();
        format!(
            "{}: privileged account signed in from new device {device} at {}",
            a.login,
            crate::model::format_instant(at)
        )
    } else {
        format!(
            "{}: signed in from {count} devices in {}",
            a.login, p.lookback
        )
    };
    sink.push(Finding {
        application: None,
        rule: rule.id.to_string(),
        severity: if new_device {
            rule.severity.max(Severity::High)
        } else {
            rule.severity
        },
        subject_type: SubjectType::Principal,
        subject_id: a.id,
        title,
        evidence: ev,
    })
    .await
}
