//! The rule file: TOML, read with serde into raw tables that keep each value's place in the
//! text, then checked field by field into a [`RuleSet`]. Every error names the file, the
//! line and the rule, e.g. `rules.toml:14: rule "burst": window "5q" is not a duration (use
//! 30s, 5m, 1h, 30d)`, and never echoes a card number. See `examples/rules.toml` for every
//! kind of rule, documented.

use std::fmt;
use std::ops::Range;

use domain::{Currency, MerchantId, Pan, ResponseCode, TerminalId};
use serde::Deserialize;
use toml::Spanned;

use crate::key::{BIN_DIGITS_MAX, KeyHasher};
use crate::rules::{
    BANDS_MAX, BLOCK_LIST_MAX, Band, BlockList, Check, Label, MccSet, Measure, Mismatch, NewMerchantLimit, RULES_MAX,
    Rule, RuleSet, Scoring, windows_of,
};
use crate::store::{COLUMNS_PER_ENTITY_MAX, Entity, PIN_FAILURES_KEPT};
use crate::window::{Flow, WINDOW_MS_MAX, WINDOW_MS_MIN, WindowKey};

/// Response codes a rule may decline with: suspected fraud, amount or count limit, not
/// permitted (card, terminal), restricted card, do not honour.
const DECLINE_CODES: [&str; 7] = ["34", "61", "65", "57", "58", "62", "05"];
const DAY_MS: u64 = 86_400_000;
/// Codes in one `mcc` list, at most: every 4-digit code once.
const MCC_LIST_MAX: usize = 10_000;
/// Longest rule file accepted: a bound on what a parse may allocate.
pub const RULE_FILE_BYTES_MAX: usize = 8 << 20;

/// A rule file that cannot be used, and where.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RuleFileError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(rule) = &self.rule {
            write!(f, "rule {rule:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    currency: Spanned<String>,
    decline_score: Spanned<i64>,
    alert_score: Spanned<i64>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    #[serde(default)]
    lower: u64,
    upper: Option<u64>,
    score: i64,
    reason: Option<String>,
}

type S<T> = Option<Spanned<T>>;

/// Every field any kind uses; which apply to which kind is checked by [`fields_of`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    kind: Spanned<String>,
    reason: S<String>,
    score: S<i64>,
    threshold: S<u64>,
    bands: S<Vec<Spanned<RawBand>>>,
    decline: S<String>,
    entity: S<String>,
    measure: S<String>,
    window: S<String>,
    history_min: S<u32>,
    count: S<u32>,
    mcc: S<Vec<Spanned<String>>>,
    hours: S<String>,
    utc_offset: S<String>,
    cards: S<Vec<Spanned<String>>>,
    pan_hashes: S<Vec<Spanned<String>>>,
    terminals: S<Vec<Spanned<String>>>,
    merchants: S<Vec<Spanned<String>>>,
    bins: S<Vec<Spanned<String>>>,
    days: S<u32>,
    sales_min: S<u32>,
    check: S<String>,
}

/// The kind-specific fields present in a raw rule, with their spans.
fn fields_of(r: &RawRule) -> Vec<(&'static str, Range<usize>)> {
    let mut out = Vec::new();
    let mut add = |name, span: Option<Range<usize>>| out.extend(span.map(|s| (name, s)));
    add("entity", r.entity.as_ref().map(Spanned::span));
    add("measure", r.measure.as_ref().map(Spanned::span));
    add("window", r.window.as_ref().map(Spanned::span));
    add("history_min", r.history_min.as_ref().map(Spanned::span));
    add("count", r.count.as_ref().map(Spanned::span));
    add("mcc", r.mcc.as_ref().map(Spanned::span));
    add("hours", r.hours.as_ref().map(Spanned::span));
    add("utc_offset", r.utc_offset.as_ref().map(Spanned::span));
    add("cards", r.cards.as_ref().map(Spanned::span));
    add("pan_hashes", r.pan_hashes.as_ref().map(Spanned::span));
    add("terminals", r.terminals.as_ref().map(Spanned::span));
    add("merchants", r.merchants.as_ref().map(Spanned::span));
    add("bins", r.bins.as_ref().map(Spanned::span));
    add("days", r.days.as_ref().map(Spanned::span));
    add("sales_min", r.sales_min.as_ref().map(Spanned::span));
    add("check", r.check.as_ref().map(Spanned::span));
    out
}

/// Kinds, the kind-specific fields each takes, and whether it is a yes/no check (scored
/// with `score` alone) rather than a measured one (`threshold` + `score`, or `bands`).
const KINDS: [(&str, &[&str], bool); 10] = [
    ("velocity", &["entity", "measure", "window"], false),
    ("amount_vs_usual", &["entity", "history_min"], false),
    ("split_sale", &["window", "count"], false),
    ("restriction", &["mcc", "hours", "utc_offset"], true),
    ("block_list", &["cards", "pan_hashes", "terminals", "merchants", "bins"], true),
    ("new_merchant", &["days", "measure"], false),
    ("refund_ratio", &["window", "sales_min"], false),
    ("card_testing", &["window"], false),
    ("mismatch", &["check"], true),
    ("anomaly", &["entity"], false),
];

/// Where errors point: the file's text and the rule being read.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    rule: Option<String>,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> RuleFileError {
        let offset = span.start.min(self.text.len());
        let line = self.text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        RuleFileError { file: self.file.to_string(), line, rule: self.rule.clone(), message: message.into() }
    }

    fn need<'v, T>(&self, field: &'v S<T>, name: &str, at: &Range<usize>) -> Result<&'v Spanned<T>, RuleFileError> {
        field.as_ref().ok_or_else(|| self.err(at.clone(), format!("`{name}` is missing")))
    }
}

/// Read a rule file. `file` is its name, for errors; card numbers in block lists are hashed
/// with `hasher` on the way in, and only the hashes are kept.
pub fn parse(file: &str, text: &str, hasher: &KeyHasher) -> Result<RuleSet, RuleFileError> {
    let mut ctx = Ctx { file, text, rule: None };
    if text.len() > RULE_FILE_BYTES_MAX {
        return Err(ctx.err(0..0, format!("longer than {RULE_FILE_BYTES_MAX} bytes")));
    }
    let raw: RawFile = toml::from_str(text).map_err(|e| ctx.err(e.span().unwrap_or(0..0), e.message().trim()))?;
    let currency = Currency::parse(raw.currency.get_ref())
        .map_err(|_| ctx.err(raw.currency.span(), "`currency` is not an ISO 4217 code this network settles in"))?;
    let score = |s: &Spanned<i64>, name: &str| {
        i32::try_from(*s.get_ref()).map_err(|_| ctx.err(s.span(), format!("`{name}` is out of range")))
    };
    let (decline_score, alert_score) =
        (score(&raw.decline_score, "decline_score")?, score(&raw.alert_score, "alert_score")?);
    if alert_score < 1 {
        return Err(ctx.err(raw.alert_score.span(), "`alert_score` must be 1 or more (0 would flag every transaction)"));
    }
    if alert_score > decline_score {
        return Err(ctx.err(raw.alert_score.span(), "`alert_score` is above `decline_score`"));
    }
    if raw.rule.len() > RULES_MAX {
        return Err(ctx.err(raw.rule[RULES_MAX].span(), format!("more than {RULES_MAX} rules")));
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.rule.len());
    for spanned in &raw.rule {
        let at = spanned.span();
        let r = spanned.get_ref();
        ctx.rule = None;
        let id = Label::new(r.id.get_ref())
            .ok_or_else(|| ctx.err(r.id.span(), "`id` must be 1 to 32 letters, digits, `_`, `-` or `.`".to_string()))?;
        ctx.rule = Some(id.to_string());
        if rules.iter().any(|other| other.id == id) {
            return Err(ctx.err(r.id.span(), "a rule with this id comes earlier"));
        }
        rules.push(rule(&ctx, r, &at, id, hasher)?);
        check_window_count(&ctx, &rules, &at)?;
    }
    Ok(RuleSet { currency, decline_score, alert_score, rules })
}

fn check_window_count(ctx: &Ctx, rules: &[Rule], at: &Range<usize>) -> Result<(), RuleFileError> {
    let windows = windows_of(rules);
    for entity in Entity::ALL {
        if windows.iter().filter(|(e, _)| *e == entity).count() > COLUMNS_PER_ENTITY_MAX {
            let name = entity.name();
            return Err(ctx.err(at.clone(), format!("more than {COLUMNS_PER_ENTITY_MAX} distinct {name} windows")));
        }
    }
    Ok(())
}

fn rule(ctx: &Ctx, r: &RawRule, at: &Range<usize>, id: Label, hasher: &KeyHasher) -> Result<Rule, RuleFileError> {
    let kind = r.kind.get_ref().as_str();
    let Some(&(_, allowed, yes_no)) = KINDS.iter().find(|(name, _, _)| *name == kind) else {
        let names: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        return Err(ctx.err(r.kind.span(), format!("kind {kind:?} is not one of {}", names.join(", "))));
    };
    if let Some((name, span)) = fields_of(r).into_iter().find(|(name, _)| !allowed.contains(name)) {
        return Err(ctx.err(span, format!("`{name}` does not apply to a {kind} rule")));
    }
    let reason = match &r.reason {
        Some(reason) => label(ctx, reason, "reason")?,
        None => return Err(ctx.err(at.clone(), "`reason` is missing")),
    };
    let check = match kind {
        "velocity" => velocity(ctx, r, at)?,
        "amount_vs_usual" => amount_vs_usual(ctx, r, at)?,
        "split_sale" => split_sale(ctx, r, at)?,
        "restriction" => restriction(ctx, r, at)?,
        "block_list" => block_list(ctx, r, at, hasher)?,
        "new_merchant" => new_merchant(ctx, r, at)?,
        "refund_ratio" => refund_ratio(ctx, r, at)?,
        "card_testing" => Check::CardTesting { window_ms: window(ctx, ctx.need(&r.window, "window", at)?)?.window_ms },
        "mismatch" => mismatch(ctx, r, at)?,
        _ => Check::Anomaly { entity: entity(ctx, r, at, &[Entity::Card, Entity::Merchant])? },
    };
    let scoring = scoring(ctx, r, at, yes_no, reason)?;
    if check.blocks_terminal() && !(1..=PIN_FAILURES_KEPT as u64).contains(&scoring.lowest()) {
        let message = format!("card testing counts 1 to {PIN_FAILURES_KEPT} distinct cards");
        return Err(ctx.err(r.threshold.as_ref().map_or(at.clone(), Spanned::span), message));
    }
    let decline = match &r.decline {
        Some(code) if DECLINE_CODES.contains(&code.get_ref().as_str()) => ResponseCode::new(code.get_ref()).ok(),
        Some(code) => {
            let message = format!("decline {:?} is not one of {}", code.get_ref(), DECLINE_CODES.join(", "));
            return Err(ctx.err(code.span(), message));
        }
        None => None,
    };
    Ok(Rule { id, check, scoring, reason, decline })
}

fn label(ctx: &Ctx, text: &Spanned<String>, name: &str) -> Result<Label, RuleFileError> {
    Label::new(text.get_ref())
        .ok_or_else(|| ctx.err(text.span(), format!("`{name}` must be 1 to 32 letters, digits, `_`, `-` or `.`")))
}

fn scoring(ctx: &Ctx, r: &RawRule, at: &Range<usize>, yes_no: bool, reason: Label) -> Result<Scoring, RuleFileError> {
    let fits = |s: &Spanned<i64>| i32::try_from(*s.get_ref()).map_err(|_| ctx.err(s.span(), "`score` is out of range"));
    match (&r.threshold, &r.score, &r.bands) {
        (None, Some(score), None) if yes_no => Ok(Scoring::Threshold { threshold: 1, score: fits(score)? }),
        (_, _, _) if yes_no => Err(ctx.err(at.clone(), "a yes/no rule takes `score` only (no `threshold` or `bands`)")),
        (Some(threshold), Some(score), None) => {
            Ok(Scoring::Threshold { threshold: *threshold.get_ref(), score: fits(score)? })
        }
        (None, None, Some(bands)) => Ok(Scoring::Bands(bands_of(ctx, bands, reason)?)),
        _ => Err(ctx.err(at.clone(), "give either `threshold` and `score`, or `bands`")),
    }
}

fn bands_of(ctx: &Ctx, bands: &Spanned<Vec<Spanned<RawBand>>>, reason: Label) -> Result<Vec<Band>, RuleFileError> {
    if bands.get_ref().is_empty() || bands.get_ref().len() > BANDS_MAX {
        return Err(ctx.err(bands.span(), format!("`bands` must have 1 to {BANDS_MAX} bands")));
    }
    let mut out: Vec<Band> = Vec::with_capacity(bands.get_ref().len());
    for raw in bands.get_ref() {
        let b = raw.get_ref();
        let score = i32::try_from(b.score).map_err(|_| ctx.err(raw.span(), "band `score` is out of range"))?;
        let reason = match &b.reason {
            Some(text) => Label::new(text).ok_or_else(|| ctx.err(raw.span(), "band `reason` is not a valid code"))?,
            None => reason,
        };
        if b.upper.is_some_and(|u| u <= b.lower) {
            return Err(ctx.err(raw.span(), "band `upper` must be above `lower` (lower inclusive, upper exclusive)"));
        }
        let band = Band { lower: b.lower, upper: b.upper, score, reason };
        let overlaps = |o: &Band| band.lower < o.upper.unwrap_or(u64::MAX) && o.lower < band.upper.unwrap_or(u64::MAX);
        if out.iter().any(overlaps) {
            return Err(ctx.err(raw.span(), "bands overlap"));
        }
        out.push(band);
    }
    Ok(out)
}

/// A duration: digits then s, m, h or d, from 1 minute to 30 days.
fn window(ctx: &Ctx, text: &Spanned<String>) -> Result<WindowKey, RuleFileError> {
    let t = text.get_ref().as_str();
    let bad = || ctx.err(text.span(), format!("window {t:?} is not a duration (use 30s, 5m, 1h, 30d)"));
    // The unit is checked first: only once the last byte is an ASCII letter is cutting it
    // off a cut at a character boundary.
    let unit_ms = match t.as_bytes().last() {
        Some(b's') => 1_000,
        Some(b'm') => 60_000,
        Some(b'h') => 3_600_000,
        Some(b'd') => DAY_MS,
        _ => return Err(bad()),
    };
    let digits = &t[..t.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let window_ms = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit_ms)).ok_or_else(bad)?;
    if !(WINDOW_MS_MIN..=WINDOW_MS_MAX).contains(&window_ms) {
        return Err(ctx.err(text.span(), format!("window {t:?} is outside 1m to 30d")));
    }
    Ok(WindowKey { window_ms, flow: Flow::Sale })
}

fn entity(ctx: &Ctx, r: &RawRule, at: &Range<usize>, allowed: &[Entity]) -> Result<Entity, RuleFileError> {
    let text = ctx.need(&r.entity, "entity", at)?;
    let names: Vec<&str> = allowed.iter().map(|e| e.name()).collect();
    allowed
        .iter()
        .copied()
        .find(|e| e.name() == text.get_ref())
        .ok_or_else(|| ctx.err(text.span(), format!("entity {:?} is not one of {}", text.get_ref(), names.join(", "))))
}

fn velocity(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let entity = entity(ctx, r, at, &Entity::ALL)?;
    let measure = ctx.need(&r.measure, "measure", at)?;
    let measure = match measure.get_ref().as_str() {
        "count" => Measure::Count,
        "amount" => Measure::Amount,
        other => return Err(ctx.err(measure.span(), format!("measure {other:?} is not count or amount"))),
    };
    let window = window(ctx, ctx.need(&r.window, "window", at)?)?;
    Ok(Check::Velocity { entity, measure, window })
}

fn amount_vs_usual(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let entity = entity(ctx, r, at, &[Entity::Card, Entity::Terminal, Entity::Merchant])?;
    let history_min = *ctx.need(&r.history_min, "history_min", at)?.get_ref();
    Ok(Check::AmountVsUsual { entity, history_min: history_min.max(1) })
}

fn split_sale(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let window = window(ctx, ctx.need(&r.window, "window", at)?)?;
    let count = ctx.need(&r.count, "count", at)?;
    if *count.get_ref() < 2 {
        return Err(ctx.err(count.span(), "a split takes `count` of 2 or more sales"));
    }
    if r.threshold.is_none() {
        return Err(ctx.err(at.clone(), "`threshold` (the limit each sale stays under) is missing"));
    }
    Ok(Check::SplitSale { window, count: *count.get_ref() })
}

fn restriction(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let mccs = match &r.mcc {
        Some(list) => {
            if list.get_ref().len() > MCC_LIST_MAX {
                return Err(ctx.err(list.span(), format!("`mcc` has more than {MCC_LIST_MAX} codes")));
            }
            let mut codes = Vec::with_capacity(list.get_ref().len());
            for code in list.get_ref() {
                let c = code.get_ref();
                let ok = c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit());
                let n = c.parse().ok().filter(|_| ok);
                codes.push(n.ok_or_else(|| ctx.err(code.span(), format!("mcc {c:?} is not 4 digits")))?);
            }
            Some(MccSet::new(&codes))
        }
        None => None,
    };
    let hours = r.hours.as_ref().map(|h| hours(ctx, h)).transpose()?;
    let utc_offset_min = r.utc_offset.as_ref().map(|o| utc_offset(ctx, o)).transpose()?.unwrap_or(0);
    if mccs.is_none() && hours.is_none() {
        return Err(ctx.err(at.clone(), "a restriction needs `mcc`, `hours` or both"));
    }
    Ok(Check::Restriction { mccs, hours, utc_offset_min })
}

/// "22-06": from 22:00 up to 06:00 (exclusive), across midnight; a bit per hour.
fn hours(ctx: &Ctx, text: &Spanned<String>) -> Result<u32, RuleFileError> {
    let t = text.get_ref();
    let bad = || ctx.err(text.span(), format!("hours {t:?} is not a range like \"22-06\" (local hours, end excluded)"));
    let (from, to) = t.split_once('-').ok_or_else(bad)?;
    let hour =
        |s: &str| s.parse::<u32>().ok().filter(|h| *h < 24 && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()));
    let (from, to) = (hour(from).ok_or_else(bad)?, hour(to).ok_or_else(bad)?);
    if from == to {
        return Err(bad());
    }
    let mut mask = 0u32;
    let mut h = from;
    while h != to {
        mask |= 1 << h;
        h = (h + 1) % 24;
    }
    Ok(mask)
}

/// "+08:00", "-05:30" or "Z".
fn utc_offset(ctx: &Ctx, text: &Spanned<String>) -> Result<i32, RuleFileError> {
    let t = text.get_ref().as_str();
    if t == "Z" {
        return Ok(0);
    }
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let valid = b.len() == 6 && matches!(b[0], b'+' | b'-') && b[3] == b':' && digits(&b[1..3]) && digits(&b[4..6]);
    let (h, m) = if valid {
        (i32::from(b[1] - b'0') * 10 + i32::from(b[2] - b'0'), i32::from(b[4] - b'0') * 10 + i32::from(b[5] - b'0'))
    } else {
        (99, 99)
    };
    if h > 14 || m > 59 {
        return Err(ctx.err(text.span(), format!("utc_offset {t:?} is not like \"+08:00\"")));
    }
    Ok(if b[0] == b'-' { -(h * 60 + m) } else { h * 60 + m })
}

fn block_list(ctx: &Ctx, r: &RawRule, at: &Range<usize>, hasher: &KeyHasher) -> Result<Check, RuleFileError> {
    let mut list = BlockList::default();
    let each = |field: &S<Vec<Spanned<String>>>, name: &str, f: &mut dyn FnMut(&str) -> Result<(), String>| {
        let Some(items) = field else { return Ok(()) };
        if items.get_ref().len() > BLOCK_LIST_MAX {
            return Err(ctx.err(items.span(), format!("`{name}` has more than {BLOCK_LIST_MAX} entries")));
        }
        for (i, item) in items.get_ref().iter().enumerate() {
            f(item.get_ref()).map_err(|why| ctx.err(item.span(), format!("{name}[{i}] {why}")))?;
        }
        Ok(())
    };
    // The error for a card never shows the value: it may be a real card number.
    each(&r.cards, "cards", &mut |t| {
        let pan = Pan::new(t).map_err(|_| "is not a PAN (12 to 19 digits)".to_string())?;
        list.cards.push(hasher.pan_hash(&pan));
        Ok(())
    })?;
    each(&r.pan_hashes, "pan_hashes", &mut |t| {
        let ok = t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit());
        let hash = u64::from_str_radix(t, 16).ok().filter(|_| ok).ok_or("is not 16 hex digits")?;
        list.cards.push(hash);
        Ok(())
    })?;
    each(&r.terminals, "terminals", &mut |t| {
        let id = TerminalId::new(t).map_err(|e| e.to_string())?;
        list.terminals.push(hasher.terminal(&id));
        Ok(())
    })?;
    each(&r.merchants, "merchants", &mut |t| {
        let id = MerchantId::new(t).map_err(|e| e.to_string())?;
        list.merchants.push(hasher.merchant(&id));
        Ok(())
    })?;
    each(&r.bins, "bins", &mut |t| {
        let ok = (1..=BIN_DIGITS_MAX).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| list.bins.push(t.as_bytes().to_vec())).ok_or_else(|| format!("is not 1 to {BIN_DIGITS_MAX} digits"))
    })?;
    if list == BlockList::default() {
        return Err(ctx.err(at.clone(), "a block list needs cards, pan_hashes, terminals, merchants or bins"));
    }
    for hashes in [&mut list.cards, &mut list.terminals, &mut list.merchants] {
        hashes.sort_unstable();
        hashes.dedup();
    }
    Ok(Check::Block(Box::new(list)))
}

fn new_merchant(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let days = *ctx.need(&r.days, "days", at)?.get_ref();
    let measure = ctx.need(&r.measure, "measure", at)?;
    let limit = match measure.get_ref().as_str() {
        "transaction" => NewMerchantLimit::Transaction,
        "day" => NewMerchantLimit::Day,
        other => return Err(ctx.err(measure.span(), format!("measure {other:?} is not transaction or day"))),
    };
    Ok(Check::NewMerchant { days, limit, day_window: WindowKey { window_ms: DAY_MS, flow: Flow::Sale } })
}

fn refund_ratio(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let sales = window(ctx, ctx.need(&r.window, "window", at)?)?;
    let sales_min = *ctx.need(&r.sales_min, "sales_min", at)?.get_ref();
    let refunds = WindowKey { flow: Flow::Refund, ..sales };
    Ok(Check::RefundRatio { sales, refunds, sales_min: sales_min.max(1) })
}

fn mismatch(ctx: &Ctx, r: &RawRule, at: &Range<usize>) -> Result<Check, RuleFileError> {
    let check = ctx.need(&r.check, "check", at)?;
    match check.get_ref().as_str() {
        "currency" => Ok(Check::Mismatch(Mismatch::Currency)),
        "country" => Ok(Check::Mismatch(Mismatch::Country)),
        other => Err(ctx.err(check.span(), format!("check {other:?} is not currency or country"))),
    }
}
