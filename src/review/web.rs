//! The reviewer's page, served by `accessaudit serve` (`review_page:`) and
//! by `accessaudit reviews page`.
//!
//! The link is the credential: `/review/TOKEN`, whose SHA-256 must be a
//! link of an open campaign, not revoked, before its deadline. The page
//! works without JavaScript (one plain form; several submit buttons) and
//! loads nothing from elsewhere. Every response carries a strict
//! Content-Security-Policy (no script at all; the one style element by its
//! hash), frame denial, no-referrer (the token is in the URL) and no-store.
//! Every state-changing request carries a CSRF token that must equal the
//! `SameSite=Strict` cookie set with the page (double submit): a page on
//! another site can neither read nor send it. Every value is escaped.
//! What is refused gets a page that says why, without a form: a link
//! mistyped or revoked (404), a campaign closed (410), a form without the
//! page's CSRF token (403). Driven in Chromium by
//! `tests/integration/review_browser.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;

use super::decide::{self, Ask, Outcome};
use super::notify::{self, reviewer_label, token_hash};
use super::open::People;
use super::record::{self, Campaign, Item};
use super::{Decision, DecisionSource, ReviewError};
use crate::config::Config;
use crate::model::format_instant;
use crate::store::Store;
use crate::support::text::html_escape as esc;

/// What the page's handlers share.
pub struct PageState {
    pub store: Store,
    pub config: Config,
}

/// The page's routes.
pub fn router(state: Arc<PageState>) -> Router {
    Router::new()
        .route("/review/{token}", get(page))
        .route("/review/{token}", post(submit))
        .fallback(|| async {
            refusal(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no page at this address.",
                None,
            )
        })
        .with_state(state)
}

/// Serves the page until the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<PageState>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// The page's one style sheet (the CSP allows it by its hash: no inline
/// `style` attribute would apply). Long words (logins, role names) wrap
/// anywhere so that a phone never scrolls sideways; the sticky bar holds
/// only "Save decisions", so that it covers little of a phone's screen, and
/// what is scrolled to (a focused field) stops above it.
const CSS: &str = "html{scroll-padding-bottom:4em}body{font-family:system-ui,sans-serif;margin:0 auto;max-width:960px;padding:8px;color:#1b1b1b;background:#fff;overflow-wrap:anywhere}\
h1{font-size:1.3em}h2{font-size:1.1em;margin:1.2em 0 .3em;border-bottom:1px solid #ccc}\
.item{border:1px solid #ccc;border-radius:6px;padding:8px;margin:8px 0}.item p{margin:.4em 0}\
.facts{font-size:.9em;color:#333}.facts span{display:inline-block;margin-right:1em}\
.find{color:#8a1c1c}.done{color:#1c6b2a}.err{background:#fde8e8;border:1px solid #c33;padding:8px}\
.ok{background:#e8f6ea;border:1px solid #3a3;padding:8px}\
fieldset{border:0;padding:0;margin:0}legend{padding:0}\
label{display:inline-block;padding:4px 0;margin-right:1.2em}input[type=checkbox],input[type=radio]{width:1.2em;height:1.2em;vertical-align:-.2em;margin:0 .3em 0 0}\
input[type=text]{width:100%;box-sizing:border-box;padding:6px;margin-top:2px;font-size:1em}\
.bar{position:sticky;bottom:0;background:#f4f4f4;border-top:1px solid #ccc;padding:4px 8px}\
.bulk{border:1px solid #ccc;border-radius:6px;padding:8px;margin:16px 0}.bulk legend{font-weight:bold;padding:0 4px}\
button{padding:8px 12px;margin:4px 4px 4px 0;font-size:1em}";

fn csp() -> String {
    use sha2::Digest;
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The headers every response carries.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A page that says why nothing is shown or nothing was saved: a heading,
/// the reason, and no form; `back` links to the reviewer's page.
fn refusal(status: StatusCode, title: &str, text: &str, back: Option<&str>) -> Response {
    let back = back
        .map(|href| {
            format!(
                "<p><a href=\"{}\">Open your review page again</a></p>",
                esc(href)
            )
        })
        .unwrap_or_default();
    html(
        status,
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>{CSS}</style></head><body><h1>{title}</h1><p class=\"err\" role=\"alert\">{text}</p>{back}</body></html>",
            title = esc(title),
            text = esc(text),
        ),
        None,
    )
}

/// The database could not be reached (the cause is logged, not shown).
fn unavailable(what: &str) -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "The review service is unavailable",
        &format!("It cannot reach its database{what}; try again later."),
        None,
    )
}

fn html(status: StatusCode, body: String, cookie: Option<String>) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    secure(r)
}

/// The campaign and reviewer a token opens, or why it opens nothing.
async fn authorise(state: &PageState, token: &str) -> Result<(Campaign, String), Response> {
    let gone = || {
        refusal(
            StatusCode::NOT_FOUND,
            "This review link is not valid",
            "It was mistyped or revoked. Use the link of your latest invitation or reminder, or \
             ask whoever runs the review for a new one.",
            None,
        )
    };
    // Tokens are URL-safe base64 of 32 bytes; anything else is not one.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(gone());
    }
    let internal = |e: ReviewError| {
        tracing::error!("review page: {e}");
        unavailable("")
    };
    let mut tx = state.store.begin().await.map_err(|e| internal(e.into()))?;
    let Some(link) = record::link(&mut tx, &token_hash(token))
        .await
        .map_err(internal)?
    else {
        return Err(gone());
    };
    let campaign = record::campaign(&mut tx, link.campaign_id)
        .await
        .map_err(internal)?;
    tx.rollback().await.map_err(|e| internal(e.into()))?;
    // A closed campaign says so, also through the links its close revoked;
    // a link revoked in an open campaign opens nothing.
    if decide::check_open(&campaign, Utc::now()).is_err() {
        return Err(refusal(
            StatusCode::GONE,
            "This review has closed",
            "Its deadline has passed or it was closed: its link no longer works and it takes \
             no more decisions.",
            None,
        ));
    }
    if link.revoked {
        return Err(gone());
    }
    Ok((campaign, link.reviewer))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

const CSRF_COOKIE: &str = "accessaudit_csrf";

async fn page(
    State(state): State<Arc<PageState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (campaign, reviewer) = match authorise(&state, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Keep the reviewer's CSRF cookie across loads (a second tab works).
    let (csrf, cookie) = match cookie_value(&headers, CSRF_COOKIE).filter(|c| c.len() == 43) {
        Some(c) => (c, None),
        None => match notify::new_token() {
            Ok((c, _)) => {
                let cookie =
                    format!("{CSRF_COOKIE}={c}; Path=/review/{token}; HttpOnly; SameSite=Strict");
                (c, Some(cookie))
            }
            Err(e) => {
                tracing::error!("review page: {e}");
                return refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The review service is unavailable",
                    "It could not make the page's security token; try again later.",
                    None,
                );
            }
        },
    };
    match render(
        &state,
        &campaign,
        &reviewer,
        &token,
        &csrf,
        None,
        &BTreeMap::new(),
    )
    .await
    {
        Ok(body) => html(StatusCode::OK, body, cookie),
        Err(e) => {
            tracing::error!("review page: {e}");
            unavailable("")
        }
    }
}

/// A message shown above the items.
enum Notice {
    Ok(String),
    Err(String),
}

async fn submit(
    State(state): State<Arc<PageState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (campaign, reviewer) = match authorise(&state, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let cookie = cookie_value(&headers, CSRF_COOKIE);
    match (cookie.as_deref(), field("csrf")) {
        (Some(c), Some(f)) if !c.is_empty() && c == f => {}
        _ => {
            return refusal(
                StatusCode::FORBIDDEN,
                "Nothing was saved",
                "This form was not sent from your review page (its security token is missing or \
                 wrong). Open the page again and make your decisions there.",
                Some(&format!("/review/{token}")),
            );
        }
    }
    let csrf = field("csrf").unwrap_or_default().to_string();
    let action = field("action").unwrap_or("save");
    let selected: Vec<i64> = form
        .iter()
        .filter(|(n, _)| n == "sel")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    // What the reviewer typed, to show again if something is refused.
    let mut typed: BTreeMap<i64, (Option<Decision>, String)> = BTreeMap::new();
    for (n, v) in &form {
        if let Some(id) = n.strip_prefix("d-").and_then(|i| i.parse().ok()) {
            typed.entry(id).or_default().0 = Decision::parse(v);
        }
        if let Some(id) = n.strip_prefix("j-").and_then(|i| i.parse().ok()) {
            typed.entry(id).or_default().1 = v.clone();
        }
    }
    let now = Utc::now();
    let result: Result<String, ReviewError> = async {
        let mut tx = record::begin(&state.store).await?;
        let people = People::load(&mut tx).await?;
        let mut recorded = 0;
        let mut unchanged = 0;
        let mut asked: Vec<(i64, Decision, &str)> = Vec::new();
        match action {
            "delegate" => {
                let to = field("delegate_to").unwrap_or("").trim();
                if selected.is_empty() || to.is_empty() {
                    return Err(ReviewError::Refused(
                        "to delegate, select items and name who takes them over".into(),
                    ));
                }
                let target = decide::delegate_in(
                    &mut tx,
                    &state.config,
                    &people,
                    &campaign,
                    &selected,
                    &reviewer,
                    to,
                    now,
                )
                .await?;
                notify::delegated(
                    &mut tx,
                    &state.config,
                    &people,
                    &campaign,
                    &target.key(),
                    now,
                )
                .await?;
                tx.commit().await?;
                return Ok(format!(
                    "{} item(s) handed over to {}.",
                    selected.len(),
                    reviewer_label(&target.key(), &state.config, &people)
                ));
            }
            "keep_selected" | "revoke_selected" => {
                if selected.is_empty() {
                    return Err(ReviewError::Refused(
                        "select the items to decide first".into(),
                    ));
                }
                let decision = if action == "keep_selected" {
                    Decision::Keep
                } else {
                    Decision::Revoke
                };
                let bulk = field("bulk_justification").unwrap_or("").trim();
                // An item's own justification, else the selection's.
                for &id in &selected {
                    let own = typed.get(&id).map_or("", |t| t.1.trim());
                    asked.push((id, decision, if own.is_empty() { bulk } else { own }));
                }
            }
            _ => {
                for (&id, (decision, justification)) in &typed {
                    if let Some(decision) = decision {
                        asked.push((id, *decision, justification.as_str()));
                    }
                }
            }
        }
        for &(item_id, decision, justification) in &asked {
            let ask = Ask {
                item_id,
                decision,
                justification: Some(justification),
                by: &reviewer,
                source: DecisionSource::Page,
            };
            match decide::decide_in(&mut tx, &state.config, &people, &campaign, &ask, now).await? {
                Outcome::Recorded => recorded += 1,
                Outcome::Unchanged => unchanged += 1,
            }
        }
        tx.commit().await?;
        Ok(format!(
            "Saved: {recorded} decision(s) recorded{}.",
            if unchanged > 0 {
                format!(", {unchanged} already recorded")
            } else {
                String::new()
            }
        ))
    }
    .await;
    let (status, notice, shown) = match result {
        Ok(m) => (StatusCode::OK, Notice::Ok(m), BTreeMap::new()),
        Err(ReviewError::Refused(m)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice::Err(format!("Nothing was saved: {m}.")),
            typed,
        ),
        Err(e) => {
            tracing::error!("review page: {e}");
            return unavailable(" (nothing was saved)");
        }
    };
    match render(
        &state,
        &campaign,
        &reviewer,
        &token,
        &csrf,
        Some(notice),
        &shown,
    )
    .await
    {
        Ok(body) => html(status, body, None),
        Err(e) => {
            tracing::error!("review page: {e}");
            unavailable("")
        }
    }
}

fn fact(item: &Item, key: &str) -> String {
    esc(item.fact(key))
}

const FOOTER: &str = "<p class=\"facts\">This page is personal: your link signs your decisions. Do not forward it.</p></body></html>";

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &PageState,
    campaign: &Campaign,
    reviewer: &str,
    token: &str,
    csrf: &str,
    notice: Option<Notice>,
    typed: &BTreeMap<i64, (Option<Decision>, String)>,
) -> Result<String, ReviewError> {
    let mut tx = state.store.begin().await?;
    let people = People::load(&mut tx).await?;
    let items: Vec<Item> = record::items(&mut tx, campaign.id)
        .await?
        .into_iter()
        .filter(|i| i.reviewer == reviewer)
        .collect();
    tx.rollback().await?;
    let config = &state.config;
    let tz = config.tz();
    let day = |t: &str| -> String {
        crate::model::parse_instant(t)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| {
                if t.is_empty() {
                    "never".into()
                } else {
                    t.to_string()
                }
            })
    };
    let undecided = items.iter().filter(|i| i.decision.is_none()).count();
    let who = reviewer_label(reviewer, config, &people);
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Access review: {def}</title><style>{CSS}</style></head><body>\
         <h1>Access review: {def}</h1><p>Reviewer: <b>{who}</b>. {n} item(s), {undecided} still to decide. Deadline: <b>{deadline}</b>. \
         What nobody decides by then is {policy}. {just}</p>\
         <p class=\"facts\">Choose Keep or Revoke for each item and press <b>Save decisions</b>; \
         or tick several items and use the tools at the end of the page.</p>",
        def = esc(&campaign.definition),
        who = esc(&who),
        n = items.len(),
        deadline = esc(&campaign
            .deadline
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()),
        policy = match campaign.settings.at_deadline {
            crate::config::DeadlineAction::Revoke => "revoked",
            crate::config::DeadlineAction::Keep => "kept",
            crate::config::DeadlineAction::None => "reported as undecided",
        },
        just = match campaign.settings.justification {
            crate::config::JustificationRule::Always => "Every decision needs a justification.",
            crate::config::JustificationRule::Sensitive =>
                "Decisions on sensitive access need a justification.",
            crate::config::JustificationRule::Never => "",
        },
    );
    match notice {
        Some(Notice::Ok(m)) => {
            out.push_str(&format!("<p class=\"ok\" role=\"status\">{}</p>", esc(&m)))
        }
        Some(Notice::Err(m)) => {
            out.push_str(&format!("<p class=\"err\" role=\"alert\">{}</p>", esc(&m)))
        }
        None => {}
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"/review/{token}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">",
        token = esc(token),
        csrf = esc(csrf)
    ));
    // Grouped by person (accounts without one under their login).
    let mut groups: BTreeMap<String, Vec<&Item>> = BTreeMap::new();
    for i in &items {
        let key = match i.fact("person_name") {
            "" => format!("{} (account without a person)", i.fact("login")),
            n => n.to_string(),
        };
        groups.entry(key).or_default().push(i);
    }
    for (person, list) in &groups {
        let first = list[0];
        out.push_str(&format!(
            "<section><h2>{}</h2><p class=\"facts\"><span>{}</span><span>{}</span><span>Manager: {}</span><span>Employment: {}</span></p>",
            esc(person),
            fact(first, "department"),
            fact(first, "title"),
            fact(first, "manager"),
            fact(first, "employment_status"),
        ));
        for i in list {
            let (typed_decision, typed_just) = typed.get(&i.id).cloned().unwrap_or_default();
            let current = i.decision.as_ref().map(|d| d.decision);
            let prefill = i
                .context
                .get("prefill")
                .and_then(|p| p.as_str())
                .and_then(Decision::parse);
            let chosen = typed_decision.or(current).or(prefill);
            let checked = |d: Decision| if chosen == Some(d) { " checked" } else { "" };
            let findings: Vec<String> = i
                .context
                .get("findings")
                .and_then(|f| f.as_array())
                .map(|f| {
                    f.iter()
                        .map(|x| {
                            format!(
                                "{} ({})",
                                x.get("title").and_then(|t| t.as_str()).unwrap_or(""),
                                x.get("rule").and_then(|t| t.as_str()).unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let peers = match i.context.get("peers") {
                Some(p) if p.is_object() => format!(
                    "{} of {} peers (same department and title) hold it",
                    p["holding"], p["of"]
                ),
                _ => "peers unknown (no department or title)".to_string(),
            };
            let previous = match i.context.get("previous") {
                Some(p) if p.is_object() => format!(
                    "Previous review: {} by {} on {}{}",
                    p["decision"].as_str().unwrap_or(""),
                    reviewer_label(p["decided_by"].as_str().unwrap_or(""), config, &people),
                    day(p["decided_at"].as_str().unwrap_or("")),
                    if p["unchanged"].as_bool() == Some(true) {
                        ", unchanged since"
                    } else {
                        ", changed since"
                    }
                ),
                _ => "First review of this access".to_string(),
            };
            let just_value = if typed_just.is_empty() {
                i.decision
                    .as_ref()
                    .and_then(|d| d.justification.clone())
                    .unwrap_or_default()
            } else {
                typed_just
            };
            let needs = if decide::justification_required(campaign, i) {
                " (required)"
            } else {
                ""
            };
            let status = match &i.decision {
                Some(d) => format!(
                    "<span class=\"done\">Decided: {} by {} on {}</span>",
                    d.decision.as_str(),
                    esc(&reviewer_label(&d.decided_by, config, &people)),
                    esc(&day(&format_instant(d.decided_at)))
                ),
                None => "Not decided yet".to_string(),
            };
            let permissions: Vec<String> = i
                .context
                .get("permissions")
                .and_then(|p| p.as_array())
                .map(|p| {
                    p.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "<div class=\"item\" id=\"item-{id}\"><p><label><input type=\"checkbox\" name=\"sel\" value=\"{id}\"> <b>{login}</b> holds <b>{role}</b></label>{sens}</p>\
                 <p class=\"facts\"><span>Account: {atype}, {astatus}</span><span>Role description: {desc}</span><span>Permits: {perms}</span>\
                 <span>Granted {granted} by {granted_by}, approved by {approved}</span><span>Last sign-in: {login_at}</span><span>Last use of this access: {used}</span>\
                 <span>{peers}</span><span>{previous}</span></p>{findings}<p>{status}</p>\
                 <fieldset><legend class=\"facts\">Decision for item {id}</legend>\
                 <label><input type=\"radio\" name=\"d-{id}\" value=\"keep\"{keep}> Keep</label>\
                 <label><input type=\"radio\" name=\"d-{id}\" value=\"revoke\"{revoke}> Revoke</label></fieldset>\
                 <label for=\"j-{id}\" class=\"facts\">Justification{needs}</label><input type=\"text\" id=\"j-{id}\" name=\"j-{id}\" value=\"{just}\" maxlength=\"2000\"></div>",
                id = i.id,
                login = fact(i, "login"),
                role = fact(i, "role_name"),
                sens = if i.sensitive { " <span class=\"find\">sensitive</span>" } else { "" },
                atype = fact(i, "account_type"),
                astatus = fact(i, "account_status"),
                desc = fact(i, "role_description"),
                perms = esc(&permissions.join(", ")),
                granted = esc(&day(i.fact("granted_at"))),
                granted_by = esc(match i.fact("granted_by") { "" => "unknown", g => g }),
                approved = esc(match i.fact("approved_by") { "" => "nobody", a => a }),
                login_at = esc(&day(i.fact("last_login_at"))),
                used = esc(&day(i.fact("last_used_at"))),
                peers = esc(&peers),
                previous = esc(&previous),
                findings = if findings.is_empty() {
                    String::new()
                } else {
                    format!("<p class=\"find\">Open findings: {}</p>", esc(&findings.join("; ")))
                },
                keep = checked(Decision::Keep),
                revoke = checked(Decision::Revoke),
                just = esc(&just_value),
            ));
        }
        out.push_str("</section>");
    }
    if items.is_empty() {
        out.push_str("<p>You have no items in this campaign.</p></form>");
        out.push_str(FOOTER);
        return Ok(out);
    }
    // "Save decisions" comes first: it is what Enter in a field submits.
    // The tools for ticked items stay out of the sticky bar, which on a
    // phone would otherwise cover half the screen.
    out.push_str(
        "<div class=\"bar\"><button type=\"submit\" name=\"action\" value=\"save\">Save decisions</button></div>\
         <fieldset class=\"bulk\"><legend>The items ticked above</legend>\
         <p><label for=\"bulk_justification\" class=\"facts\">Justification for all of them (an item's own justification, if typed, is kept)</label>\
         <input type=\"text\" id=\"bulk_justification\" name=\"bulk_justification\" maxlength=\"2000\"></p>\
         <button type=\"submit\" name=\"action\" value=\"keep_selected\">Keep selected</button>\
         <button type=\"submit\" name=\"action\" value=\"revoke_selected\">Revoke selected</button>\
         <p><label for=\"delegate_to\" class=\"facts\">Or hand them over to another reviewer (email address)</label>\
         <input type=\"text\" inputmode=\"email\" id=\"delegate_to\" name=\"delegate_to\" maxlength=\"320\"></p>\
         <button type=\"submit\" name=\"action\" value=\"delegate\">Delegate selected</button></fieldset></form>",
    );
    out.push_str(FOOTER);
    Ok(out)
}
