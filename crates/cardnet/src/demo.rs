//! `cardnet demo`: the end-to-end demo. Until the parties exist it says what is available.

use clap::Args;
use serde_json::json;

use crate::cli_error::CliError;

#[derive(Args)]
pub struct DemoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

const AVAILABLE: &[(&str, &str)] = &[
    ("cardnet iso8583 decode --spec cup-pos --framed HEX", "decode a UnionPay POS frame into a masked dump"),
    (
        "cardnet iso8583 decode --json --unmask ... | cardnet iso8583 encode --spec S -",
        "round-trip a message through JSON",
    ),
    ("cardnet iso8583 specs", "list the built-in specs (cup-pos, iso87-ascii, network)"),
    ("cardnet iso8583 spec cup-pos", "print a built-in spec as TOML, to copy and adapt"),
    ("cardnet crypto kcv|pinblock|mac|dukpt|emv|tr31|cvv|pvv ...", "the payment-crypto calculator"),
    ("cardnet bench ledger [--backend sqlite|postgres]", "durable transfers/s of the double-entry ledger"),
];

const SAMPLE_V1: &str = "01AA60000600006031003110030200702406C020C19A311662242429000001130000000000000000010004032806071000000012346224242900000113D280620139490310133130303030303139383530313030303832343130303032000100313536D1EEF419D0AE2609260000000000000001399F260895BBE372271DDA7C9F2701809F101307010103A00000010A010000000000ED538FE49F37047F9F349E9F36020157950500000000009A031908309C01009F02060000000000015F2A02015682027C009F1A0201569F03060000000000009F3303E0E1C89F3501229F1E0831303030303031398408A0000003330101029F0902008C9F410400000403015331323230383938363036313730383030303235383339393331333131484654313730383033303131343134323031393038333030393334333531353032303031373232424433302E3632313535352C3131342E333631393534413236303031303230323032313630303030323930323130303135373038303330363030303131333034303830343234373239323035303848373036323830310014220000240006003846363531423236";

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let spec = iso8583::builtin::cup_pos();
    let frame = iso8583::hex::decode(SAMPLE_V1).map_err(|e| CliError::Failure(e.to_string()))?;
    let (envelope, message) = iso8583::decode_framed(&spec, &frame)?;
    if args.json {
        let available: Vec<_> =
            AVAILABLE.iter().map(|(command, what)| json!({"command": command, "does": what})).collect();
        let sample = iso8583::json::to_json(&message, Some(&envelope), iso8583::json::JsonOptions::default());
        println!(
            "{}",
            json!({"status": "the network parties are not built yet", "available": available, "sample_purchase": sample})
        );
        return Ok(());
    }
    println!("cardnet demo: the codec, security module, ledger and transport are built; the terminal,");
    println!("acquirer, switch and issuer that the demo will run are not yet.");
    println!("What is available now:\n");
    for (command, what) in AVAILABLE {
        println!("  {command}\n      {what}");
    }
    println!("\nA UnionPay POS purchase request (published sample V1), decoded and masked:\n");
    let options = iso8583::dump::DumpOptions { unmask: false, envelope: Some(envelope) };
    print!("{}", iso8583::dump::dump(&message, &options));
    Ok(())
}
