//! The clearing file's layout, written once: every field of the three line types with its
//! offset, width and kind. The writer and the reader both walk these tables, and
//! docs/end-of-day.md ("Clearing file layout") shows the same table (a test compares them).
//!
//! The CSV form has the same fields in the same order, unpadded, without the filler; its
//! widths still bound every value, so a record fits one form exactly when it fits the other.

/// How a field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The line type: one constant letter (`H`, `D`, `T`).
    Type,
    /// An unsigned number: digits, right-aligned, zero-padded to the width.
    Number,
    /// A signed number: `+` or `-` then digits, zero-padded (`-0` is refused).
    Signed,
    /// A string of digits, possibly empty: left-aligned, space-padded.
    Digits,
    /// Printable ASCII without `,` or `"` and without trailing spaces: left-aligned,
    /// space-padded.
    Text,
    /// A business date, `YYYYMMDD`.
    Date,
    /// `Y` or `N`.
    Flag,
    /// Spaces to the line's length (fixed width only; not in the CSV form).
    Filler,
}

impl Kind {
    /// The name in the documented table.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Type => "type",
            Kind::Number => "number",
            Kind::Signed => "signed",
            Kind::Digits => "digits",
            Kind::Text => "text",
            Kind::Date => "date",
            Kind::Flag => "flag",
            Kind::Filler => "filler",
        }
    }
}

/// Which value a field holds: the writer asks the record for it, the reader stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Type,
    Filler,
    // Header.
    Network,
    Member,
    HeaderDate,
    Version,
    // Detail.
    Date,
    Reference,
    Code,
    Acquirer,
    Issuer,
    Stan,
    TransmissionTime,
    IssuerStan,
    IssuerTime,
    PanMasked,
    CardHash,
    CardKind,
    Amount,
    Currency,
    Mcc,
    TerminalId,
    MerchantId,
    Rrn,
    AuthCode,
    OriginalStan,
    OriginalTime,
    OriginalReference,
    InterchangeFee,
    NetworkFee,
    Settlement,
    StandIn,
    Late,
    // Trailer.
    Records,
    DebitTotal,
    CreditTotal,
    SettlementTotal,
    Checksum,
}

/// One field of a line: its name (as in the CSV column row and in errors), its 0-based byte
/// offset in the fixed-width line, its width in bytes and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub width: usize,
    pub kind: Kind,
    pub id: Id,
}

const fn f(name: &'static str, offset: usize, width: usize, kind: Kind, id: Id) -> Field {
    Field { name, offset, width, kind, id }
}

/// Every fixed-width line, header, detail and trailer alike, is this long (without its `\n`).
pub const LINE_BYTES: usize = 307;

/// The format version the header carries; a reader refuses any other.
pub const FORMAT_VERSION: u64 = 1;

pub const HEADER: [Field; 6] = [
    f("record_type", 0, 1, Kind::Type, Id::Type),
    f("network", 1, 11, Kind::Digits, Id::Network),
    f("member", 12, 11, Kind::Digits, Id::Member),
    f("date", 23, 8, Kind::Date, Id::HeaderDate),
    f("version", 31, 2, Kind::Number, Id::Version),
    f("filler", 33, 274, Kind::Filler, Id::Filler),
];

pub const DETAIL: [Field; 28] = [
    f("record_type", 0, 1, Kind::Type, Id::Type),
    f("date", 1, 8, Kind::Date, Id::Date),
    f("reference", 9, 20, Kind::Number, Id::Reference),
    f("code", 29, 3, Kind::Text, Id::Code),
    f("acquirer", 32, 11, Kind::Digits, Id::Acquirer),
    f("issuer", 43, 11, Kind::Digits, Id::Issuer),
    f("stan", 54, 6, Kind::Digits, Id::Stan),
    f("transmission_time", 60, 10, Kind::Digits, Id::TransmissionTime),
    f("issuer_stan", 70, 6, Kind::Digits, Id::IssuerStan),
    f("issuer_time", 76, 10, Kind::Digits, Id::IssuerTime),
    f("pan_masked", 86, 19, Kind::Text, Id::PanMasked),
    f("card_hash", 105, 64, Kind::Text, Id::CardHash),
    f("card_kind", 169, 1, Kind::Text, Id::CardKind),
    f("amount_minor", 170, 12, Kind::Number, Id::Amount),
    f("currency", 182, 3, Kind::Digits, Id::Currency),
    f("mcc", 185, 4, Kind::Digits, Id::Mcc),
    f("terminal_id", 189, 8, Kind::Text, Id::TerminalId),
    f("merchant_id", 197, 15, Kind::Text, Id::MerchantId),
    f("rrn", 212, 12, Kind::Text, Id::Rrn),
    f("auth_code", 224, 6, Kind::Text, Id::AuthCode),
    f("original_stan", 230, 6, Kind::Digits, Id::OriginalStan),
    f("original_time", 236, 10, Kind::Digits, Id::OriginalTime),
    f("original_reference", 246, 20, Kind::Number, Id::OriginalReference),
    f("interchange_fee_minor", 266, 13, Kind::Signed, Id::InterchangeFee),
    f("network_fee_minor", 279, 13, Kind::Signed, Id::NetworkFee),
    f("settlement_minor", 292, 13, Kind::Signed, Id::Settlement),
    f("stand_in", 305, 1, Kind::Flag, Id::StandIn),
    f("late", 306, 1, Kind::Flag, Id::Late),
];

pub const TRAILER: [Field; 7] = [
    f("record_type", 0, 1, Kind::Type, Id::Type),
    f("records", 1, 20, Kind::Number, Id::Records),
    f("debit_total_minor", 21, 20, Kind::Number, Id::DebitTotal),
    f("credit_total_minor", 41, 20, Kind::Number, Id::CreditTotal),
    f("settlement_total_minor", 61, 20, Kind::Signed, Id::SettlementTotal),
    f("checksum", 81, 40, Kind::Text, Id::Checksum),
    f("filler", 121, 186, Kind::Filler, Id::Filler),
];

/// The three tables with their line letter, in the order the documentation lists them.
pub const LAYOUTS: [(u8, &[Field]); 3] = [(b'H', &HEADER), (b'D', &DETAIL), (b'T', &TRAILER)];

/// Fields follow one another without gaps from offset 0 to exactly [`LINE_BYTES`], and every
/// table starts with the line type: checked when the crate compiles.
const fn contiguous(fields: &[Field]) -> bool {
    let mut offset = 0;
    let mut index = 0;
    while index < fields.len() {
        if fields[index].offset != offset || fields[index].width == 0 {
            return false;
        }
        offset += fields[index].width;
        index += 1;
    }
    offset == LINE_BYTES && matches!(fields[0].kind, Kind::Type) && fields[0].width == 1
}

const _: () = assert!(contiguous(&HEADER) && contiguous(&DETAIL) && contiguous(&TRAILER));

/// The CSV form's first line: the detail fields' names, comma-separated.
pub fn csv_columns() -> String {
    DETAIL.iter().map(|field| field.name).collect::<Vec<_>>().join(",")
}

/// Digits in a number field of `width` (a signed field spends one on its sign).
pub const fn digits_of(field: &Field) -> usize {
    match field.kind {
        Kind::Signed => field.width - 1,
        _ => field.width,
    }
}
