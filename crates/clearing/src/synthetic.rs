//! A synthetic business date: any number of clearing records, deterministic from a seed, with
//! a mix like a real day's — mostly purchases, some completions, voids, completion voids,
//! refunds (partial or full) and reversals of earlier items with their original references,
//! debit and credit cards, CNY (156), fees by the schedule. For benchmarks and tests; memory is
//! constant whatever the count (a bounded window of recent originals).

use domain::{Currency, InstitutionId, MerchantId, Rrn, Stan, TerminalId};

use crate::date::BusinessDate;
use crate::fees::{CardKind, FeeSchedule};
use crate::file::blank_record;
use crate::record::{ClearingRecord, TxnCode};

/// The synthetic network's institution id (credited with the network fees).
pub const NETWORK_ID: &str = "10000000000";
/// Member `i` has id `MEMBER_ID_BASE + i`: 11 digits.
pub const MEMBER_ID_BASE: u64 = 48_000_000_000;
/// At most this many members (member ids stay 11 digits).
pub const MEMBERS_MAX: u32 = 1_000_000;
/// Distinct cards and merchants of a day.
const CARDS: u64 = 1_000_000;
const MERCHANTS: u64 = 100_000;
/// Recent purchases and completions a void, refund or reversal may refer to.
const ORIGINALS_MAX: usize = 4_096;
const SECONDS_PER_DAY: u64 = 86_400;
const MCCS: [&str; 8] = ["5411", "5812", "5311", "4111", "5999", "7011", "5541", "5912"];

/// The id of member `index`: [`MEMBER_ID_BASE`] + index, eleven digits.
pub fn member_id(index: u32) -> InstitutionId {
    let mut text = String::with_capacity(11);
    push_digits(&mut text, MEMBER_ID_BASE + u64::from(index), 11);
    // Eleven digits always parse; a member count that overflowed them would show as `UNSET`.
    InstitutionId::new(&text).unwrap_or(InstitutionId::UNSET)
}

/// The switch of the synthetic day.
pub fn network_id() -> InstitutionId {
    InstitutionId::new(NETWORK_ID).unwrap_or(InstitutionId::UNSET)
}

/// The ids of `members` members, index order.
pub fn member_ids(members: u32) -> Vec<InstitutionId> {
    (0..members).map(member_id).collect()
}

/// An item later records may void, refund or reverse.
#[derive(Debug, Clone, Copy)]
struct Original {
    reference: u64,
    code: TxnCode,
    card: u64,
    merchant: u64,
    amount_minor: u64,
    second: u64,
}

/// splitmix64: small, fast and good enough for a synthetic day.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Replaces `target` with `n` in decimal, zero-padded to `width` (and cut to its last `width`
/// digits).
fn set_digits(target: &mut String, n: u64, width: usize) {
    target.clear();
    push_digits(target, n, width);
}

fn push_digits(target: &mut String, n: u64, width: usize) {
    // u64::MAX has 20 digits.
    let mut digits = [b'0'; 20];
    let width = width.min(digits.len());
    let mut rest = n;
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // ASCII digits: always UTF-8.
    target.push_str(std::str::from_utf8(&digits[..width]).unwrap_or_default());
}

/// The generator: an iterator of records, or [`Generator::next_into`] to reuse one record.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: SplitMix,
    made: u64,
    records: u64,
    members: u32,
    date: BusinessDate,
    fees: FeeSchedule,
    originals: Vec<Original>,
    /// The last record's acquirer and issuer member indexes.
    parties: (u32, u32),
}

/// `records` records of `date` between `members` members (ids from [`member_id`]), references
/// 1 to `records` in order, the same for the same seed.
pub fn records(seed: u64, records: u64, members: u32, date: BusinessDate, fees: &FeeSchedule) -> Generator {
    Generator {
        rng: SplitMix(seed),
        made: 0,
        records,
        members: members.clamp(1, MEMBERS_MAX),
        date,
        fees: *fees,
        originals: Vec::with_capacity(ORIGINALS_MAX),
        parties: (0, 0),
    }
}

impl Generator {
    /// The acquirer's and issuer's member indexes of the record last made.
    pub fn parties(&self) -> (u32, u32) {
        self.parties
    }

    /// Fills `record` with the next record (its strings reused); `false` when all are made.
    pub fn next_into(&mut self, record: &mut ClearingRecord) -> bool {
        if self.made >= self.records {
            return false;
        }
        self.made += 1;
        let reference = self.made;
        let second = (self.made - 1) * SECONDS_PER_DAY / self.records.max(1);
        let roll = self.rng.below(1_000);
        let original = if roll >= 880 && !self.originals.is_empty() {
            let slot = self.rng.below(self.originals.len() as u64) as usize;
            Some(self.originals.swap_remove(slot))
        } else {
            None
        };
        let (code, card, merchant, amount) = match original {
            None => {
                let code = if (850..880).contains(&roll) { TxnCode::Completion } else { TxnCode::Purchase };
                (code, self.rng.below(CARDS), self.rng.below(MERCHANTS), self.amount())
            }
            Some(original) => {
                let code = match roll {
                    880..=929 if original.code == TxnCode::Completion => TxnCode::CompletionVoid,
                    880..=929 => TxnCode::Void,
                    930..=969 => TxnCode::Refund,
                    _ => TxnCode::Reversal,
                };
                let amount = if code == TxnCode::Refund && self.rng.below(2) == 0 {
                    1 + self.rng.below(original.amount_minor)
                } else {
                    original.amount_minor
                };
                (code, original.card, original.merchant, amount)
            }
        };
        if original.is_none() {
            let new = Original { reference, code, card, merchant, amount_minor: amount, second };
            if self.originals.len() < ORIGINALS_MAX {
                self.originals.push(new);
            } else {
                let slot = self.rng.below(ORIGINALS_MAX as u64) as usize;
                self.originals[slot] = new;
            }
        }
        self.fill(record, reference, code, card, merchant, amount, second);
        match original {
            Some(original) => {
                record.original_stan = Some(Stan::wrapping((original.reference % 1_000_000) as u32));
                self.set_time(&mut record.original_time, original.second);
                record.original_reference = original.reference;
            }
            None => {
                record.original_stan = None;
                record.original_time.clear();
                record.original_reference = 0;
            }
        }
        true
    }

    /// A purchase amount: mostly small, a long tail up to ¥100,000.
    fn amount(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=59 => 100 + self.rng.below(9_900),
            60..=89 => 10_000 + self.rng.below(90_000),
            90..=98 => 100_000 + self.rng.below(900_000),
            _ => 1_000_000 + self.rng.below(9_000_000),
        }
    }

    /// `MMDDhhmmss` of a second of the date.
    fn set_time(&self, target: &mut String, second: u64) {
        let (_, month, day) = self.date.ymd();
        target.clear();
        push_digits(target, u64::from(month * 100 + day), 4);
        push_digits(target, (second / 3_600) * 10_000 + (second / 60 % 60) * 100 + second % 60, 6);
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        record: &mut ClearingRecord,
        reference: u64,
        code: TxnCode,
        card: u64,
        merchant: u64,
        amount: u64,
        second: u64,
    ) {
        let members = u64::from(self.members);
        let issuer = (card % members) as u32;
        let mut acquirer = (merchant % members) as u32;
        if acquirer == issuer && self.members > 1 {
            acquirer = (acquirer + 1) % self.members;
        }
        self.parties = (acquirer, issuer);
        let kind = if card % 5 < 3 { CardKind::Debit } else { CardKind::Credit };
        record.date = self.date;
        record.reference = reference;
        record.code = code;
        record.acquirer = member_id(acquirer);
        record.issuer = member_id(issuer);
        record.stan = Some(Stan::wrapping((reference % 1_000_000) as u32));
        self.set_time(&mut record.transmission_time, second);
        record.issuer_stan = Some(Stan::wrapping(((reference * 7 + 13) % 1_000_000) as u32));
        record.issuer_time.clone_from(&record.transmission_time);
        record.pan_masked.clear();
        record.pan_masked.push_str(if kind == CardKind::Debit { "622424******" } else { "625011******" });
        push_digits(&mut record.pan_masked, card % 10_000, 4);
        let mut hash = [0u8; 64];
        for (word, chunk) in hash.chunks_mut(16).enumerate() {
            let bits = mix(card ^ ((word as u64) << 56) ^ 0x5EED);
            for (index, slot) in chunk.iter_mut().enumerate() {
                *slot = b"0123456789abcdef"[((bits >> (60 - 4 * index)) & 0xF) as usize];
            }
        }
        // Hex digits: always UTF-8.
        set(&mut record.card_hash, std::str::from_utf8(&hash).unwrap_or_default());
        record.card_kind = kind;
        record.amount_minor = amount;
        record.currency = Currency::CNY;
        set(&mut record.mcc, MCCS[(merchant % MCCS.len() as u64) as usize]);
        // Letters and digits within each type's bounds: these always parse.
        let mut text = String::with_capacity(15);
        text.push('T');
        push_digits(&mut text, (merchant * 4 + card % 4) % 10_000_000, 7);
        record.terminal_id = TerminalId::new(&text).ok();
        set(&mut text, "898");
        push_digits(&mut text, merchant, 12);
        record.merchant_id = MerchantId::new(&text).ok();
        set_digits(&mut text, reference % 1_000_000_000_000, 12);
        record.rrn = Rrn::new(&text).ok();
        set_digits(&mut record.auth_code, self.rng.below(1_000_000), 6);
        let direction = code.direction();
        let fees = self.fees.fees(kind, amount);
        let signed = |n: u64| direction * i64::try_from(n).unwrap_or(i64::MAX);
        record.interchange_fee_minor = signed(fees.interchange_minor);
        record.network_fee_minor = signed(fees.network_minor);
        record.settlement_minor = signed(amount) - record.interchange_fee_minor;
        record.stand_in = code == TxnCode::Purchase && self.rng.below(100) == 0;
        record.late = self.rng.below(200) == 0;
    }
}

fn set(target: &mut String, text: &str) {
    target.clear();
    target.push_str(text);
}

impl Iterator for Generator {
    type Item = ClearingRecord;

    fn next(&mut self) -> Option<ClearingRecord> {
        let mut record = blank_record(self.date);
        self.next_into(&mut record).then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::NetPositions;

    #[test]
    fn deterministic_mixed_and_balanced() {
        let date = BusinessDate::from_ymd(2026, 12, 4).unwrap();
        let fees = FeeSchedule::china_2016();
        let a: Vec<ClearingRecord> = records(7, 5_000, 10, date, &fees).collect();
        let b: Vec<ClearingRecord> = records(7, 5_000, 10, date, &fees).collect();
        assert_eq!(a, b, "the same seed makes the same day");
        assert_ne!(a, records(8, 5_000, 10, date, &fees).collect::<Vec<_>>());
        assert_eq!(a.len(), 5_000);
        let count = |code| a.iter().filter(|r| r.code == code).count();
        assert!(count(TxnCode::Purchase) > 3_500, "mostly purchases");
        for code in [TxnCode::Completion, TxnCode::Void, TxnCode::Refund, TxnCode::Reversal, TxnCode::CompletionVoid] {
            assert!(count(code) > 0, "no {code:?}");
        }
        let mut net = NetPositions::new(network_id());
        for (index, record) in a.iter().enumerate() {
            assert_eq!(record.reference, index as u64 + 1);
            assert_eq!(record.acquirer.as_str().len(), 11);
            assert_ne!(record.acquirer, record.issuer);
            assert_eq!(record.transmission_time.len(), 10);
            assert_eq!(record.card_hash.len(), 64);
            if record.code.direction() < 0 {
                assert!(record.original_reference > 0 && record.original_reference < record.reference);
                let original = &a[record.original_reference as usize - 1];
                assert!(record.amount_minor <= original.amount_minor);
                assert_eq!(record.card_hash, original.card_hash);
                assert_eq!(record.original_stan, original.stan);
                if record.code != TxnCode::Refund {
                    assert_eq!(record.interchange_fee_minor, -original.interchange_fee_minor);
                }
            }
            assert_eq!(
                record.settlement_minor,
                record.code.direction() * record.amount_minor as i64 - record.interchange_fee_minor
            );
            net.add(record);
        }
        let positions = net.finish();
        assert_eq!(positions.iter().map(|p| p.net_minor).sum::<i64>(), 0);
    }
}
