//! The slip's layout: header, merchant, card and transaction, amount, PIN or signature, footer.

use crate::layout::{center, clean, label_block, label_value, wrap};
use crate::width::display_width;
use crate::{CardNumber, Lang, PRINTER_COLUMNS, Receipt, ReceiptCopy, TransactionType};

/// Card numbers are 13 digits or longer in practice; a shorter card is not looked for in the
/// other fields, where a 12-digit reference number could match its visible digits by chance.
const PAN_DIGITS_CHECKED_MIN: usize = 13;

/// Everything printed that is not data, in one language.
struct Labels {
    title: &'static str,
    merchant_copy: &'static str,
    cardholder_copy: &'static str,
    reprint: &'static str,
    merchant_name: &'static str,
    merchant_id: &'static str,
    terminal_id: &'static str,
    operator: &'static str,
    card_number: &'static str,
    card_organization: &'static str,
    transaction: &'static str,
    batch: &'static str,
    trace: &'static str,
    rrn: &'static str,
    auth_code: &'static str,
    date_time: &'static str,
    original_trace: &'static str,
    original_rrn: &'static str,
    original_auth_code: &'static str,
    amount: &'static str,
    balance: &'static str,
    pin_verified: &'static str,
    signature: &'static str,
    /// Already broken where a reader would break it; each line still wraps if it must.
    acknowledgement: &'static [&'static str],
}

const ZH: Labels = Labels {
    title: "银联POS签购单",
    merchant_copy: "商户存根",
    cardholder_copy: "持卡人存根",
    reprint: "*** 重打印 ***",
    merchant_name: "商户名称:",
    merchant_id: "商户编号:",
    terminal_id: "终端编号:",
    operator: "操作员号:",
    card_number: "卡号:",
    card_organization: "卡组织:",
    transaction: "交易类型:",
    batch: "批次号:",
    trace: "凭证号:",
    rrn: "参考号:",
    auth_code: "授权码:",
    date_time: "日期/时间:",
    original_trace: "原凭证号:",
    original_rrn: "原参考号:",
    original_auth_code: "原授权码:",
    amount: "金额:",
    balance: "余额:",
    pin_verified: "密码验证",
    signature: "持卡人签名:",
    acknowledgement: &["本人确认以上交易，", "同意将其记入本卡账户"],
};

const EN: Labels = Labels {
    title: "POS SALES SLIP",
    merchant_copy: "MERCHANT COPY",
    cardholder_copy: "CARDHOLDER COPY",
    reprint: "*** REPRINT ***",
    merchant_name: "MERCHANT NAME:",
    merchant_id: "MERCHANT NO:",
    terminal_id: "TERMINAL NO:",
    operator: "OPERATOR NO:",
    card_number: "CARD NO:",
    card_organization: "CARD ORG:",
    transaction: "TRANS TYPE:",
    batch: "BATCH NO:",
    trace: "VOUCHER NO:",
    rrn: "REF NO:",
    auth_code: "AUTH NO:",
    date_time: "DATE/TIME:",
    original_trace: "ORIG VOUCHER NO:",
    original_rrn: "ORIG REF NO:",
    original_auth_code: "ORIG AUTH NO:",
    amount: "AMOUNT:",
    balance: "BALANCE:",
    pin_verified: "PIN VERIFIED",
    signature: "CARDHOLDER SIGNATURE:",
    acknowledgement: &["I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES"],
};

/// Blank lines left above the signature rule for the pen.
const SIGNATURE_SPACE_LINES: usize = 2;

/// The slip as printer text: the lines of [`render_lines`], each ended by a newline.
pub fn render(receipt: &Receipt, lang: Lang) -> String {
    let mut text = String::new();
    for line in render_lines(receipt, lang) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The slip as lines (for the TUI), none wider than [`PRINTER_COLUMNS`] columns and none with
/// trailing spaces.
pub fn render_lines(receipt: &Receipt, lang: Lang) -> Vec<String> {
    let labels = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    let width = PRINTER_COLUMNS;
    let separator = "-".repeat(width);
    let mut lines = Vec::new();

    lines.extend(center(labels.title, width));
    let copy = match receipt.copy {
        ReceiptCopy::Merchant => labels.merchant_copy,
        ReceiptCopy::Cardholder => labels.cardholder_copy,
    };
    lines.extend(center(copy, width));
    if receipt.reprint {
        lines.extend(center(labels.reprint, width));
    }
    lines.push(separator.clone());

    // The card's digits may sit in a field the terminal filled by mistake (a merchant name, a
    // reference number). Mask them before wrapping, which could split them over two lines, and
    // again line by line at the end, rather than trust every caller.
    let card = &receipt.card_number;
    let text = |value: &str| mask_card_digits(&clean(value), card);

    lines.extend(label_block(labels.merchant_name, &text(&receipt.merchant_name), width));
    push_value(&mut lines, labels.merchant_id, &text(&receipt.merchant_id));
    push_value(&mut lines, labels.terminal_id, &text(&receipt.terminal_id));
    push_value(&mut lines, labels.operator, &text(&receipt.operator));
    lines.push(separator.clone());

    let card_line = format!("{} /{}", card.masked(), crate::entry_letter(receipt.entry_mode));
    push_value(&mut lines, labels.card_number, &card_line);
    push_value(&mut lines, labels.card_organization, &text(&receipt.card_organization));
    push_value(&mut lines, labels.transaction, receipt.transaction.name(lang));
    push_value(&mut lines, labels.batch, &format!("{:06}", receipt.batch));
    push_value(&mut lines, labels.trace, &format!("{:06}", receipt.trace));
    push_value(&mut lines, labels.rrn, &text(&receipt.rrn));
    push_value(&mut lines, labels.auth_code, &text(&receipt.auth_code));
    push_value(&mut lines, labels.date_time, &receipt.date_time.to_string());
    if let Some(trace) = receipt.original_trace {
        push_value(&mut lines, labels.original_trace, &format!("{trace:06}"));
    }
    if let Some(rrn) = &receipt.original_rrn {
        push_value(&mut lines, labels.original_rrn, &text(rrn));
    }
    if let Some(auth_code) = &receipt.original_auth_code {
        push_value(&mut lines, labels.original_auth_code, &text(auth_code));
    }
    lines.push(separator.clone());

    let is_balance = receipt.transaction == TransactionType::Balance;
    let amount_label = if is_balance { labels.balance } else { labels.amount };
    let owed = is_balance && receipt.debit_balance;
    let sign = if receipt.transaction.is_credit() || owed { "-" } else { "" };
    let amount = format!("{} {sign}{}", receipt.amount.currency_code(), receipt.amount.number());
    lines.extend(label_value(amount_label, &amount, width));
    lines.push(separator);

    if receipt.pin_verified {
        lines.extend(wrap(labels.pin_verified, width));
    } else {
        lines.extend(wrap(labels.signature, width));
        lines.extend(std::iter::repeat_n(String::new(), SIGNATURE_SPACE_LINES));
        lines.push("_".repeat(width));
    }
    // A balance inquiry charges nothing, so there is nothing for the cardholder to agree to.
    if !is_balance {
        for line in labels.acknowledgement {
            lines.extend(wrap(line, width));
        }
    }

    let lines: Vec<String> = lines.into_iter().map(|line| mask_card_digits(&line, card)).collect();
    debug_assert!(lines.iter().all(|line| display_width(line) <= PRINTER_COLUMNS), "a line is wider than the paper");
    debug_assert!(!lines.iter().any(|line| shows_card_number(line, card)), "full card number on a receipt");
    lines
}

fn push_value(lines: &mut Vec<String>, label: &str, value: &str) {
    // An empty field (no authorization code on a refund) leaves its line out.
    if !clean(value).is_empty() {
        lines.extend(label_value(label, value, PRINTER_COLUMNS));
    }
}

/// Runs of ASCII digits in `line` as byte ranges.
fn digit_runs(line: &str) -> Vec<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut runs = Vec::new();
    let mut start = None;
    for (index, byte) in bytes.iter().enumerate() {
        match (byte.is_ascii_digit(), start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                runs.push((begin, index));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(begin) = start {
        runs.push((begin, bytes.len()));
    }
    runs
}

/// `line` with every stretch of digits that could be the card's full number (on its own or
/// inside a longer run) replaced by the masked number: same length, so the layout does not move.
fn mask_card_digits(line: &str, card: &CardNumber) -> String {
    let pan_len = card.masked().len();
    if pan_len < PAN_DIGITS_CHECKED_MIN {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    for (start, end) in digit_runs(line) {
        let mut at = start;
        while at + pan_len <= end {
            if card.could_be(&line[at..at + pan_len]) {
                out.push_str(&line[copied..at]);
                out.push_str(card.masked());
                at += pan_len;
                copied = at;
            } else {
                at += 1;
            }
        }
    }
    out.push_str(&line[copied..]);
    out
}

/// Does `line` hold, anywhere in a run of digits, a stretch that could be the card's full number?
fn shows_card_number(line: &str, card: &CardNumber) -> bool {
    let pan_len = card.masked().len();
    pan_len >= PAN_DIGITS_CHECKED_MIN
        && digit_runs(line).into_iter().any(|(start, end)| {
            (start..end.saturating_sub(pan_len - 1)).any(|at| card.could_be(&line[at..at + pan_len]))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_digits_masked_anywhere() {
        let card = CardNumber::new("6224242900000113");
        assert_eq!(mask_card_digits("x6224242900000113y", &card), "x622424******0113y");
        assert_eq!(mask_card_digits("6224242900000113", &card), "622424******0113");
        // Other long numbers stay: a merchant id is 15 digits.
        assert_eq!(mask_card_digits("898110048160001", &card), "898110048160001");
        assert_eq!(mask_card_digits("962242429000001130", &card), "9622424******01130");
        assert_eq!(mask_card_digits("62242429000001136224242900000113", &card), "622424******0113622424******0113");
        assert!(!shows_card_number("622424******0113", &card));
        assert!(shows_card_number("a 6224249999990113", &card));
    }
}
